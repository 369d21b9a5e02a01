"""Where each rule comes from: the documents in ../shared/seeds/ (see POLICY.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Source:
    document: str
    section: str
    title: str

    def as_dict(self) -> dict[str, Any]:
        return {"document": self.document, "section": self.section, "title": self.title}


PLAN_2017 = "001_842ae4b5a7494442.txt"  # 吉林省"十三五"脱贫攻坚规划
NOTICE_2016 = "002_a4831021df9f426c.txt"  # 吉民发〔2016〕18号
NOTICE_2020 = "003_72d0dea92e7acbbd.txt"  # 吉民发〔2020〕7号
NOTICE_2015 = "004_6b6608b3bf40c4e6.txt"  # 吉办发〔2015〕46号

DIFFERENCE_BENEFIT = Source(PLAN_2017, "第八章第一节", "按家庭人均收入低于当地低保标准的差额给予低保补助")
TWO_LINES_IN_ONE = Source(PLAN_2017, "第八章第一节、专栏6", "农村低保标准与扶贫标准“两线合一”")
FLOOR_2016 = Source(NOTICE_2016, "二(一)", "农村低保标准不低于上年度农民人均可支配收入的30%")
FLOOR_2020 = Source(NOTICE_2020, "二(一)", "2020年底农村低保标准不低于年人均4000元")
SPECIAL_POVERTY_STANDARD = Source(NOTICE_2020, "二(一)", "特困人员基本生活标准不低于上年度农村低保标准的1.3倍")
CARE_STANDARD = Source(NOTICE_2020, "二(一)", "全护、半护、全自理照料护理标准不低于上年度最低工资标准的30%、20%、10%")
SPECIAL_POVERTY_WHO = Source(
    "国务院《关于进一步健全特困人员救助供养制度的意见》(国发〔2016〕14号)",
    "二",
    "无劳动能力、无生活来源、无法定赡养抚养扶养义务人或其无履行能力 (national rule)",
)
ONE_LIVELIHOOD_BENEFIT = Source(
    "国务院《关于进一步健全特困人员救助供养制度的意见》(国发〔2016〕14号)及各地低保审核确认办法",
    "national practice, not in the seeds",
    "特困供养人员不再同时享受低保：其本人不计入低保家庭人数和收入 (national practice)",
)
SPECIAL_POVERTY_CENSUS = Source(NOTICE_2016, "二(四)", "特困人员年度普查")
INCOME_EXCLUSIONS = Source(NOTICE_2020, "二(四)3", "基础养老金和丧失劳动能力低保对象的扶贫项目保底收益暂不计入家庭收入")
SINGLE_PERSON = Source(
    NOTICE_2020, "二(四)1", "重度残疾人、重病患者等丧失或部分丧失劳动能力的贫困人口按户或单人纳入低保"
)
GRADUAL_EXIT = Source(
    NOTICE_2020,
    "二(四)2",
    "脱贫渐退：人均收入高于低保标准、低于2倍的，继续享受18个月（残疾人家庭24个月），逐年按比例递减",
)
GRADUAL_EXIT_2017 = Source(PLAN_2017, "第八章第一节", "低于低保标准200%的家庭继续享受18/24个月低保（补助金逐季递减）")
EXPENSE_DEDUCTION = Source(NOTICE_2020, "二(四)4", "支出核减：扣减自负医疗费用后人均低于标准的未脱贫家庭纳入低保一年")
DISABILITY_SUBSIDIES = Source(NOTICE_2016, "二(十二)", "困难残疾人生活补贴、重度残疾人护理补贴每人每月80元")
MONITORING = Source(NOTICE_2020, "二(二)(三)", "“三个一万人”监测预警：收入骤减、支出骤增、老年人、重病、重度残疾")
MONTHLY_COMPARISON = Source(NOTICE_2020, "二(七)", "救助对象与贫困对象比对，至少每月一次")
TEMPORARY_AID = Source(NOTICE_2020, "二(七)", "先行纳入：按当地城市低保标准先行给予1个月临时救助")
EXIT_POLICY_CONTINUES = Source(PLAN_2017, "第十二章", "贫困人口退出后实行“摘帽不摘政策”，在一定期限内继续享受相关政策")
DEMO_VALUE = "演示数值（非官方）/ demonstration value, not an official figure"
