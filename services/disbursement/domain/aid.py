"""Temporary aid (临时救助), as pure rules: the workflow's steps, who approves at which level, the
same-day deadline and the fast-track amount. No I/O, no clock: the caller hands in today's date and the
urban dibao standard as known on the approval day.

Sources (POLICY §3): 002 二(三) (two kinds; the temporary-aid standard linked to the urban dibao
standard), 003 二(五) (township approval for both kinds, the township's reserve fund, epidemic hardship
approved and paid the same day), 003 二(七) (fast track 特事特办: on the applicant's commitment, village
review → township approval → county filing the same day, one month of temporary aid at the local urban
dibao standard per member paid first), 001 ch.8 §3 (one-case-one-discussion 一事一议: village report,
township recognition, county approval).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

LOCAL = ZoneInfo("Asia/Shanghai")


class AidKind(StrEnum):
    EMERGENCY = "emergency"  # 急难型
    EXPENSE = "expense"  # 支出型


class AidCause(StrEnum):
    EPIDEMIC = "epidemic"
    ILLNESS = "illness"
    ACCIDENT = "accident"
    DISASTER = "disaster"
    OTHER = "other"


class AidStatus(StrEnum):
    SUBMITTED = "submitted"
    REVIEWED = "reviewed"
    APPROVED = "approved"
    PAID = "paid"
    FILED = "filed"
    REJECTED = "rejected"


class Level(StrEnum):
    VILLAGE = "village"
    TOWNSHIP = "township"
    COUNTY = "county"


@dataclass(frozen=True)
class Source:
    """Where a rule comes from: a document of ../shared/seeds/, its section, what it says."""

    document: str
    section: str
    title: str


PLAN_2017 = "001_842ae4b5a7494442.txt"  # 吉林省"十三五"脱贫攻坚规划
NOTICE_2016 = "002_a4831021df9f426c.txt"  # 吉民发〔2016〕18号
NOTICE_2020 = "003_72d0dea92e7acbbd.txt"  # 吉民发〔2020〕7号
TOWNSHIP_APPROVAL = Source(NOTICE_2020, "二(五)", "临时救助审批权限下放至乡镇（街道），乡镇设立临时救助备用金")
EPIDEMIC_SAME_DAY = Source(NOTICE_2020, "二(五)", "因疫情导致生活困难的，当日审批、当日发放")
FAST_TRACK = Source(NOTICE_2020, "二(七)", "特事特办、先行纳入：按当地城市低保标准先行给予1个月临时救助")
ONE_CASE_ONE_DISCUSSION = Source(PLAN_2017, "第八章第三节", "一事一议：村委会上报、乡镇认定、县级核准")
LINKAGE = Source(NOTICE_2016, "二(三)", "临时救助标准与城市低保标准联动调整")
DEMO_VALUE = "演示数值（非官方）/ demonstration value, not an official figure"


@dataclass(frozen=True)
class AidParameters:
    """Date-versioned: the first whose `effective_from` is on or before the day applies."""

    effective_from: date
    # What a township may approve alone, in months of the local urban dibao standard per household member;
    # above it the county approves. A demonstration value: the seeds name the linkage, not the number.
    township_cap_months: int
    same_day_lead_hours: int  # how long before the deadline an unpaid approval is "at risk"
    source: Source
    note: str = DEMO_VALUE


PARAMETERS = (AidParameters(date(2020, 1, 1), 3, 2, LINKAGE),)


def parameters_on(day: date, table: tuple[AidParameters, ...] = PARAMETERS) -> AidParameters:
    found = [p for p in table if p.effective_from <= day]
    if not found:
        raise LookupError(f"no temporary-aid parameters in force on {day}")
    return max(found, key=lambda p: p.effective_from)


def monthly_standard_fen(annual_fen: int) -> int:
    """Annual ÷ 12, rounded half up to the fen."""
    return int((Decimal(annual_fen) / 12).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def fast_track_amount_fen(annual_urban_standard_fen: int, members: int) -> int:
    """One month of temporary aid at the local urban dibao standard for each member (003 二(七))."""
    return monthly_standard_fen(annual_urban_standard_fen) * members


def township_cap_fen(annual_urban_standard_fen: int, members: int, parameters: AidParameters) -> int:
    return monthly_standard_fen(annual_urban_standard_fen) * parameters.township_cap_months * max(members, 1)


def approving_level(amount_fen: int, cap_fen: int, one_case_one_discussion: bool) -> Level:
    """Both kinds are township-approved; a case no rule covers, or an amount over the township's cap,
    goes on to the county."""
    return Level.COUNTY if one_case_one_discussion or amount_fen > cap_fen else Level.TOWNSHIP


def same_day(cause: AidCause, fast_track: bool) -> bool:
    """Epidemic hardship and every fast-track case are approved and paid the same local day."""
    return fast_track or cause == AidCause.EPIDEMIC


def deadline_of(approved_at: datetime) -> datetime:
    """23:59:59 local (Asia/Shanghai) of the approval day."""
    day = approved_at.astimezone(LOCAL).date()
    return datetime.combine(day, time(23, 59, 59), tzinfo=LOCAL)


def deadline_state(deadline: datetime, now: datetime, lead: timedelta) -> str | None:
    """'missed' past the deadline, 'at_risk' within the lead before it, else None."""
    if now > deadline:
        return "missed"
    if now >= deadline - lead:
        return "at_risk"
    return None


# Which step each status allows next.
NEXT: dict[AidStatus, frozenset[str]] = {
    AidStatus.SUBMITTED: frozenset({"review", "reject"}),
    AidStatus.REVIEWED: frozenset({"approve", "reject"}),
    AidStatus.APPROVED: frozenset({"reject", "paid"}),  # reject releases the reservation while unpaid
    AidStatus.PAID: frozenset({"file"}),
    AidStatus.FILED: frozenset(),
    AidStatus.REJECTED: frozenset(),
}


def allowed(status: AidStatus, step: str) -> bool:
    return step in NEXT[status]
