"""Events the eligibility service publishes. Decisions on `eligibility.decisions`, monitoring signals
on `eligibility.signals`, both keyed by household id. No personal data: ids, amounts, categories."""

from __future__ import annotations

from datetime import date
from typing import Any

from shared.events import EventPayload, event

DECISIONS_TOPIC = "eligibility.decisions"
SIGNALS_TOPIC = "eligibility.signals"


@event("eligibility.decision.changed", topic=DECISIONS_TOPIC)
class DecisionChanged(EventPayload):
    """A programme decision changed: granted, amount_changed, gradual_exit_started, stepped_down,
    gradual_exit_extended, gradual_exit_ended, revoked. `decision_id` names the stored explanation."""

    decision_id: str
    household_id: str
    region_code: str
    cadre_id: str | None
    programme: str
    member_id: str | None
    change: str
    status: str
    previous_status: str | None
    monthly_amount_fen: int
    previous_monthly_amount_fen: int | None
    valid_from: date | None
    valid_until: date | None
    household_version: int | None
    as_of: date
    # Per household, increases with each evaluation written (all its changes carry the same value): of two
    # events for one programme and member, the higher sequence is the newer decision. None on events
    # published before it existed.
    decision_sequence: int | None = None
    # dibao in force: household | single_person | expense_deduction | gradual_exit; None otherwise (and on
    # events published before it existed).
    basis: str | None = None


@event("eligibility.signal.raised", topic=SIGNALS_TOPIC)
class SignalRaised(EventPayload):
    """A monitoring signal (POLICY §2.5) for the township and the household's cadre."""

    signal_id: str
    household_id: str
    region_code: str
    cadre_id: str | None
    kind: str
    category: str
    # Amounts, thresholds and sources; the parts that name members by a health or age fact (which members
    # are vulnerable) travel in `sealed_evidence` (sealed under PII_KEY), like the registry's sealed facts.
    evidence: dict[str, Any]
    sealed_evidence: str | None = None
