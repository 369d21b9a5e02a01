"""Event handlers of the disbursement service: decisions become entitlements; the registry's household
events keep the household directory (region, active members)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from services.disbursement.adapters.uow import DisbursementUnitOfWork
from services.disbursement.domain.entitlements import DecisionFacts, Entitlement, apply_decision
from shared.app import ServiceRuntime
from shared.contracts.eligibility import DecisionChanged
from shared.contracts.registry import HouseholdEvent
from shared.dispatch import EventHandlers, dispatcher, takes_batches
from shared.events import Envelope
from shared.ids import new_record_id

CONSUMER = "disbursement"


def facts_of(decision: DecisionChanged, envelope: Envelope | None = None) -> DecisionFacts:
    return DecisionFacts(
        decision_id=decision.decision_id,
        household_id=decision.household_id,
        region_code=decision.region_code,
        programme=decision.programme,
        member_id=decision.member_id,
        status=decision.status,
        monthly_amount_fen=decision.monthly_amount_fen,
        valid_from=decision.valid_from,
        valid_until=decision.valid_until,
        as_of=decision.as_of,
        decision_sequence=decision.decision_sequence,
        cause=f"{envelope.traceparent} {envelope.id} {envelope.correlation_id}"
        if envelope and envelope.traceparent
        else None,
    )


@takes_batches
async def decisions_changed(uow: DisbursementUnitOfWork, events: list[tuple[Envelope, DecisionChanged]]) -> None:
    """A batch of decisions, set-based: one locked read of the entitlements they touch, one write."""
    decisions = [facts_of(payload, envelope) for envelope, payload in events]
    current: dict[tuple[str, str, str], Entitlement] = await uow.entitlements.get_many([d.key for d in decisions])
    changed: dict[tuple[str, str, str], list[Entitlement]] = {}
    for decision in decisions:
        after = apply_decision(current.get(decision.key), decision, new_record_id())
        if after is not None:
            current[decision.key] = after
            changed.setdefault(decision.key, []).append(after)
    # Every version is kept; the entitlement row gets the last.
    await uow.entitlements.save_many([version for versions in changed.values() for version in versions])


@takes_batches
async def households_changed(uow: DisbursementUnitOfWork, events: list[tuple[Envelope, HouseholdEvent]]) -> None:
    await uow.households.record(
        [
            {
                "household_id": payload.household_id,
                "region_code": payload.region_code,
                "active_members": sum(1 for m in payload.facts.members if m.active),
                "version": payload.version,
            }
            for _, payload in events
        ]
    )


# The one map of what this service does with the events it consumes.
EVENT_HANDLERS: EventHandlers = {DecisionChanged: decisions_changed, HouseholdEvent: households_changed}


def decisions_consumer(runtime: ServiceRuntime) -> Callable[[Sequence[Envelope]], Awaitable[None]]:
    """The batch handler of the decisions and registry topics: a partition's events in one transaction."""
    return dispatcher(CONSUMER, lambda: DisbursementUnitOfWork(runtime), EVENT_HANDLERS)
