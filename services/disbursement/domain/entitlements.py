"""Entitlements: what a household (or one member) is to be paid each month, built from eligibility's
decision events. Pure: no I/O, no clock.

A decision event may arrive twice (redelivery), be replayed, or arrive after a newer one (a re-driven
dead letter). The decision's id recognises a duplicate; the household's decision sequence, which
eligibility increases with every evaluation it writes, tells which of two decisions is newer. Events
from before the sequence existed are ordered by their decision id (UUIDv7, time-ordered).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from enum import StrEnum

# Programmes paid monthly from decisions (POLICY §3).
PAID_PROGRAMMES = frozenset({"dibao", "special_poverty", "disability_living_subsidy", "severe_disability_care_subsidy"})
RECEIVING = frozenset({"eligible", "gradual_exit"})


class EntitlementStatus(StrEnum):
    ACTIVE = "active"
    ENDED = "ended"


@dataclass(frozen=True)
class DecisionFacts:
    """What an entitlement needs from one `eligibility.decision.changed` event."""

    decision_id: str
    household_id: str
    region_code: str
    programme: str
    member_id: str | None
    status: str
    monthly_amount_fen: int
    valid_from: date | None
    valid_until: date | None
    as_of: date
    decision_sequence: int | None
    # The decision event's "<traceparent> <event id> <correlation id>": the payments this decision sets
    # continue its trace, caused by it, so an operator follows a change through to the money.
    cause: str | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.household_id, self.programme, self.member_id or "")


@dataclass(frozen=True)
class Entitlement:
    id: str
    household_id: str
    region_code: str
    programme: str
    member_id: str | None
    status: EntitlementStatus
    monthly_amount_fen: int
    valid_from: date | None
    valid_until: date | None
    gradual_exit: bool
    decision_id: str
    decision_sequence: int | None
    version: int
    cause: str | None = None  # of the decision that set it (DecisionFacts.cause)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.household_id, self.programme, self.member_id or "")

    def payable_in(self, month_start: date, month_end: date) -> bool:
        """Whether it is due for a month (first and last day given): active, begun by the month's end and
        not ended before the month began."""
        return (
            self.status == EntitlementStatus.ACTIVE
            and (self.valid_from is None or self.valid_from <= month_end)
            and (self.valid_until is None or self.valid_until >= month_start)
        )


def is_newer(current: Entitlement, decision: DecisionFacts) -> bool:
    if decision.decision_id == current.decision_id:
        return False  # the same decision again
    if decision.decision_sequence is not None and current.decision_sequence is not None:
        return decision.decision_sequence > current.decision_sequence
    return decision.decision_id > current.decision_id


def apply_decision(current: Entitlement | None, decision: DecisionFacts, new_id: str) -> Entitlement | None:
    """The entitlement after `decision`, or None if the decision changes nothing (a duplicate, an older
    decision, a programme not paid)."""
    if decision.programme not in PAID_PROGRAMMES:
        return None
    receiving = decision.status in RECEIVING
    if current is None:
        # Eligibility publishes a refusal only where it ends something granted: arriving first, it is
        # kept as an ended entitlement, so the older grant arriving after it cannot start payments.
        return Entitlement(
            id=new_id,
            household_id=decision.household_id,
            region_code=decision.region_code,
            programme=decision.programme,
            member_id=decision.member_id,
            status=EntitlementStatus.ACTIVE if receiving else EntitlementStatus.ENDED,
            monthly_amount_fen=decision.monthly_amount_fen if receiving else 0,
            valid_from=decision.valid_from,
            valid_until=decision.valid_until,
            gradual_exit=decision.status == "gradual_exit",
            decision_id=decision.decision_id,
            decision_sequence=decision.decision_sequence,
            version=1,
            cause=decision.cause,
        )
    if not is_newer(current, decision):
        return None
    return replace(
        current,
        region_code=decision.region_code,
        status=EntitlementStatus.ACTIVE if receiving else EntitlementStatus.ENDED,
        monthly_amount_fen=decision.monthly_amount_fen if receiving else 0,
        # An ended entitlement ran until the day before the decision that ended it takes effect.
        valid_from=decision.valid_from if receiving else current.valid_from,
        valid_until=decision.valid_until if receiving else (decision.valid_from or decision.as_of) - timedelta(days=1),
        gradual_exit=decision.status == "gradual_exit",
        decision_id=decision.decision_id,
        decision_sequence=decision.decision_sequence,
        version=current.version + 1,
        cause=decision.cause,
    )
