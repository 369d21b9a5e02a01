"""Temporary aid (临时救助): applications through village review, township approval (and county approval
for one-case-one-discussion or amounts over the township's cap), payment from the township's reserve
fund the same day, county filing (备案). Each step records who, when and why, and publishes an event.

Money: approval reserves the amount in the township's reserve fund (a pending ledger transfer, so two
approvals racing for the last money cannot both succeed: the database refuses the second) and schedules
a payment that is sent at once; the provider's confirmation posts the reservation.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from datetime import datetime, timedelta
from typing import Any

from services.disbursement.adapters.standards import StandardsClient, StandardUnavailable
from services.disbursement.adapters.uow import DisbursementUnitOfWork
from services.disbursement.domain import aid as rules
from services.disbursement.domain.ledger import AccountCode, Transfer, TransferKind, account_id
from services.disbursement.domain.payments import Payment, PaymentStatus, reference_id
from services.disbursement.service_layer import directory
from services.disbursement.service_layer.funds import available
from services.disbursement.service_layer.ledger import create_transfer, expire_pending_transfers, open_account
from services.disbursement.service_layer.payments import emit as emit_payment
from services.disbursement.service_layer.payments import provider_settings, send_outside_runs
from shared.app import ServiceRuntime
from shared.auth import Principal, Role, service_token
from shared.contracts import disbursement as events
from shared.errors import Conflict, NotFound, ServiceUnavailable, ValidationProblem
from shared.ids import new_record_id

log = logging.getLogger(__name__)
PROGRAMME = "temporary_aid"
PAYMENT_KIND = "emergency"


class AidStepRefused(Conflict):
    slug, title = "aid-step-refused", "The application is not in a state that allows this step"


def standards_of(runtime: ServiceRuntime) -> StandardsClient:
    client = runtime.caches.get("standards")
    if client is None:
        client = runtime.caches["standards"] = StandardsClient(
            provider_settings(runtime).eligibility_url, service_token(runtime.settings)
        )
    return client


def _event(kind: type[events.AidEvent], application: dict[str, Any], step: str, actor: str):
    return kind(
        application_id=application["id"],
        household_id=application["household_id"],
        region_code=application["region_code"],
        kind=application["kind"],
        cause=application["cause"],
        fast_track=application["fast_track"],
        status=application["status"],
        step=step,
        actor=actor,
        requested_amount_fen=application["requested_amount_fen"],
        approved_amount_fen=application.get("approved_amount_fen"),
        deadline=application.get("deadline"),
        # The reason is free text (operators write names into it): kept in the application's steps, never
        # published.
        reason=None,
    )


async def _record(
    uow: DisbursementUnitOfWork,
    application: dict[str, Any],
    step: str,
    actor: Principal | str,
    reason: str | None,
    event: type[events.AidEvent],
) -> None:
    subject = actor if isinstance(actor, str) else actor.subject
    role = "system" if isinstance(actor, str) else ",".join(sorted(r.value for r in actor.roles))
    await uow.aid.add_step(application["id"], step, subject, role, reason)
    uow.emit(_event(event, application, step, subject), subject=application["household_id"])


async def submit(uow: DisbursementUnitOfWork, fields: dict[str, Any], actor: Principal) -> dict[str, Any]:
    household = await directory.household(uow, fields["household_id"])
    # Unknown and outside the caller's scope answer alike, so household ids cannot be probed.
    if household is None or not actor.may_see_household(fields["household_id"], household["region_code"]):
        raise NotFound(
            f"no household {fields['household_id']}",
            errors=[{"field": "household_id", "rule": "unknown_household", "message": "no such household"}],
        )
    now = uow.now()
    application = {
        "id": new_record_id(),
        **fields,
        "region_code": household["region_code"],
        "status": rules.AidStatus.SUBMITTED.value,
        "created_by": actor.subject,
        "created_at": now,
        "updated_at": now,
    }
    await uow.aid.add(application)
    await _record(uow, application, "submitted", actor, None, events.AidSubmitted)
    return await view(uow, application["id"])


async def _locked(uow: DisbursementUnitOfWork, application_id: str, actor: Principal, step: str) -> dict[str, Any]:
    application = await uow.aid.get(application_id, lock=True)
    if application is None or not actor.covers_region(application["region_code"]):
        raise NotFound(f"no aid application {application_id}")
    if not rules.allowed(rules.AidStatus(application["status"]), step):
        raise AidStepRefused(f"an application that is {application['status']} cannot be given the step {step!r}")
    return application


async def review(uow: DisbursementUnitOfWork, application_id: str, actor: Principal, reason: str) -> dict:
    application = await _locked(uow, application_id, actor, "review")
    await uow.aid.update(application_id, status=rules.AidStatus.REVIEWED.value)
    application["status"] = rules.AidStatus.REVIEWED.value
    await _record(uow, application, "reviewed", actor, reason, events.AidReviewed)
    return await view(uow, application_id)


async def approve(
    runtime: ServiceRuntime, uow: DisbursementUnitOfWork, application_id: str, actor: Principal, reason: str
) -> tuple[dict[str, Any], str | None]:
    """The township approves (or, for a county-level case, recognises it and the county approves). The
    final approval reserves the money and schedules the payment; returns the view and the payment's id
    (sent by the caller once this commits)."""
    application = await _locked(uow, application_id, actor, "approve")
    township_step = application["approval_level"] is None
    # Both levels may call this; which one acts now depends on the case's state (a 409, not a 403).
    if township_step and not actor.roles & {Role.TOWNSHIP_OFFICER, Role.ADMIN}:
        raise AidStepRefused("the township approves temporary aid first (003 二(五))")
    if not township_step and not actor.roles & {Role.COUNTY_OPERATOR, Role.ADMIN}:
        raise AidStepRefused("this case is approved by the county (一事一议 or over the township's cap)")
    if len(application["region_code"]) < 9:
        raise ValidationProblem.field(
            "household_id",
            "township_required",
            f"the household is registered at {application['region_code']}, not in a township: temporary aid is "
            "approved by a township and paid from its reserve fund; record the household's township first",
        )
    today = runtime.today()
    if township_step:
        decision = await _decide_amount(runtime, uow, application, today)
        application.update(decision=decision, approved_amount_fen=decision["amount_fen"])
        if decision["level"] == rules.Level.COUNTY:
            await uow.aid.update(
                application_id,
                approval_level=rules.Level.COUNTY.value,
                township_approved_by=actor.subject,
                decision=decision,
                approved_amount_fen=decision["amount_fen"],
            )
            await _record(uow, application, "township_recognised", actor, reason, events.AidTownshipRecognised)
            return await view(uow, application_id), None
    payment_id = await _reserve_and_schedule(runtime, uow, application, actor, reason)
    return await view(uow, application_id), payment_id


async def _decide_amount(
    runtime: ServiceRuntime, uow: DisbursementUnitOfWork, application: dict[str, Any], today: Any
) -> dict[str, Any]:
    """The amount and the level that approves it, with the standard and the rules they rest on."""
    household = await uow.households.get(application["household_id"])
    members = household["active_members"] if household else 1
    try:
        standard = await standards_of(runtime).annual_urban_dibao(application["region_code"], today)
    except StandardUnavailable as exc:
        raise ServiceUnavailable(f"the urban dibao standard cannot be read now: {exc}") from None
    parameters = rules.parameters_on(today)
    annual = standard["annual_fen"]
    amount = (
        rules.fast_track_amount_fen(annual, members)
        if application["fast_track"]
        else application["requested_amount_fen"]
    )
    if amount <= 0:
        raise ValidationProblem.field("requested_amount_fen", "positive", "an amount to pay is needed")
    cap = rules.township_cap_fen(annual, members, parameters)
    level = rules.approving_level(amount, cap, application["one_case_one_discussion"])
    sources = [rules.TOWNSHIP_APPROVAL, rules.LINKAGE]
    if application["fast_track"]:
        sources.append(rules.FAST_TRACK)
    if application["cause"] == rules.AidCause.EPIDEMIC:
        sources.append(rules.EPIDEMIC_SAME_DAY)
    if level == rules.Level.COUNTY:
        sources.append(rules.ONE_CASE_ONE_DISCUSSION)
    return {
        "amount_fen": amount,
        "members": members,
        "urban_dibao_standard": {k: standard.get(k) for k in ("value", "period", "effective_from", "legal_ref")}
        | {"annual_fen": annual, "monthly_fen": rules.monthly_standard_fen(annual), "as_of": today.isoformat()},
        "township_cap_fen": cap,
        "township_cap_months": parameters.township_cap_months,
        "parameters_note": parameters.note,
        "level": level.value,
        "same_day": rules.same_day(rules.AidCause(application["cause"]), application["fast_track"]),
        "sources": [{"document": s.document, "section": s.section, "title": s.title} for s in sources],
    }


async def _reserve_and_schedule(
    runtime: ServiceRuntime, uow: DisbursementUnitOfWork, application: dict[str, Any], actor: Principal, reason: str
) -> str:
    amount = application["approved_amount_fen"]
    township, county = application["region_code"][:9], application["region_code"][:6]
    reserve = await open_account(uow, AccountCode.TOWNSHIP_RESERVE, township)
    payable = await open_account(uow, AccountCode.BENEFICIARY_PAYABLE, county)
    await open_account(uow, AccountCode.PAID, county)
    before = available(await uow.ledger.account(reserve))
    reservation = await create_transfer(  # refused (409) when the reserve cannot cover it
        uow,
        Transfer(
            id=f"aid:{application['id']}:reserve",
            debit_account_id=reserve,
            credit_account_id=payable,
            amount_fen=amount,
            kind=TransferKind.PENDING,
            reference=f"temporary aid {application['id']}",
        ),
    )
    now = uow.now()
    month = now.astimezone(rules.LOCAL).strftime("%Y-%m")
    payment = Payment(
        id=new_record_id(),
        run_id=None,
        entitlement_id=None,
        household_id=application["household_id"],
        region_code=application["region_code"],
        programme=PROGRAMME,
        member_key=application["id"],  # one payment per application
        month=month,
        kind=PAYMENT_KIND,
        amount_fen=amount,
        status=PaymentStatus.SCHEDULED,
        attempt=1,
        reference_id=reference_id(application["id"], month, 1),
    )
    await uow.payments.add_payments([payment])
    emit_payment(uow, payment)
    deadline = rules.deadline_of(now) if application["decision"]["same_day"] else None
    await uow.aid.update(
        application["id"],
        status=rules.AidStatus.APPROVED.value,
        approved_amount_fen=amount,
        decision=application["decision"],
        approval_level=application["approval_level"] or rules.Level.TOWNSHIP.value,
        deadline=deadline,
        reservation_id=reservation.id,
        payment_id=payment.id,
    )
    application.update(status=rules.AidStatus.APPROVED.value, deadline=deadline)
    await _record(uow, application, "approved", actor, reason, events.AidApproved)
    # Every reservation that leaves the fund below its threshold says so (notifications group repeats):
    # a fund topped up to less than the threshold is low too.
    threshold = provider_settings(runtime).reserve_low_balance_fen
    after = before - amount
    if after < threshold:
        uow.emit(
            events.ReserveFundLow(region_code=township, account_id=reserve, balance_fen=after, threshold_fen=threshold),
            subject=township,
        )
    return payment.id


async def reject(uow: DisbursementUnitOfWork, application_id: str, actor: Principal, reason: str) -> dict:
    """Refuse an application; an approved one whose payment the provider refused is withdrawn and its
    reservation released."""
    application = await _locked(uow, application_id, actor, "reject")
    if application["status"] == rules.AidStatus.APPROVED:
        payment = await uow.payments.get(application["payment_id"], lock=True)
        if payment is None or payment.status != PaymentStatus.REJECTED:
            raise AidStepRefused("an approved application is withdrawn only after the provider refused its payment")
        await create_transfer(
            uow,
            Transfer(
                id=f"aid:{application_id}:reserve:void",
                debit_account_id=account_id(AccountCode.TOWNSHIP_RESERVE, application["region_code"][:9]),
                credit_account_id=account_id(AccountCode.BENEFICIARY_PAYABLE, application["region_code"][:6]),
                amount_fen=0,
                kind=TransferKind.VOID_PENDING,
                pending_id=application["reservation_id"],
            ),
        )
    await uow.aid.update(application_id, status=rules.AidStatus.REJECTED.value)
    application["status"] = rules.AidStatus.REJECTED.value
    await _record(uow, application, "rejected", actor, reason, events.AidRejected)
    return await view(uow, application_id)


async def file(uow: DisbursementUnitOfWork, application_id: str, actor: Principal, reason: str) -> dict:
    application = await _locked(uow, application_id, actor, "file")
    await uow.aid.update(application_id, status=rules.AidStatus.FILED.value)
    application["status"] = rules.AidStatus.FILED.value
    await _record(uow, application, "filed", actor, reason, events.AidFiled)
    return await view(uow, application_id)


async def payments_confirmed(uow: DisbursementUnitOfWork, payment_ids: Sequence[str]) -> None:
    """The provider paid aid payments: their applications are paid and their reservations posted."""
    for application in await uow.aid.by_payment(payment_ids):
        if application["status"] != rules.AidStatus.APPROVED:
            continue
        await create_transfer(
            uow,
            Transfer(
                id=f"aid:{application['id']}:reserve:post",
                debit_account_id=account_id(AccountCode.TOWNSHIP_RESERVE, application["region_code"][:9]),
                credit_account_id=account_id(AccountCode.BENEFICIARY_PAYABLE, application["region_code"][:6]),
                amount_fen=0,
                kind=TransferKind.POST_PENDING,
                pending_id=application["reservation_id"],
            ),
        )
        await uow.aid.update(application["id"], status=rules.AidStatus.PAID.value)
        application["status"] = rules.AidStatus.PAID.value
        await _record(uow, application, "paid", "provider", None, events.AidPaid)


async def check_deadlines(runtime: ServiceRuntime, now: datetime) -> int:
    """Warn once when a same-day case is near its deadline unpaid, and once when it missed it."""
    lead = timedelta(hours=rules.parameters_on(now.astimezone(rules.LOCAL).date()).same_day_lead_hours)
    warned = 0
    async with DisbursementUnitOfWork(runtime) as uow:
        for application in await uow.aid.awaiting_payment_with_deadline(now + lead):
            state = rules.deadline_state(application["deadline"], now, lead)
            if state is None or application["deadline_warned"] == state:
                continue
            if state == "at_risk" and application["deadline_warned"] == "missed":
                continue
            await uow.aid.update(application["id"], deadline_warned=state)
            kind = events.AidDeadlineMissed if state == "missed" else events.AidDeadlineAtRisk
            await _record(uow, application, f"deadline_{state}", "deadline watch", None, kind)
            warned += 1
        await uow.commit()
    return warned


async def view(uow: DisbursementUnitOfWork, application_id: str) -> dict[str, Any]:
    application = await uow.aid.get(application_id)
    if application is None:
        raise NotFound(f"no aid application {application_id}")
    payment = await uow.payments.get(application["payment_id"]) if application["payment_id"] else None
    return {
        **{k: v for k, v in application.items() if k not in ("deadline_warned",)},
        "steps": await uow.aid.steps(application_id),
        "payments": [
            {
                "id": payment.id,
                "status": payment.status.value,
                "amount_fen": payment.amount_fen,
                "reference_id": payment.reference_id,
            }
        ]
        if payment
        else [],
    }


def aid_watch(runtime: ServiceRuntime) -> Callable[[], Coroutine[Any, Any, None]]:
    """The background loop of temporary aid: send what is approved, settle what is in flight, watch the
    same-day deadlines; and expire the ledger's pending transfers past their timeout."""

    async def loop() -> None:
        while True:
            try:
                await send_outside_runs(runtime)
                await check_deadlines(runtime, runtime.clock())
                async with DisbursementUnitOfWork(runtime) as uow:
                    if await expire_pending_transfers(uow):
                        await uow.commit()
            except Exception:
                log.exception("temporary-aid watch failed; trying again")
            await asyncio.sleep(provider_settings(runtime).payment_poll_seconds)

    return loop
