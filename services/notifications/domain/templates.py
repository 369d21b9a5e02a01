"""The words of each notification, in Chinese (zh-CN), with the notice's fields substituted. Fields are
ids, codes and amounts (no personal data travels in events); codes are shown by their Chinese names."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PROGRAMMES = {
    "dibao": "最低生活保障（低保）",
    "special_poverty": "特困人员救助供养",
    "disability_living_subsidy": "困难残疾人生活补贴",
    "severe_disability_care_subsidy": "重度残疾人护理补贴",
    "temporary_aid": "临时救助",
    "disaster_relief": "受灾人员生活救助（救灾资金）",
}
SIGNALS = {
    "income_drop": "收入骤减",
    "expense_spike": "支出骤增",
    "special_hardship_watch": "特殊困难（老弱病残）",
    "registered_poor_not_covered": "建档立卡贫困户未纳入低保",
    "not_eligible_in_difficulty": "不符合条件但生活困难",
    "exit_risk_high": "渐退期满返贫风险高",
}
AID_KINDS = {"emergency": "急难型", "expense": "支出型"}
REPORT_KINDS = {"monthly": "月调度", "quarterly": "季度工作进展报告"}
AID_CAUSES = {"epidemic": "疫情", "illness": "疾病", "accident": "意外事故", "disaster": "灾害", "other": "其他"}

# category → (title, body). Bodies use str.format fields: those of the notice plus derived ones
# (`amount` in yuan, `programme_name`, `signal_name`, `aid_kind`, `aid_cause`).
TEMPLATES: dict[str, tuple[str, str]] = {
    "decision.granted": ("救助申请已批准", "您家已纳入{programme_name}，每月 {amount} 元。"),
    "decision.amount_changed": ("救助金额调整", "您家的{programme_name}金额已调整为每月 {amount} 元。"),
    "decision.gradual_exit_started": (
        "进入渐退期",
        "您家收入已超过低保标准，{programme_name}进入渐退期，本期每月 {amount} 元。",
    ),
    "decision.stepped_down": ("渐退金额调整", "渐退期内{programme_name}调整为每月 {amount} 元。"),
    "decision.gradual_exit_extended": ("渐退期延长", "经返贫风险评估，{programme_name}渐退期延长，每月 {amount} 元。"),
    "decision.gradual_exit_ended": ("渐退期结束", "您家{programme_name}渐退期已结束。"),
    "decision.revoked": ("救助停止", "您家{programme_name}已停止发放。如有疑问请联系村（社区）干部。"),
    "decision.changed": ("救助决定变更", "辖区内有家庭的{programme_name}决定发生变更。"),
    "payment.paid": ("救助金已发放", "{month} {programme_name} {amount} 元已发放到账。"),
    "payment.rejected": ("救助金发放未成功", "{month} {programme_name} {amount} 元发放未成功，工作人员正在处理。"),
    "payment.unknown": ("发放结果待确认", "{month} {programme_name} {amount} 元的发放结果未知，请查询银行。"),
    "payment.stuck": ("发放停滞", "{month} 有一笔发放长时间未完成，请核查。"),
    "payment_run.paused": ("发放批次暂停", "{month} 发放批次已暂停（资金不足或人工暂停），请处理。"),
    "aid.submitted": ("临时救助申请已受理", "{aid_kind}临时救助申请（{aid_cause}）已受理。"),
    "aid.approved": ("临时救助已批准", "{aid_kind}临时救助（{aid_cause}）已批准，金额 {amount} 元。"),
    "aid.paid": ("临时救助已发放", "临时救助 {amount} 元已发放到账。"),
    "aid.rejected": ("临时救助未获批准", "您的{aid_kind}临时救助申请未获批准。"),
    "exit.notice_started": (
        "脱贫退出公示",
        "您家拟脱贫退出，公示期至 {notice_ends_on} 前。如有异议，可在公示期内向村或乡镇提出。",
    ),
    "exit.announced": ("脱贫退出公告", "您家已于 {exit_date} 公告脱贫退出。摘帽不摘政策：已享受的救助政策继续执行。"),
    "exit.stopped": ("脱贫退出中止", "您家的脱贫退出程序已中止，建档立卡状态不变。"),
    "exit.objection_raised": (
        "退出公示收到异议",
        "辖区内一户家庭的脱贫退出公示收到异议，公示暂停，请乡镇核实并作出决定。",
    ),
    "relief.notice_posted_township": (
        "救灾资金村级公示",
        "一份受灾群众救助名单（{households} 户）已在村公示，至 {notice_ends_on} 结束后请乡镇审核。",
    ),
    "relief.notice_posted_county": (
        "救灾资金乡镇公示",
        "一份受灾群众救助名单（{households} 户）已在乡镇公示，至 {notice_ends_on} 结束后请县级审批。",
    ),
    "relief.objection_raised": (
        "救灾资金公示收到异议",
        "一份受灾群众救助名单的公示收到异议，公示暂停，请核实并作出决定。",
    ),
    "report.due_soon": ("报表即将到期", "{report_name} {period} 须于 {due_on} 前报{due_to_name}，请及时生成并报送。"),
    "report.missed": ("报表逾期未报", "{report_name} {period} 应于 {due_on} 前报{due_to_name}，至今未报送。"),
    "relief.paid": ("救灾资金已发放", "一份受灾群众救助名单的 {households} 户已全部发放，共 {amount} 元。"),
    "exit.cadre_announced": ("包保家庭已脱贫退出", "您包保的家庭已于 {exit_date} 公告脱贫退出，请继续落实帮扶政策。"),
    "aid.deadline_at_risk": (
        "当日发放即将超时",
        "一笔{aid_kind}临时救助（{aid_cause}）已批准但尚未发放，须于今日 24 时前发放。",
    ),
    "aid.deadline_missed": ("当日发放已超时", "一笔{aid_kind}临时救助（{aid_cause}）未能当日发放，请立即处理。"),
    "fund.low_balance": ("备用金余额不足", "临时救助备用金可用余额 {balance} 元，低于预警线 {threshold} 元。"),
    "monitoring.signal": ("监测预警", "辖区内一户家庭出现预警：{signal_name}。"),
    "contact.hospitalisation": ("四个联系：住院", "您包保的家庭有成员住院，请及时联系走访。"),
    "contact.disaster_or_hardship": ("四个联系：重大灾害或特殊困难", "您包保的家庭遭遇重大变故，请及时联系走访。"),
    "contact.dispute": ("四个联系：重大纠纷", "您包保的家庭发生重大纠纷，请及时联系。"),
    "contact.holiday": ("四个联系：重大节日", "{holiday}将至，请联系走访您包保的家庭。"),
}
MONITORING_TEMPLATE = ("监测预警", "您包保的家庭出现预警：{signal_name}，请及时核实走访。")
DIGEST_TEMPLATE = ("{title}（{count} 条）", "{window}内共 {count} 条：{body}")
ESCALATION_TEMPLATE = ("预警升级：{title}", "该预警在规定时间内未被确认，已升级至{level_name}。{body}")
# SMS to the cadre when an in-app notice stays unread: the title only, never a name or an amount.
SMS_TEMPLATES = {
    "cadre": "【社会救助】您有一条未读提醒：{title}。请登录查看并处理。",
    "household": "【社会救助】您包保的一户家庭有未读提醒：{title}。请及时联系该户。",
}
LEVEL_NAMES = {"cadre": "包保干部", "township": "乡镇", "county": "县（市、区）"}


def yuan(fen: int) -> str:
    """Integer fen as yuan with two decimals, exactly."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole}.{cents:02d}"


class _Fields(dict[str, Any]):
    def __missing__(self, key: str) -> str:  # a template never fails on a field an old event lacks
        return "—"


def render(category: str, fields: Mapping[str, Any]) -> tuple[str, str]:
    """The title and body of a notice of `category` with `fields`."""
    title, body = TEMPLATES.get(category) or (
        MONITORING_TEMPLATE if category.startswith("monitoring.") else (category, "")
    )
    values = _Fields(fields)
    if "amount_fen" in fields:
        values["amount"] = yuan(int(fields["amount_fen"]))
    for name in ("balance", "threshold"):
        if f"{name}_fen" in fields:
            values[name] = yuan(int(fields[f"{name}_fen"]))
    values["programme_name"] = PROGRAMMES.get(str(fields.get("programme")), str(fields.get("programme", "救助")))
    values["signal_name"] = SIGNALS.get(str(fields.get("kind")), str(fields.get("kind", "")))
    values["aid_kind"] = AID_KINDS.get(str(fields.get("kind")), "")
    values["aid_cause"] = AID_CAUSES.get(str(fields.get("cause")), "")
    values["report_name"] = REPORT_KINDS.get(str(fields.get("report_kind")), "")
    values["due_to_name"] = {"city": "市州民政部门", "province": "省民政厅"}.get(str(fields.get("due_to")), "")
    return title.format_map(values), body.format_map(values)
