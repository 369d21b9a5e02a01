"""Reports the documents require (POLICY §4): the monthly progress dispatch (月调度, 002 三(二) "每月调度1次
各地进展情况") and the quarterly report (003 四(四): counties to their city by the 5th, cities to the
province by the 10th of the quarter's first month). Pure: periods, deadlines, the facts each event
contributes, the figures' roll-up from counties to cities and the province, and the differences between
two versions of one report. No I/O and no clock: the caller hands in today's date.

Figures are "as of" the period's end, as known at a moment (bitemporal): a fact counts when it took effect
by the period's end and was recorded by the report's knowledge time. Re-run with the same knowledge time, a
report gives the same numbers whatever was corrected since; re-run later, a correction shows as a
difference between the two versions, never as a silent change.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from shared.clock import business_day

SOURCES = {
    "monthly": {"document": "002", "section": "三(二)", "title": "每月调度1次各地进展情况"},
    "quarterly": {
        "document": "003",
        "section": "四(四)",
        "title": "每季度初月5日前报所属市州级民政部门，市州级民政部门于每季度初月10日前报省民政厅、省扶贫办",
    },
}
# The monthly dispatch's day: the seeds say "monthly", not which day; a demonstration value (the 5th,
# like the quarterly report's first step).
MONTHLY_DUE_DAY = 5
COUNTY_DUE_DAY, CITY_DUE_DAY = 5, 10
# Remind the responsible operator this many days before a deadline.
REMINDER_DAYS = 3


class ReportKind(StrEnum):
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"


class Level(StrEnum):
    COUNTY = "county"
    CITY = "city"
    PROVINCE = "province"


LEVEL_DIGITS = {Level.PROVINCE: 2, Level.CITY: 4, Level.COUNTY: 6}


def level_of(region_code: str) -> Level:
    for level, digits in LEVEL_DIGITS.items():
        if len(region_code) == digits:
            return level
    raise ValueError(f"a report is for a county, a city or the province, not {region_code!r}")


@dataclass(frozen=True)
class Period:
    kind: ReportKind
    label: str  # "2026-11" or "2026-Q3"
    start: date
    end: date  # the last day, inclusive

    @classmethod
    def parse(cls, kind: ReportKind, label: str) -> Period:
        """'YYYY-MM' for a month, 'YYYY-Qn' for a quarter."""
        try:
            if kind == ReportKind.QUARTERLY:
                year, quarter = label.split("-Q")
                first = date(int(year), 3 * int(quarter) - 2, 1)
                if not 1 <= int(quarter) <= 4:
                    raise ValueError
                return cls(kind, label, first, _month_after(first, 3) - timedelta(days=1))
            year, month = label.split("-")
            first = date(int(year), int(month), 1)
            return cls(kind, f"{first:%Y-%m}", first, _month_after(first, 1) - timedelta(days=1))
        except ValueError:
            wanted = "YYYY-Qn" if kind == ReportKind.QUARTERLY else "YYYY-MM"
            raise ValueError(f"a {kind.value} period is written {wanted}, not {label!r}") from None

    @property
    def months(self) -> list[str]:
        found, month = [], self.start
        while month <= self.end:
            found.append(f"{month:%Y-%m}")
            month = _month_after(month, 1)
        return found

    def due_on(self, level: Level) -> date | None:
        """When the report of a county or a city is due (the province's own view has no deadline)."""
        following = self.end + timedelta(days=1)
        if self.kind == ReportKind.MONTHLY:
            return following.replace(day=MONTHLY_DUE_DAY) if level == Level.COUNTY else None
        if level == Level.COUNTY:
            return following.replace(day=COUNTY_DUE_DAY)
        if level == Level.CITY:
            return following.replace(day=CITY_DUE_DAY)
        return None

    def due_to(self, level: Level) -> str | None:
        if self.kind == ReportKind.MONTHLY:
            return "province" if level == Level.COUNTY else None
        return {Level.COUNTY: "city", Level.CITY: "province"}.get(level)


def _month_after(first: date, months: int) -> date:
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def last_complete(kind: ReportKind, today: date) -> Period:
    """The period whose report is being prepared on `today`: last month, or last quarter."""
    first_of_month = today.replace(day=1)
    if kind == ReportKind.MONTHLY:
        previous = _month_after(first_of_month, -1)
        return Period.parse(kind, f"{previous:%Y-%m}")
    quarter_start = first_of_month.replace(month=3 * ((today.month - 1) // 3) + 1)
    previous = _month_after(quarter_start, -3)
    return Period.parse(kind, f"{previous.year}-Q{(previous.month - 1) // 3 + 1}")


def deadline_state(due: date, today: date, submitted: bool) -> str:
    """submitted | missed | due_soon | open."""
    if submitted:
        return "submitted"
    if today > due:
        return "missed"
    if today >= due - timedelta(days=REMINDER_DAYS):
        return "due_soon"
    return "open"


# --- the facts events contribute ----------------------------------------------------------------------
# Monitoring groups (POLICY §2.5), as eligibility's signals name them, from the register's status.
GROUP_OF_STATUS = {"not_lifted": "remaining_poor", "lifted": "return_risk", "returned": "return_risk"}
GROUPS = ("remaining_poor", "return_risk", "marginal")
# What households receive, by programme; dibao by its basis (eligibility's DecisionChanged.basis).
PROGRAMME_CATEGORIES = (
    "household",
    "single_person",
    "expense_deduction",
    "gradual_exit",
    "special_poverty",
    "disability_living_subsidy",
    "severe_disability_care_subsidy",
)
PAID_PROGRAMMES = (
    "dibao",
    "special_poverty",
    "disability_living_subsidy",
    "severe_disability_care_subsidy",
    "temporary_aid",
    "disaster_relief",
)
AID_KINDS = ("emergency", "expense")
AID_CAUSES = ("epidemic", "illness", "accident", "disaster", "other")


def facts_of(event_type: str, event_id: str, occurred_at: datetime, data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The report facts one event contributes (none for most): what took effect, when, for whom."""
    day = business_day(occurred_at)
    base = {
        "event_id": event_id,
        "occurred_at": occurred_at,
        "effective_on": day,
        "household_id": data.get("household_id"),
        "sequence": 0,
    }
    if event_type.startswith("registry.household.") and "facts" in data:
        facts = data["facts"]
        rows = [
            base
            | {
                "kind": "household",
                "key": data["household_id"],
                "region_code": data["region_code"],
                "sequence": data["version"],
                "category": facts.get("poverty_status"),
                "people": sum(1 for m in facts.get("members", []) if m.get("active", True)),
            }
        ]
        if event_type == "registry.household.exited":
            rows.append(
                base
                | {
                    "event_id": f"{event_id}:exit",
                    "kind": "exit",
                    "key": data["household_id"],
                    "region_code": data["region_code"],
                    "effective_on": date.fromisoformat(str(data["exited_on"])),
                }
            )
        return rows
    if event_type == "eligibility.decision.changed":
        effective = data.get("valid_from") if data.get("status") != "not_eligible" else None
        programme = data["programme"]
        category = (data.get("basis") or None) if programme == "dibao" else programme
        in_force = data.get("status") != "not_eligible"
        return [
            base
            | {
                "kind": "decision",
                "key": f"{data['household_id']}|{programme}|{data.get('member_id') or ''}",
                "region_code": data["region_code"],
                "effective_on": date.fromisoformat(str(effective or data["as_of"])),
                "sequence": data.get("decision_sequence") or 0,
                "category": category if in_force else None,
                "status": data["status"],
                "people": 1 if data.get("member_id") else None,  # None: the household's members
                "amount_fen": data.get("monthly_amount_fen"),
            }
        ]
    if event_type == "eligibility.signal.raised":
        return [
            base
            | {
                "kind": "signal",
                "key": data["signal_id"],
                "region_code": data["region_code"],
                "category": data["category"],
            }
        ]
    if event_type.startswith("disbursement.payment.") and data.get("status") in ("paid", "returned"):
        return [
            base
            | {
                "kind": "payment",
                "key": data["payment_id"],
                "region_code": data["region_code"],
                "category": data["programme"],
                "status": data["status"],
                "amount_fen": data["amount_fen"],
                "month": data["month"],
                "sequence": data.get("attempt") or 1,
            }
        ]
    if event_type in ("disbursement.aid.approved", "disbursement.aid.paid"):
        deadline = data.get("deadline")
        return [
            base
            | {
                "kind": "aid",
                "key": data["application_id"],
                "region_code": data["region_code"],
                "category": data["kind"],
                "status": event_type.rsplit(".", 1)[1],
                "cause": data["cause"],
                "amount_fen": data.get("approved_amount_fen"),
                "deadline": datetime.fromisoformat(deadline) if isinstance(deadline, str) else deadline,
            }
        ]
    return []


# --- figures ---------------------------------------------------------------------------------------------
def empty_figures() -> dict[str, int]:
    figures = {}
    for category in PROGRAMME_CATEGORIES:
        figures[f"households.{category}"] = 0
        figures[f"people.{category}"] = 0
    for programme in PAID_PROGRAMMES:
        figures[f"paid_fen.{programme}"] = 0
    for kind in AID_KINDS:
        for cause in AID_CAUSES:
            figures[f"aid_cases.{kind}.{cause}"] = 0
    figures["aid_same_day.cases"] = 0
    figures["aid_same_day.on_time"] = 0
    for group in GROUPS:
        figures[f"monitoring_households.{group}"] = 0
        figures[f"signals_raised.{group}"] = 0
        figures[f"signals_handled.{group}"] = 0
    figures["exits.households"] = 0
    figures["relief.households"] = 0
    figures["relief.paid_fen"] = 0
    return figures


def roll_up(by_county: Mapping[str, Mapping[str, int]], region_code: str) -> dict[str, dict[str, int]]:
    """Figures of every county under `region_code`, of every city above them, and of the region itself
    (each a plain sum: every figure is a count or an amount)."""
    rows: dict[str, dict[str, int]] = defaultdict(empty_figures)
    for county, figures in by_county.items():
        if not county.startswith(region_code):
            continue
        for code in {county, county[:4], county[:2]}:
            if len(code) < len(region_code) and code != region_code:
                continue
            target = rows[code]
            for name, value in figures.items():
                target[name] = target.get(name, 0) + value
    rows.setdefault(region_code, empty_figures())
    return dict(sorted(rows.items()))


def same_day_rate(figures: Mapping[str, int]) -> str | None:
    """Paid by the deadline over same-day cases, as a percentage with two decimals (None with no case)."""
    cases = figures.get("aid_same_day.cases", 0)
    if not cases:
        return None
    basis_points = (figures.get("aid_same_day.on_time", 0) * 10000 + cases // 2) // cases
    return f"{basis_points // 100}.{basis_points % 100:02d}"


def differences(
    before: Mapping[str, Mapping[str, int]], after: Mapping[str, Mapping[str, int]]
) -> list[dict[str, Any]]:
    """What changed between two versions of one report, region by region, figure by figure."""
    found = []
    for region in sorted(set(before) | set(after)):
        old, new = before.get(region, {}), after.get(region, {})
        for name in sorted(set(old) | set(new)):
            if old.get(name, 0) != new.get(name, 0):
                found.append(
                    {"region_code": region, "figure": name, "before": old.get(name, 0), "after": new.get(name, 0)}
                )
    return found


# --- how figures are shown: Chinese headings for people, keys for machines ----------------------------
CATEGORY_ZH = {
    "household": "低保（整户）",
    "single_person": "低保（单人户）",
    "expense_deduction": "低保（支出核减）",
    "gradual_exit": "低保渐退",
    "special_poverty": "特困供养",
    "disability_living_subsidy": "困难残疾人生活补贴",
    "severe_disability_care_subsidy": "重度残疾人护理补贴",
}
PROGRAMME_ZH = {
    "dibao": "低保",
    "special_poverty": "特困供养",
    "disability_living_subsidy": "困难残疾人生活补贴",
    "severe_disability_care_subsidy": "重度残疾人护理补贴",
    "temporary_aid": "临时救助",
    "disaster_relief": "救灾资金",
}
AID_KIND_ZH = {"emergency": "急难型", "expense": "支出型"}
AID_CAUSE_ZH = {"epidemic": "疫情", "illness": "疾病", "accident": "意外事故", "disaster": "灾害", "other": "其他"}
GROUP_ZH = {"remaining_poor": "未脱贫户", "return_risk": "脱贫不稳定及返贫户", "marginal": "边缘易致贫户"}


def heading(name: str) -> str:
    """The Chinese column heading of a figure."""
    section, _, rest = name.partition(".")
    if section in ("households", "people"):
        return f"{CATEGORY_ZH[rest]}{'户数' if section == 'households' else '人数'}"
    if section == "paid_fen":
        return f"{PROGRAMME_ZH[rest]}发放金额（元）"
    if section == "aid_cases":
        kind, cause = rest.split(".")
        return f"临时救助{AID_KIND_ZH[kind]}（{AID_CAUSE_ZH[cause]}）件数"
    return {
        "aid_same_day.cases": "当日审批发放件数",
        "aid_same_day.on_time": "当日发放到位件数",
        "exits.households": "脱贫退出户数",
        "relief.households": "救灾资金发放户数",
        "relief.paid_fen": "救灾资金发放金额（元）",
    }.get(name) or {
        "monitoring_households": f"{GROUP_ZH.get(rest, rest)}户数",
        "signals_raised": f"{GROUP_ZH.get(rest, rest)}预警数",
        "signals_handled": f"{GROUP_ZH.get(rest, rest)}预警处置数",
    }[section]


def columns() -> list[str]:
    return list(empty_figures())


def is_amount(name: str) -> bool:
    return name.startswith("paid_fen.") or name == "relief.paid_fen"


def table(rows: Mapping[str, Mapping[str, int]]) -> Iterable[list[Any]]:
    """The report as rows for a spreadsheet: a heading row, then one row per region (amounts in yuan as
    exact decimal strings)."""
    names = columns()
    yield ["地区代码", "层级", *(heading(n) for n in names), "当日发放率（%）"]
    for region, figures in rows.items():
        level = {2: "省", 4: "市州", 6: "县（市、区）"}.get(len(region), "")
        values = [_yuan(figures.get(n, 0)) if is_amount(n) else figures.get(n, 0) for n in names]
        yield [region, level, *values, same_day_rate(figures) or ""]


def _yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"
