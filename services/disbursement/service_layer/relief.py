"""Disaster-relief cases, applied: load the case (locked), check the caller's level and scope, apply one
step of the domain's workflow, save it and publish the step. The county's approval moves the money in the
same transaction: each listed household's amount is reserved in the county's relief fund (a pending
ledger transfer, refused as a whole when the fund cannot cover the list) and a payment is made for it,
one per household and case (the database's unique rule); the provider's confirmation posts the reservation.
They never commit: the caller's unit of work does (see shared.commands)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from services.disbursement.adapters.uow import DisbursementUnitOfWork
from services.disbursement.domain.ledger import AccountCode, Transfer, TransferKind, account_id
from services.disbursement.domain.payments import Payment, PaymentStatus, reference_id
from services.disbursement.domain.relief import (
    Amendment,
    Disaster,
    Level,
    ReliefCase,
    ReliefLine,
    ReliefStatus,
)
from services.disbursement.service_layer import directory
from services.disbursement.service_layer.ledger import create_transfers, open_account
from services.disbursement.service_layer.payments import emit as emit_payment
from shared.auth import Principal, Role
from shared.contracts import disbursement as events
from shared.errors import Conflict, NotFound, ValidationProblem
from shared.ids import new_record_id
from shared.public_notice import NoticeProblem, Ruling, Step

T = TypeVar("T")
PROGRAMME = "disaster_relief"
PAYMENT_KIND = "relief"
# Who acts for each level (an administrator may stand in for any). Each level is its own people: a
# township officer does not record the village's review, or the joint review would be two levels, not three.
LEVEL_ROLES = {
    Level.VILLAGE: frozenset({Role.VILLAGE_CADRE, Role.ADMIN}),
    Level.TOWNSHIP: frozenset({Role.TOWNSHIP_OFFICER, Role.ADMIN}),
    Level.COUNTY: frozenset({Role.COUNTY_OPERATOR, Role.ADMIN}),
}


class ReliefStepRefused(Conflict):
    slug, title = "relief-step-refused", "The relief case is not in a state that allows this step"


def _step(uow: DisbursementUnitOfWork, name: str, actor: Principal, reason: str | None) -> Step:
    return Step(step=name, on=uow.today(), at=uow.now(), by=actor.subject, reason=reason)


def _publish(
    uow: DisbursementUnitOfWork,
    case: ReliefCase,
    event: type[events.ReliefCaseEvent],
    step: Step,
    level: Level | None = None,
    **extra: Any,
):
    notice = case.notice
    return uow.emit(
        event(
            case_id=case.id,
            region_code=case.region_code,
            disaster_kind=case.disaster.kind.value,
            status=case.status.value,
            step=step.step,
            level=level.value if level else None,
            actor=step.by,
            occurred_at=step.at,
            households=len(case.listed),
            total_fen=case.total_fen,
            notice_place=notice.place if notice else None,
            notice_ends_on=notice.ends_on() if notice and case.open else None,
            **extra,
        ),
        subject=case.id,
    )


def _acting_as(actor: Principal, level: Level | None, what: str, status: str) -> Level:
    """The level whose turn it is must be the caller's: a village cadre cannot approve for the county.
    The step depends on the case's state, so a wrong level is a 409, not a 403."""
    if level is None:
        message = f"a case that is {status} cannot be given the step {what!r}"
        raise ReliefStepRefused(message, errors=[{"field": "status", "rule": "step_order", "message": message}])
    if not actor.roles & LEVEL_ROLES[level]:
        raise ReliefStepRefused(
            f"the {level.value} is to {what} now (三级联审)",
            errors=[{"field": "status", "rule": "acting_level", "message": f"the {level.value} acts at this step"}],
        )
    return level


async def load_case(uow: DisbursementUnitOfWork, case_id: str, actor: Principal, *, lock: bool = False) -> ReliefCase:
    case = await uow.relief.get(case_id, lock=lock)
    # Outside the caller's scope a case is reported as absent, so ids cannot be probed.
    if case is None or not actor.covers_region(case.region_code):
        raise NotFound(f"relief case {case_id} not found")
    return case


async def propose(
    uow: DisbursementUnitOfWork,
    actor: Principal,
    region_code: str,
    disaster: Disaster,
    lines: Sequence[dict[str, Any]],
    reason: str | None,
) -> ReliefCase:
    if not actor.covers_region(region_code):
        raise NotFound(
            f"no village {region_code} in your scope",
            errors=[{"field": "region_code", "rule": "in_scope", "message": "a village within your region"}],
        )
    known = await directory.households(uow, [line["household_id"] for line in lines])
    listed = []
    for index, line in enumerate(lines):
        household = known.get(line["household_id"])
        # Unknown and outside the village answer alike, so household ids cannot be probed.
        if household is None or not household["region_code"].startswith(region_code):
            raise ValidationProblem.field(
                f"lines[{index}].household_id",
                "household_in_village",
                f"no household {line['household_id']} registered in village {region_code}",
            )
        listed.append(ReliefLine(**line, region_code=household["region_code"]))
    step = _step(uow, "proposed", actor, reason)
    try:
        case = ReliefCase.propose(region_code, disaster, listed, step)
    except NoticeProblem as exc:
        raise exc.as_problem() from None
    await uow.relief.add(case)
    _publish(uow, case, events.ReliefProposed, step, Level.VILLAGE)
    return case


async def _apply(
    uow: DisbursementUnitOfWork,
    case_id: str,
    actor: Principal,
    name: str,
    reason: str | None,
    level_of: Callable[[ReliefCase], Level | None],
    change: Callable[[ReliefCase, Step], T],
) -> tuple[ReliefCase, Step, Level, T]:
    case = await load_case(uow, case_id, actor, lock=True)
    level = _acting_as(actor, level_of(case), name.replace("_", " "), case.status.value)
    step = _step(uow, name, actor, reason)
    try:
        outcome = change(case, step)
    except NoticeProblem as exc:
        raise exc.as_problem() from None
    await uow.relief.save(case)
    return case, step, level, outcome


async def review(
    uow: DisbursementUnitOfWork,
    case_id: str,
    actor: Principal,
    *,
    meeting_date: Any,
    record_ref: str,
    amendments: list[Amendment],
    reason: str | None,
) -> ReliefCase:
    case, step, level, _ = await _apply(
        uow,
        case_id,
        actor,
        "reviewed",
        reason,
        ReliefCase.reviewing_level,
        lambda case, step: case.review(meeting_date, record_ref, amendments, step),
    )
    _publish(uow, case, events.ReliefReviewed, step, level)
    return case


async def post_notice(
    uow: DisbursementUnitOfWork, case_id: str, actor: Principal, days: int | None, minimum_days: int, reason: str | None
) -> ReliefCase:
    case, step, level, _ = await _apply(
        uow,
        case_id,
        actor,
        "notice_posted",
        reason,
        ReliefCase.notice_level,
        lambda case, step: case.post_notice(days or minimum_days, minimum_days, step),
    )
    _publish(uow, case, events.ReliefNoticePosted, step, level)
    return case


async def raise_objection(
    uow: DisbursementUnitOfWork, case_id: str, actor: Principal, summary: str, household_id: str | None
) -> ReliefCase:
    """Anyone in the case's region may object while a notice runs (staff record what they receive)."""
    case = await load_case(uow, case_id, actor, lock=True)
    step = _step(uow, "objection_raised", actor, None)
    try:
        objection = case.raise_objection(summary, household_id, step)
    except NoticeProblem as exc:
        raise exc.as_problem() from None
    await uow.relief.save(case)
    _publish(
        uow,
        case,
        events.ReliefObjectionRaised,
        step,
        case.ruling_level(),
        objection_id=objection.id,
        objection_household_id=household_id,
    )
    return case


async def rule_on_objection(
    uow: DisbursementUnitOfWork, case_id: str, objection_id: str, ruling: Ruling, actor: Principal, reason: str
) -> ReliefCase:
    case, step, level, objection = await _apply(
        uow,
        case_id,
        actor,
        "objection_ruled",
        reason,
        ReliefCase.ruling_level,
        lambda case, step: case.rule_on_objection(objection_id, ruling, step),
    )
    _publish(
        uow,
        case,
        events.ReliefObjectionRuled,
        step,
        level,
        objection_id=objection_id,
        objection_household_id=objection.subject,
        ruling=ruling.value,
    )
    if case.status == ReliefStatus.STOPPED:
        _publish(uow, case, events.ReliefStopped, step, level)
    return case


async def approve(
    uow: DisbursementUnitOfWork, case_id: str, actor: Principal, reason: str | None
) -> tuple[ReliefCase, list[str]]:
    """The county approves after the second notice: every listed amount is reserved in the county's relief
    fund and a payment scheduled, in this transaction. Returns the case and the payments to send once it
    commits."""
    case, step, level, lines = await _apply(
        uow,
        case_id,
        actor,
        "approved",
        reason,
        lambda case: Level.COUNTY if case.status == ReliefStatus.TOWNSHIP_NOTICE else None,
        lambda case, step: case.approve(step),
    )
    approval = _publish(uow, case, events.ReliefApproved, step, level)
    county = case.region_code[:6]
    fund = await open_account(uow, AccountCode.RELIEF_FUND, county)
    payable = await open_account(uow, AccountCode.BENEFICIARY_PAYABLE, county)
    await open_account(uow, AccountCode.PAID, county)
    month = step.on.strftime("%Y-%m")
    reservations, payments = [], []
    for line in lines:
        reservation = Transfer(
            id=f"relief:{line.id}:reserve",  # line ids are unique; the case is in the reference
            debit_account_id=fund,
            credit_account_id=payable,
            amount_fen=line.amount_fen,
            kind=TransferKind.PENDING,
            reference=f"disaster relief {case.id}",
        )
        payment = Payment(
            id=new_record_id(),
            run_id=None,
            entitlement_id=None,
            household_id=line.household_id,
            region_code=line.region_code,
            programme=PROGRAMME,
            member_key=case.id,  # one payment per household and case
            month=month,
            kind=PAYMENT_KIND,
            amount_fen=line.amount_fen,
            status=PaymentStatus.SCHEDULED,
            attempt=1,
            reference_id=reference_id(line.id, month, 1),  # the voucher (四联单) number the bank sees
            cause=f"{approval.traceparent} {approval.id} {approval.correlation_id}",
        )
        line.reservation_id, line.payment_id = reservation.id, payment.id
        reservations.append(reservation)
        payments.append(payment)
    await create_transfers(uow, reservations)  # refused as a whole (409) when the fund cannot cover it
    await uow.payments.add_payments(payments)
    for payment in payments:
        emit_payment(uow, payment)
    await uow.relief.save(case)
    return case, [p.id for p in payments]


async def payments_confirmed(uow: DisbursementUnitOfWork, paid: Sequence[Payment]) -> None:
    """The provider paid relief payments: their reservations are posted, their households marked paid, and
    a case whose every household is paid is paid."""
    for case in await uow.relief.get_many([p.member_key for p in paid], lock=True):
        by_payment = {line.payment_id: line for line in case.lines if line.payment_id}
        posts, finished = [], False
        for payment in paid:
            line = by_payment.get(payment.id)
            if line is None:
                continue
            step = Step(step="paid", on=uow.today(), at=uow.now(), by="provider")
            before = line.status
            finished = case.line_paid(line.id, step) or finished
            if line.status != before:
                posts.append(
                    Transfer(
                        id=f"{line.reservation_id}:post",
                        debit_account_id=account_id(AccountCode.RELIEF_FUND, case.region_code[:6]),
                        credit_account_id=account_id(AccountCode.BENEFICIARY_PAYABLE, case.region_code[:6]),
                        amount_fen=0,
                        kind=TransferKind.POST_PENDING,
                        pending_id=line.reservation_id,
                    )
                )
        if not posts:
            continue
        await create_transfers(uow, posts)
        await uow.relief.save(case)
        if finished:
            _publish(uow, case, events.ReliefPaid, case.steps[-1], Level.COUNTY)


async def withdraw(uow: DisbursementUnitOfWork, case_id: str, actor: Principal, reason: str) -> ReliefCase:
    """Any level may withdraw a case before the county approves it."""
    case, step, level, _ = await _apply(
        uow,
        case_id,
        actor,
        "withdrawn",
        reason,
        lambda case: _own_level(actor) if case.open else None,
        lambda case, step: case.withdraw(step),
    )
    _publish(uow, case, events.ReliefStopped, step, level)
    return case


def _own_level(actor: Principal) -> Level:
    for level in (Level.COUNTY, Level.TOWNSHIP, Level.VILLAGE):
        if actor.roles & LEVEL_ROLES[level]:
            return level
    return Level.VILLAGE  # refused by _acting_as: the caller acts for no level


async def list_cases(
    uow: DisbursementUnitOfWork, region_prefix: str, status: str | None, after_id: str, limit: int
) -> list[ReliefCase]:
    return await uow.relief.list(region_prefix=region_prefix, status=status, after_id=after_id, limit=limit)
