"""Which events become which notifications, for whom (POLICY §4 and the "four contacts" of §1).

Pure: an event's type, its payload and what the directory knows of the household go in; notices come
out. A notice names its recipient (the household, its assigned cadre, the township or the county),
its severity, the template it is worded with and the fields substituted into it. Payloads carry no
personal data, so neither do the fields.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class RecipientKind(StrEnum):
    HOUSEHOLD = "household"
    CADRE = "cadre"  # 包保干部: the token subject of a village cadre is their cadre id
    TOWNSHIP = "township"
    COUNTY = "county"
    CITY = "city"  # a city's (市州) operators: the quarterly reports of its counties reach them


TOWNSHIP_DIGITS, COUNTY_DIGITS = 9, 6
# The same notice to the same recipient about the same household within this window is one notice:
# peers sent duplicate digests when identical events arrived in the same second.
DEDUPE_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class HouseholdEntry:
    """What notifications knows of a household (from the registry's events): where it is, who is its cadre."""

    household_id: str
    region_code: str
    cadre_id: str | None


@dataclass(frozen=True)
class Notice:
    recipient_kind: RecipientKind
    recipient_id: str
    household_id: str | None
    region_code: str
    category: str
    severity: Severity
    fields: Mapping[str, Any] = field(default_factory=dict)
    # An alert must be acknowledged; unacknowledged, it escalates (see domain.alerts).
    alert: bool = False
    # A notice that is one of its kind (a report's deadline for a region) goes straight to the inbox.
    direct: bool = False

    @property
    def grouped(self) -> bool:
        """Operator notices are grouped (a standard raise changes hundreds of thousands of decisions);
        a critical one, like a same-day deadline at risk, goes at once."""
        return (
            self.recipient_kind in (RecipientKind.TOWNSHIP, RecipientKind.COUNTY)
            and self.severity is not Severity.CRITICAL
            and not self.alert
            and not self.direct
        )

    def dedupe_key(self, occurred_at: datetime, window: timedelta = DEDUPE_WINDOW) -> str:
        """Recipient + household + cause (category and content) + time window."""
        content = repr(sorted((k, str(v)) for k, v in self.fields.items()))
        cause = hashlib.sha256(f"{self.category}|{content}".encode()).hexdigest()[:24]
        slot = int(occurred_at.timestamp() // window.total_seconds())
        return f"{self.recipient_kind}:{self.recipient_id}:{self.household_id or '-'}:{cause}:{slot}"


def township_of(region_code: str) -> str:
    return region_code[:TOWNSHIP_DIGITS]


def county_of(region_code: str) -> str:
    return region_code[:COUNTY_DIGITS]


def _household(data: Mapping[str, Any], category: str, severity: Severity = Severity.INFO, **fields: Any) -> Notice:
    return Notice(
        RecipientKind.HOUSEHOLD,
        data["household_id"],
        data["household_id"],
        data["region_code"],
        category,
        severity,
        fields,
    )


def _operator(
    recipient_kind: RecipientKind,
    data: Mapping[str, Any],
    category: str,
    severity: Severity,
    *,
    alert: bool = False,
    **fields: Any,
) -> Notice:
    region = data["region_code"]
    if recipient_kind is RecipientKind.TOWNSHIP and len(region) < TOWNSHIP_DIGITS:
        recipient_kind = RecipientKind.COUNTY  # a household registered at county level: no township to tell
    recipient = township_of(region) if recipient_kind is RecipientKind.TOWNSHIP else county_of(region)
    return Notice(recipient_kind, recipient, data.get("household_id"), region, category, severity, fields, alert)


def _cadre_or_township(
    data: Mapping[str, Any], entry: HouseholdEntry | None, category: str, severity: Severity, **fields: Any
) -> Notice:
    """An alert for the household's cadre; a household without one alerts its township instead."""
    cadre = data.get("cadre_id") or (entry.cadre_id if entry else None)
    if cadre:
        return Notice(
            RecipientKind.CADRE, cadre, data["household_id"], data["region_code"], category, severity, fields, True
        )
    return _operator(RecipientKind.TOWNSHIP, data, category, severity, alert=True, **fields)


Rule = Callable[[Mapping[str, Any], HouseholdEntry | None], list[Notice]]
DECISION_CHANGES = {
    "granted",
    "amount_changed",
    "gradual_exit_started",
    "stepped_down",
    "gradual_exit_extended",
    "gradual_exit_ended",
    "revoked",
}


def signal_raised(data: Mapping[str, Any], entry: HouseholdEntry | None) -> list[Notice]:
    # A monitoring signal goes to the cadre (who must visit) and the township (POLICY §2.5).
    kind = data["kind"]
    return [
        _cadre_or_township(data, entry, f"monitoring.{kind}", Severity.WARNING, kind=kind),
        _operator(RecipientKind.TOWNSHIP, data, "monitoring.signal", Severity.WARNING, kind=kind),
    ]


def decision_changed(data: Mapping[str, Any], entry: HouseholdEntry | None) -> list[Notice]:
    change = data["change"]
    if change not in DECISION_CHANGES:
        return []
    amount = data["monthly_amount_fen"]
    # Losing an allowance is what a household must not miss: unread, it reaches the cadre by SMS.
    severity = Severity.WARNING if change in ("revoked", "gradual_exit_ended") else Severity.INFO
    return [
        _household(data, f"decision.{change}", severity, programme=data["programme"], amount_fen=amount),
        _operator(RecipientKind.TOWNSHIP, data, "decision.changed", Severity.INFO, programme=data["programme"]),
    ]


def payment_paid(data: Mapping[str, Any], entry: HouseholdEntry | None) -> list[Notice]:
    return [
        _household(
            data, "payment.paid", programme=data["programme"], month=data["month"], amount_fen=data["amount_fen"]
        )
    ]


def payment_failed(data: Mapping[str, Any], entry: HouseholdEntry | None) -> list[Notice]:
    status = data["status"]
    fields = {"programme": data["programme"], "month": data["month"], "amount_fen": data["amount_fen"]}
    notices = [_operator(RecipientKind.COUNTY, data, f"payment.{status}", Severity.WARNING, **fields)]
    if status == "rejected":  # the household hears its money is late; "unknown" is ours to settle first
        notices.append(_household(data, "payment.rejected", Severity.WARNING, **fields))
    return notices


def payment_stuck(data: Mapping[str, Any], entry: HouseholdEntry | None) -> list[Notice]:
    return [_operator(RecipientKind.COUNTY, data, "payment.stuck", Severity.WARNING, month=data["month"])]


def _aid_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    return {"kind": data["kind"], "cause": data["cause"], "amount_fen": data.get("approved_amount_fen") or 0}


def aid_step(data: Mapping[str, Any], entry: HouseholdEntry | None) -> list[Notice]:
    step = data["step"]
    notices = [_household(data, f"aid.{step}", **_aid_fields(data))]
    if step == "submitted":  # the village and township act on it
        notices.append(_operator(RecipientKind.TOWNSHIP, data, "aid.submitted", Severity.INFO, **_aid_fields(data)))
    return notices


def aid_deadline_at_risk(data: Mapping[str, Any], entry: HouseholdEntry | None) -> list[Notice]:
    # Same-day money not yet paid: critical, an alert, never grouped or delayed.
    return [
        _operator(
            RecipientKind.TOWNSHIP, data, "aid.deadline_at_risk", Severity.CRITICAL, alert=True, **_aid_fields(data)
        )
    ]


def aid_deadline_missed(data: Mapping[str, Any], entry: HouseholdEntry | None) -> list[Notice]:
    return [
        _operator(RecipientKind.COUNTY, data, "aid.deadline_missed", Severity.CRITICAL, alert=True, **_aid_fields(data))
    ]


# The "four contacts" (四个联系, 004): the cadre contacts the household after these; holidays are a
# scheduled reminder (service_layer).
CONTACT_EVENTS = {
    "hospitalisation": "hospitalisation",
    "serious_illness": "hospitalisation",
    "disaster": "disaster_or_hardship",
    "accident": "disaster_or_hardship",
    "death": "disaster_or_hardship",
    "major_dispute": "dispute",
}


def life_event_reported(data: Mapping[str, Any], entry: HouseholdEntry | None) -> list[Notice]:
    contact = CONTACT_EVENTS.get(data["life_event_type"])
    if contact is None:
        return []
    return [_cadre_or_township(data, entry, f"contact.{contact}", Severity.WARNING, occurred_on=data["occurred_on"])]


def fund_low(data: Mapping[str, Any], entry: HouseholdEntry | None) -> list[Notice]:
    return [
        _operator(
            RecipientKind.TOWNSHIP,
            data,
            "fund.low_balance",
            Severity.WARNING,
            balance_fen=data["balance_fen"],
            threshold_fen=data["threshold_fen"],
        )
    ]


def run_paused(data: Mapping[str, Any], entry: HouseholdEntry | None) -> list[Notice]:
    return [_operator(RecipientKind.COUNTY, data, "payment_run.paused", Severity.WARNING, month=data["month"])]


def exit_notice_started(data: Mapping[str, Any], entry: HouseholdEntry | None) -> list[Notice]:
    # The household learns its exit is on public notice and until when it may object (001 ch.12).
    return [_household(data, "exit.notice_started", notice_ends_on=data.get("notice_ends_on"))]


def exit_objection_raised(data: Mapping[str, Any], entry: HouseholdEntry | None) -> list[Notice]:
    # The notice's clock stands still until the township rules: it is the township's to act on.
    return [_operator(RecipientKind.TOWNSHIP, data, "exit.objection_raised", Severity.WARNING, alert=True)]


def exit_announced(data: Mapping[str, Any], entry: HouseholdEntry | None) -> list[Notice]:
    exit_date = data.get("exit_date")
    return [
        _household(data, "exit.announced", exit_date=exit_date),
        _cadre_or_township(data, entry, "exit.cadre_announced", Severity.INFO, exit_date=exit_date),
    ]


def exit_stopped(data: Mapping[str, Any], entry: HouseholdEntry | None) -> list[Notice]:
    return [_household(data, "exit.stopped")]


def _relief_level(data: Mapping[str, Any], level: str | None) -> RecipientKind:
    return RecipientKind.COUNTY if level == "county" else RecipientKind.TOWNSHIP


def relief_notice_posted(data: Mapping[str, Any], entry: HouseholdEntry | None) -> list[Notice]:
    # The level after the notice acts when it ends: the township reviews the village's list, the county
    # approves the township's (002 二(六) 三级联审、两榜公示).
    next_level = "county" if data.get("notice_place") == "township" else "township"
    fields = {
        "case_id": data["case_id"],
        "notice_ends_on": data.get("notice_ends_on"),
        "households": data["households"],
    }
    return [
        _operator(_relief_level(data, next_level), data, f"relief.notice_posted_{next_level}", Severity.INFO, **fields)
    ]


def relief_objection_raised(data: Mapping[str, Any], entry: HouseholdEntry | None) -> list[Notice]:
    # The notice's clock stands still until the level above the notice rules: it is theirs to act on.
    fields = {"case_id": data["case_id"], "objection_id": data.get("objection_id")}
    return [
        _operator(
            _relief_level(data, data.get("level")),
            data,
            "relief.objection_raised",
            Severity.WARNING,
            alert=True,
            **fields,
        )
    ]


def relief_paid(data: Mapping[str, Any], entry: HouseholdEntry | None) -> list[Notice]:
    fields = {"case_id": data["case_id"], "households": data["households"], "amount_fen": data["total_fen"]}
    return [_operator(RecipientKind.COUNTY, data, "relief.paid", Severity.INFO, **fields)]


# The one map: event type (without prefix and version) → rule.
RULES: dict[str, Rule] = {
    "eligibility.signal.raised": signal_raised,
    "eligibility.decision.changed": decision_changed,
    "disbursement.payment.paid": payment_paid,
    "disbursement.payment.rejected": payment_failed,
    "disbursement.payment.unknown": payment_failed,
    "disbursement.payment.stuck": payment_stuck,
    "disbursement.payment_run.paused": run_paused,
    "disbursement.aid.submitted": aid_step,
    "disbursement.aid.approved": aid_step,
    "disbursement.aid.paid": aid_step,
    "disbursement.aid.rejected": aid_step,
    "disbursement.aid.deadline_at_risk": aid_deadline_at_risk,
    "disbursement.aid.deadline_missed": aid_deadline_missed,
    "disbursement.fund.low_balance": fund_low,
    "registry.household.life_event_reported": life_event_reported,
    "registry.exit.notice_started": exit_notice_started,
    "registry.exit.objection_raised": exit_objection_raised,
    "registry.exit.announced": exit_announced,
    "registry.exit.stopped": exit_stopped,
    "disbursement.relief.notice_posted": relief_notice_posted,
    "disbursement.relief.objection_raised": relief_objection_raised,
    "disbursement.relief.paid": relief_paid,
}


def notices_for(event_type: str, data: Mapping[str, Any], entry: HouseholdEntry | None) -> list[Notice]:
    rule = RULES.get(event_type)
    return rule(data, entry) if rule else []
