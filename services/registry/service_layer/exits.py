"""Exit cases, applied: load the case (locked), check the caller's scope, apply one step of the domain's
workflow, save it and publish the step; the announcement also changes the household (lifted from that
day) through the household's own path, so its version history and facts carry the exit. They never
commit: the caller's unit of work does (see shared.commands)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import TypeVar

from services.registry.adapters.uow import RegistryUnitOfWork
from services.registry.domain.exits import Appraisal, ExitCase
from services.registry.domain.model import Household
from services.registry.service_layer import services
from shared.auth import Principal
from shared.contracts import registry as events
from shared.errors import Conflict, NotFound
from shared.public_notice import NoticeProblem, Ruling, Step

T = TypeVar("T")
# The case's own rule about state (besides the notice's): 409, like a step out of order.
STATE_RULES = frozenset({"one_open_case"})


def _step(uow: RegistryUnitOfWork, name: str, actor: Principal, reason: str | None) -> Step:
    return Step(step=name, on=uow.today(), at=uow.now(), by=actor.subject, reason=reason)


def _publish(uow: RegistryUnitOfWork, case: ExitCase, event: type[events.ExitCaseEvent], step: Step, **extra) -> None:
    notice_end = case.notice.ends_on() if case.notice is not None else None
    uow.emit(
        event(
            exit_case_id=case.id,
            household_id=case.household_id,
            region_code=case.region_code,
            status=case.status.value,
            step=step.step,
            occurred_at=step.at,
            actor=step.by,
            notice_ends_on=notice_end if case.open else None,
            exit_date=case.exit_date,
            **extra,
        ),
        subject=case.household_id,
    )


async def load_case(uow: RegistryUnitOfWork, case_id: str, actor: Principal, *, for_update: bool = False) -> ExitCase:
    case = await uow.exits.get(case_id, for_update=for_update)
    # Outside the caller's scope a case is reported as absent, so ids cannot be probed.
    if case is None or not actor.may_see_household(case.household_id, case.region_code):
        raise NotFound(f"exit case {case_id} not found")
    return case


async def propose(uow: RegistryUnitOfWork, household_id: str, actor: Principal, reason: str | None) -> ExitCase:
    household = await services.load_for(uow, household_id, actor, for_update=True)
    if await uow.exits.open_of(household_id) is not None:
        raise Conflict(
            f"household {household_id} already has an open exit case",
            errors=[{"field": "household_id", "rule": "one_open_case", "message": "finish or withdraw it first"}],
        )
    step = _step(uow, "proposed", actor, reason)
    try:
        case = ExitCase.propose(household.id, household.region_code, household.poverty_status.value, step)
    except NoticeProblem as exc:
        raise exc.as_problem(STATE_RULES) from None
    await uow.exits.add(case)
    _publish(uow, case, events.ExitProposed, step)
    return case


async def _apply(
    uow: RegistryUnitOfWork,
    case_id: str,
    actor: Principal,
    name: str,
    reason: str | None,
    change: Callable[[ExitCase, Step], T],
) -> tuple[ExitCase, Step, T]:
    case = await load_case(uow, case_id, actor, for_update=True)
    step = _step(uow, name, actor, reason)
    try:
        outcome = change(case, step)
    except NoticeProblem as exc:
        raise exc.as_problem(STATE_RULES) from None
    await uow.exits.save(case)
    return case, step, outcome


async def record_appraisal(
    uow: RegistryUnitOfWork,
    case_id: str,
    actor: Principal,
    *,
    meeting_date: date,
    record_ref: str,
    household_consents: bool,
    reason: str | None,
) -> ExitCase:
    appraisal = Appraisal(meeting_date=meeting_date, record_ref=record_ref, household_consents=household_consents)
    case, step, _ = await _apply(
        uow, case_id, actor, "appraised", reason, lambda case, step: case.record_appraisal(appraisal, step)
    )
    _publish(uow, case, events.ExitAppraised, step)
    return case


async def start_notice(
    uow: RegistryUnitOfWork, case_id: str, actor: Principal, days: int | None, minimum_days: int, reason: str | None
) -> ExitCase:
    case, step, _ = await _apply(
        uow,
        case_id,
        actor,
        "notice_started",
        reason,
        lambda case, step: case.start_notice(days or minimum_days, minimum_days, step),
    )
    _publish(uow, case, events.ExitNoticeStarted, step)
    return case


async def raise_objection(uow: RegistryUnitOfWork, case_id: str, actor: Principal, summary: str) -> ExitCase:
    case, step, objection = await _apply(
        uow, case_id, actor, "objection_raised", None, lambda case, step: case.raise_objection(summary, step)
    )
    _publish(uow, case, events.ExitObjectionRaised, step, objection_id=objection.id)
    return case


async def rule_on_objection(
    uow: RegistryUnitOfWork, case_id: str, objection_id: str, ruling: Ruling, actor: Principal, reason: str
) -> ExitCase:
    case, step, _ = await _apply(
        uow,
        case_id,
        actor,
        "objection_ruled",
        reason,
        lambda case, step: case.rule_on_objection(objection_id, ruling, step),
    )
    _publish(uow, case, events.ExitObjectionRuled, step, objection_id=objection_id, ruling=ruling.value)
    if ruling == Ruling.UPHELD:
        _publish(uow, case, events.ExitStopped, step)
    return case


async def approve(uow: RegistryUnitOfWork, case_id: str, actor: Principal, reason: str | None) -> ExitCase:
    case, step, _ = await _apply(uow, case_id, actor, "approved", reason, lambda case, step: case.approve(step))
    _publish(uow, case, events.ExitApproved, step)
    return case


async def announce(uow: RegistryUnitOfWork, case_id: str, actor: Principal, reason: str | None) -> ExitCase:
    """公告退出: the case ends and the household is lifted from today, one transaction."""
    case, step, _ = await _apply(uow, case_id, actor, "announced", reason, lambda case, step: case.announce(step))
    _publish(uow, case, events.ExitAnnounced, step)

    def leave(household: Household, today: date):
        previous = household.leave_register(today)
        return lambda common: events.HouseholdExited(
            **common, exit_case_id=case.id, previous_status=previous.value, exited_on=today
        )

    await services.change_household(uow, case.household_id, None, actor, reason, "exited", leave)
    return case


async def withdraw(uow: RegistryUnitOfWork, case_id: str, actor: Principal, reason: str) -> ExitCase:
    case, step, _ = await _apply(uow, case_id, actor, "withdrawn", reason, lambda case, step: case.withdraw(step))
    _publish(uow, case, events.ExitStopped, step)
    return case


async def list_cases(
    uow: RegistryUnitOfWork, region_prefix: str, status: str | None, household_id: str | None, after_id: str, limit: int
) -> list[ExitCase]:
    return await uow.exits.list(
        region_prefix=region_prefix, status=status, household_id=household_id, after_id=after_id, limit=limit
    )
