"""Monthly payment runs: one per county and month, paying each due entitlement exactly once through the
payment provider (DCI), with the money's way on the ledger.

A run is a background job in steps, each committed: schedule the county's due entitlements in batches
(the run's cursor moves with each), then submit scheduled payments in batches, then wait for the
outcomes (callbacks; status queries for what stays silent or unknown) until every payment has one. A
crash resumes at the last committed step; a payment is never sent twice because:
- a payment is unique per entitlement and month (and per household, programme and member and month),
  enforced by the database;
- "submitting" is committed before the instruction leaves, so after a crash nothing is resent blind:
  such a payment becomes "unknown" and only the provider's answer settles it;
- the provider knows each instruction by a reference derived from entitlement, month and attempt.

Ledger, per payment: `owed` (county fund → beneficiary payable) when scheduled; a pending transfer
(payable → paid: the money in flight) when submitted, posted when paid, voided when rejected; a
`return` (paid → payable) when the money comes back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError

from services.disbursement.adapters.dci import (
    DciClient,
    ProviderRefused,
    ProviderUnreachable,
    Signer,
    Verifier,
    private_key_from_seed,
)
from services.disbursement.adapters.uow import DisbursementUnitOfWork
from services.disbursement.config import ProviderSettings
from services.disbursement.domain.ledger import AccountCode, Transfer, TransferKind, TransferRefused, account_id
from services.disbursement.domain.payments import (
    Outcome,
    Payment,
    PaymentStatus,
    RunStatus,
    after_outcome,
    amount_text,
    fen_of,
    parse_month,
    provider_status,
    reference_id,
)
from services.disbursement.service_layer.ledger import create_transfers, open_account
from shared.app import ServiceRuntime
from shared.contracts import disbursement as events
from shared.errors import Conflict, NotFound
from shared.ids import new_record_id
from shared.jobs import JobRunner
from shared.tracing import TraceContext, current_trace, parse_traceparent, use_trace

log = logging.getLogger(__name__)

EVENT_OF_STATUS: dict[PaymentStatus, type[events.PaymentEvent]] = {
    PaymentStatus.SCHEDULED: events.PaymentScheduled,
    PaymentStatus.SUBMITTED: events.PaymentSubmitted,
    PaymentStatus.PAID: events.PaymentPaid,
    PaymentStatus.REJECTED: events.PaymentRejected,
    PaymentStatus.UNKNOWN: events.PaymentOutcomeUnknown,
    PaymentStatus.RETURNED: events.PaymentReturned,
}
OPEN = (PaymentStatus.SCHEDULED, PaymentStatus.SUBMITTING, PaymentStatus.SUBMITTED, PaymentStatus.UNKNOWN)


class RunInProgress(Conflict):
    slug, title = "run-in-progress", "A payment run for this county and month is not finished"

    def __init__(self, run: dict[str, Any]):
        super().__init__(
            f"payment run {run['id']} for {run['region_code']} {run['month']} is {run['status']}; follow it at "
            f"/v1/payment-runs/{run['id']}",
            errors=[
                {
                    "field": "month",
                    "rule": "one_active_run",
                    "message": "one payment run at a time per county and month",
                }
            ],
            headers={"Location": f"/v1/payment-runs/{run['id']}"},
            existing_run=run["id"],
        )


class RunNotPausable(Conflict):
    slug, title = "run-state", "The payment run is not in a state that allows this"


class PaymentNotRetryable(Conflict):
    slug, title = "payment-not-retryable", "Only a rejected or returned payment can be sent again"


# The provider, built once per process from its settings (tests put their own in the same place).


def provider_settings(runtime: ServiceRuntime) -> ProviderSettings:
    return runtime.cached("provider_settings", ProviderSettings)


def provider_of(runtime: ServiceRuntime) -> DciClient:
    client = runtime.caches.get("provider")
    if client is None:
        settings = provider_settings(runtime)
        client = runtime.caches["provider"] = DciClient(
            base_url=settings.provider_url,
            signer=Signer(
                settings.disbursement_sender_id,
                settings.disbursement_signing_key_id,
                private_key_from_seed(settings.disbursement_signing_key),
            ),
            verifier=Verifier.of(settings.accepted_keys()),
            receiver_id=settings.provider_id,
            callback_url=settings.disbursement_callback_url,
            timeout_seconds=settings.provider_timeout_seconds,
        )
    return client


def decision_trace(cause: str | None) -> TraceContext | None:
    """The trace a payment's events continue: its decision's, caused by the decision event. A run is a
    county's batch; the household's story (change → decision → payment → notice) is one trace."""
    traceparent, event_id, correlation_id = ([*(cause or "").split(" "), "", ""])[:3]
    parent = parse_traceparent(traceparent)
    if parent is None or not event_id:
        return None
    return TraceContext(
        parent.trace_id, parent.span_id, parent.flags, correlation_id=correlation_id or None, causation_id=event_id
    ).child()


def emit(uow: DisbursementUnitOfWork, payment: Payment, event: type[events.PaymentEvent] | None = None) -> None:
    event = event or EVENT_OF_STATUS[payment.status]
    trace = decision_trace(payment.cause)
    if trace is None:
        _emit(uow, payment, event)
        return
    with use_trace(trace):
        _emit(uow, payment, event)


def _emit(uow: DisbursementUnitOfWork, payment: Payment, event: type[events.PaymentEvent]) -> None:
    uow.emit(
        event(
            payment_id=payment.id,
            household_id=payment.household_id,
            region_code=payment.region_code,
            programme=payment.programme,
            month=payment.month,
            kind=payment.kind,
            amount_fen=payment.amount_fen,
            status=payment.status.value,
            attempt=payment.attempt,
            reference_id=payment.reference_id,
            run_id=payment.run_id,
            reason=payment.status_reason,
        ),
        subject=payment.household_id,
    )


# Runs


async def start_run(uow: DisbursementUnitOfWork, region_code: str, month: str, actor: str, traceparent: str) -> dict:
    parse_month(month)  # validated by the API already; the rule lives here too
    active = await uow.payments.active_run(region_code, month)
    if active is not None:
        raise RunInProgress(active)
    for code in (AccountCode.COUNTY_FUND, AccountCode.BENEFICIARY_PAYABLE, AccountCode.PAID):
        await open_account(uow, code, region_code)
    now = uow.now()
    run = {
        "id": new_record_id(),
        "region_code": region_code,
        "month": month,
        "status": RunStatus.SCHEDULING.value,
        "status_reason": None,
        "cursor": "",
        "created_by": actor,
        "traceparent": traceparent,
        "created_at": now,
        "updated_at": now,
    }
    try:
        async with uow.savepoint():
            await uow.payments.add_run(run)
    except IntegrityError:
        # A request for the same county and month started one since our check (the one-active-run index).
        active = await uow.payments.active_run(region_code, month)
        if active is None:
            raise
        raise RunInProgress(active) from None
    return await run_view(uow, run)


async def run_view(uow: DisbursementUnitOfWork, run: dict[str, Any]) -> dict[str, Any]:
    counts, amounts = await uow.payments.run_totals(run["id"])
    return {
        **{k: run[k] for k in ("id", "region_code", "month", "status", "status_reason", "created_by")},
        "created_at": run["created_at"],
        "updated_at": run["updated_at"],
        "payments": sum(counts.values()),
        "amount_fen": sum(amounts.values()),
        "counts": counts,
        "amounts_fen": amounts,
        "paid_fen": amounts.get(PaymentStatus.PAID.value, 0),
    }


async def get_run(uow: DisbursementUnitOfWork, run_id: str) -> dict[str, Any]:
    run = await uow.payments.run(run_id)
    if run is None:
        raise NotFound(f"no payment run {run_id}")
    return run


async def pause_run(uow: DisbursementUnitOfWork, run_id: str, reason: str) -> dict[str, Any]:
    run = await uow.payments.run(run_id, lock=True)
    if run is None:
        raise NotFound(f"no payment run {run_id}")
    if run["status"] in (RunStatus.PAUSED, RunStatus.COMPLETED):
        raise RunNotPausable(f"the run is {run['status']}")
    await _pause(uow, run, reason)
    return await run_view(uow, {**run, "status": RunStatus.PAUSED.value, "status_reason": reason})


async def _pause(uow: DisbursementUnitOfWork, run: dict[str, Any], reason: str) -> None:
    await uow.payments.update_run(run["id"], status=RunStatus.PAUSED.value, status_reason=reason)
    counts, amounts = await uow.payments.run_totals(run["id"])
    uow.emit(
        events.PaymentRunPaused(
            run_id=run["id"],
            region_code=run["region_code"],
            month=run["month"],
            status=RunStatus.PAUSED.value,
            reason=reason,
            counts=counts,
            amounts_fen=amounts,
        ),
        subject=run["region_code"],
    )


async def resume_run(uow: DisbursementUnitOfWork, run_id: str) -> dict[str, Any]:
    run = await uow.payments.run(run_id, lock=True)
    if run is None:
        raise NotFound(f"no payment run {run_id}")
    if run["status"] != RunStatus.PAUSED:
        raise RunNotPausable(f"only a paused run resumes; this one is {run['status']}")
    # Back to where it stopped: scheduling until the cursor has passed every entitlement.
    status = RunStatus.SCHEDULING if run["cursor"] != "\uffff" else RunStatus.SUBMITTING
    await uow.payments.update_run(run_id, status=status.value, status_reason=None)
    return await run_view(uow, {**run, "status": status.value, "status_reason": None})


def run_runner(runtime: ServiceRuntime) -> JobRunner:
    async def unfinished() -> list[tuple[str, str]]:
        async with DisbursementUnitOfWork(runtime) as uow:
            return await uow.payments.unfinished_runs()

    return JobRunner(runtime, "payment-run", lambda run_id: work_on_run(runtime, run_id), unfinished)


async def work_on_run(runtime: ServiceRuntime, run_id: str) -> None:
    """Move a run on until it is completed or paused. Each step commits on its own."""
    settings = provider_settings(runtime)
    while True:
        async with DisbursementUnitOfWork(runtime) as uow:
            run = await uow.payments.run(run_id)
        if run is None or run["status"] in (RunStatus.PAUSED, RunStatus.COMPLETED):
            return
        trace = parse_traceparent(run["traceparent"]) or current_trace()
        with use_trace(TraceContext(trace.trace_id, trace.span_id, trace.flags, causation_id=run_id).child()):
            status = RunStatus(run["status"])
            if status == RunStatus.SCHEDULING:
                await schedule_batch(runtime, run)
            elif status == RunStatus.SUBMITTING:
                await submit_batch(runtime, run)
            elif await settle_run(runtime, run):
                await asyncio.sleep(settings.payment_poll_seconds)


async def schedule_batch(runtime: ServiceRuntime, run: dict[str, Any]) -> None:
    """The next batch of the county's entitlements due this month become scheduled payments, each owed
    from the county fund. A fund that cannot cover them pauses the run (nothing of the batch is kept)."""
    size = provider_settings(runtime).payment_batch_size
    first, last = parse_month(run["month"])
    try:
        async with DisbursementUnitOfWork(runtime) as uow:
            entitlements = await uow.payments.payable_entitlements(run["region_code"], run["cursor"], size)
            due = [e for e in entitlements if e.payable_in(first, last) and e.monthly_amount_fen > 0]
            planned = [
                Payment(
                    id=new_record_id(),
                    run_id=run["id"],
                    entitlement_id=e.id,
                    household_id=e.household_id,
                    region_code=e.region_code,
                    programme=e.programme,
                    member_key=e.member_id or "",
                    month=run["month"],
                    kind="regular",
                    amount_fen=e.monthly_amount_fen,
                    status=PaymentStatus.SCHEDULED,
                    attempt=1,
                    reference_id=reference_id(e.id, run["month"], 1),
                    cause=e.cause,
                )
                for e in due
            ]
            # Already paid this month (by an earlier run, as a follow-up or emergency payment): skipped.
            inserted = set(await uow.payments.add_payments(planned))
            scheduled = [p for p in planned if p.id in inserted]
            county = run["region_code"]
            await create_transfers(
                uow,
                [
                    Transfer(
                        id=p.transfer_id("owed"),
                        debit_account_id=account_id(AccountCode.COUNTY_FUND, county),
                        credit_account_id=account_id(AccountCode.BENEFICIARY_PAYABLE, county),
                        amount_fen=p.amount_fen,
                        reference=p.reference_id,
                    )
                    for p in scheduled
                ],
            )
            for payment in scheduled:
                emit(uow, payment)
            if len(entitlements) < size:  # the cursor has passed every entitlement of the county
                await uow.payments.update_run(run["id"], status=RunStatus.SUBMITTING.value, cursor="\uffff")
            else:
                await uow.payments.update_run(run["id"], cursor=entitlements[-1].id)
            await uow.commit()
    except TransferRefused as refused:
        if refused.code != "exceeds_credits":
            raise
        async with DisbursementUnitOfWork(runtime) as uow:
            await _pause(uow, run, f"county fund {run['region_code']} cannot cover the payments due: top it up")
            await uow.commit()


def _instruction(payment: Payment) -> dict[str, Any]:
    """One DCI disbursement. The payee is a token the bank resolves (no account number or name leaves
    us); the purpose and note say what is paid."""
    return {
        "reference_id": payment.reference_id,
        "payer_fa": f"account:county-{payment.region_code[:6]}@jl-treasury",
        "payee_fa": f"token:{payment.household_id}@jl-social-assistance",
        "amount": amount_text(payment.amount_fen),
        "currency_code": "CNY",
        "purpose": f"{payment.programme} {payment.month}",
        "note": f"{payment.programme} {payment.month}",
    }


async def submit_batch(runtime: ServiceRuntime, run: dict[str, Any]) -> None:
    """Send the next batch of a run's scheduled payments (see `send`); none left: the run awaits outcomes."""
    size = provider_settings(runtime).payment_batch_size
    async with DisbursementUnitOfWork(runtime) as uow:
        claimed = await uow.payments.claim(run["id"], [PaymentStatus.SCHEDULED], size)
        if not claimed:
            await uow.payments.update_run(run["id"], status=RunStatus.AWAITING.value)
            await uow.commit()
            return
    if await send(runtime, [p.id for p in claimed]) == "refused":
        async with DisbursementUnitOfWork(runtime) as uow:
            await _pause(uow, run, "the provider refused the batch (see the payments' reason)")
            await uow.commit()


async def send(runtime: ServiceRuntime, payment_ids: Sequence[str]) -> str | None:
    """Send scheduled payments to the provider as one batch. "submitting" and the money in flight are
    committed first; the provider's answer is recorded after: ACK → submitted, no answer → unknown (never
    resent blind), a refusal of the whole message → back to scheduled (nothing was taken). Returns
    "refused" in that last case."""
    batch_id = new_record_id()
    async with DisbursementUnitOfWork(runtime) as uow:
        current = await uow.payments.get_many(payment_ids, lock=True)
        sending = [
            replace(p, status=PaymentStatus.SUBMITTING, batch_id=batch_id)
            for p in current.values()
            if p.status == PaymentStatus.SCHEDULED
        ]
        if not sending:
            return None
        await uow.payments.save_changes(sending)
        await create_transfers(uow, [_in_flight(p) for p in sending])
        await uow.commit()

    client = provider_of(runtime)
    try:
        await client.disburse(batch_id, [_instruction(p) for p in sending], runtime.clock())
        outcome, reason = PaymentStatus.SUBMITTED, None
    except ProviderUnreachable as exc:
        outcome, reason = PaymentStatus.UNKNOWN, f"submission unanswered: {exc}"[:300]
    except ProviderRefused as exc:
        outcome, reason = PaymentStatus.SCHEDULED, f"the provider refused the batch: {exc}"[:300]

    async with DisbursementUnitOfWork(runtime) as uow:
        current = await uow.payments.get_many([p.id for p in sending], lock=True)
        # Callbacks may have overtaken us: only payments still "submitting" in this batch move.
        moved = [
            replace(p, status=outcome, status_reason=reason)
            for p in current.values()
            if p.status == PaymentStatus.SUBMITTING and p.batch_id == batch_id
        ]
        await uow.payments.save_changes(moved)
        if outcome != PaymentStatus.SCHEDULED:
            for payment in moved:
                emit(uow, payment)
        await uow.commit()
    return "refused" if outcome == PaymentStatus.SCHEDULED else None


def _in_flight(payment: Payment) -> Transfer:
    county = payment.region_code[:6]
    return Transfer(
        id=payment.transfer_id(),
        debit_account_id=account_id(AccountCode.BENEFICIARY_PAYABLE, county),
        credit_account_id=account_id(AccountCode.PAID, county),
        amount_fen=payment.amount_fen,
        kind=TransferKind.PENDING,
        reference=payment.reference_id,
    )


def _settlement(payment: Payment, status: PaymentStatus) -> Transfer | None:
    """The ledger transfer that records an outcome of the payment's current attempt."""
    pending = _in_flight(payment)
    if status == PaymentStatus.PAID:
        return replace(pending, id=payment.transfer_id("post"), kind=TransferKind.POST_PENDING, pending_id=pending.id)
    if status == PaymentStatus.REJECTED:
        return replace(pending, id=payment.transfer_id("void"), kind=TransferKind.VOID_PENDING, pending_id=pending.id)
    if status == PaymentStatus.RETURNED:
        return Transfer(
            id=payment.transfer_id("return"),
            debit_account_id=pending.credit_account_id,
            credit_account_id=pending.debit_account_id,
            amount_fen=payment.amount_fen,
            reference=payment.reference_id,
        )
    return None


async def apply_outcomes(uow: DisbursementUnitOfWork, outcomes: Sequence[Outcome]) -> list[Payment]:
    """Record what the provider says (a callback, a status answer, a statement line): each payment
    moves only where its life allows, its ledger transfer and event with it. Duplicates and late
    "pending" answers change nothing. Returns the payments that changed."""
    payments = await uow.payments.by_references([o.reference_id for o in outcomes])
    changed: dict[str, Payment] = {}
    for outcome in outcomes:
        payment = payments.get(outcome.reference_id)
        if payment is None:
            log.warning("the provider reported reference %s, which is none of ours", outcome.reference_id)
            continue
        payment = changed.get(payment.id, payment)
        if outcome.reference_id != payment.reference_id:
            log.warning("outcome for an earlier attempt %s of payment %s ignored", outcome.reference_id, payment.id)
            continue
        target = after_outcome(payment.status, outcome)
        if target is None:
            continue
        if target == PaymentStatus.PAID and outcome.amount_fen is not None and outcome.amount_fen != payment.amount_fen:
            log.warning("payment %s reported paid with another amount; left for reconciliation", payment.id)
            continue
        changed[payment.id] = replace(payment, status=target, status_reason=outcome.reason)
    await uow.payments.save_changes(list(changed.values()))
    transfers = [t for p in changed.values() if (t := _settlement(p, p.status)) is not None]
    await create_transfers(uow, transfers)
    for payment in changed.values():
        emit(uow, payment)
    paid = [p for p in changed.values() if p.status == PaymentStatus.PAID]
    # Temporary aid and disaster relief build on payments: their cases learn of their payments here.
    from services.disbursement.service_layer import aid, relief

    if aid_paid := [p.id for p in paid if p.kind == aid.PAYMENT_KIND]:
        await aid.payments_confirmed(uow, aid_paid)
    if relief_paid := [p for p in paid if p.kind == relief.PAYMENT_KIND]:
        await relief.payments_confirmed(uow, relief_paid)
    return list(changed.values())


def outcomes_of(statuses: Sequence[dict[str, Any]]) -> list[Outcome]:
    """DCI `disbursements_status` items → outcomes (items we cannot read are skipped with a warning)."""
    found = []
    for item in statuses:
        if item.get("status_reason_code") == "rjct.reference_id.duplicate":
            # The provider refused a second copy; the instruction it already holds stands. Not an outcome.
            continue
        try:
            found.append(
                Outcome(
                    reference_id=str(item["reference_id"]),
                    status=provider_status(item["status"]),
                    reason=item.get("status_reason_code"),
                    amount_fen=fen_of(item["amount"]) if item.get("amount") else None,
                )
            )
        except (KeyError, ValueError) as exc:
            log.warning("unreadable disbursement status %r: %s", item.get("reference_id"), exc)
    return found


async def settle_payments(runtime: ServiceRuntime, run_id: str | None) -> None:
    """Interrupted submissions become unknown; the provider is asked about unknown and long-silent
    payments (of a run, or None: those outside runs)."""
    settings = provider_settings(runtime)
    size = settings.payment_batch_size
    now = runtime.clock()
    async with DisbursementUnitOfWork(runtime) as uow:
        # "submitting" longer than any answer can take: the process sending it died. Unknown, not resent.
        interrupted = await uow.payments.claim(
            run_id,
            [PaymentStatus.SUBMITTING],
            size,
            changed_before=now - timedelta(seconds=2 * settings.provider_timeout_seconds),
        )
        unknown = [
            replace(p, status=PaymentStatus.UNKNOWN, status_reason="submission interrupted") for p in interrupted
        ]
        await uow.payments.save_changes(unknown)
        for payment in unknown:
            emit(uow, payment)
        await uow.commit()

    async with DisbursementUnitOfWork(runtime) as uow:
        ask = await uow.payments.claim(run_id, [PaymentStatus.UNKNOWN], size) + await uow.payments.claim(
            run_id,
            [PaymentStatus.SUBMITTED],
            size,
            changed_before=now - timedelta(seconds=settings.status_query_after_seconds),
        )
    if ask:
        await query_status(runtime, ask)


async def send_outside_runs(runtime: ServiceRuntime) -> None:
    """Send scheduled payments that belong to no run (temporary aid), and settle those in flight."""
    async with DisbursementUnitOfWork(runtime) as uow:
        scheduled = await uow.payments.claim(
            None, [PaymentStatus.SCHEDULED], provider_settings(runtime).payment_batch_size
        )
    if scheduled:
        await send(runtime, [p.id for p in scheduled])
    await settle_payments(runtime, None)


async def settle_run(runtime: ServiceRuntime, run: dict[str, Any]) -> bool:
    """One pass over a run waiting for outcomes: interrupted submissions become unknown, the provider is
    asked about unknown and long-silent payments, stuck ones are reported, and the run completes when
    every payment has a final outcome. Returns True when there is still something to wait for."""
    settings = provider_settings(runtime)
    size = settings.payment_batch_size
    now = runtime.clock()
    await settle_payments(runtime, run["id"])

    async with DisbursementUnitOfWork(runtime) as uow:
        stuck = await uow.payments.claim(
            run["id"],
            [PaymentStatus.SUBMITTED, PaymentStatus.UNKNOWN],
            size,
            changed_before=now - timedelta(seconds=settings.payment_stuck_after_seconds),
        )
        fresh = [p for p in stuck if not (p.status_reason or "").startswith("stuck")]
        marked = [replace(p, status_reason=f"stuck: {p.status.value} since before the deadline") for p in fresh]
        await uow.payments.mark_stuck(marked)
        for payment in marked:
            emit(uow, payment, events.PaymentStuck)
        counts, amounts = await uow.payments.run_totals(run["id"])
        waiting = sum(counts.get(s.value, 0) for s in OPEN)
        since = run["updated_at"] if run["updated_at"].tzinfo else run["updated_at"].replace(tzinfo=now.tzinfo)
        if (
            waiting
            and not (run["status_reason"] or "").startswith("stuck")
            and now - since > timedelta(seconds=settings.run_stuck_after_seconds)
        ):
            reason = f"stuck: {run['status']} with {waiting} payments without an outcome"
            await uow.payments.update_run(run["id"], status_reason=reason)
            uow.emit(
                events.PaymentRunStuck(
                    run_id=run["id"],
                    region_code=run["region_code"],
                    month=run["month"],
                    status=run["status"],
                    reason=reason,
                    counts=counts,
                    amounts_fen=amounts,
                ),
                subject=run["region_code"],
            )
        if counts.get(PaymentStatus.SCHEDULED.value):
            await uow.payments.update_run(run["id"], status=RunStatus.SUBMITTING.value)
        elif waiting == 0:
            await uow.payments.update_run(run["id"], status=RunStatus.COMPLETED.value)
            uow.emit(
                events.PaymentRunCompleted(
                    run_id=run["id"],
                    region_code=run["region_code"],
                    month=run["month"],
                    status=RunStatus.COMPLETED.value,
                    counts=counts,
                    amounts_fen=amounts,
                ),
                subject=run["region_code"],
            )
        await uow.commit()
    return waiting > 0 and not counts.get(PaymentStatus.SCHEDULED.value)


async def query_status(runtime: ServiceRuntime, payments: Sequence[Payment]) -> None:
    """Ask the provider about payments whose outcome we lack. Its answer settles them; an unknown
    payment the provider has never seen goes back to scheduled (the one case it may be sent again, under
    the same reference); no answer leaves everything as it was."""
    client = provider_of(runtime)
    try:
        statuses = await client.status([p.reference_id for p in payments], runtime.clock())
    except (ProviderUnreachable, ProviderRefused) as exc:
        log.warning("status query unanswered (%s); asked again on the next pass", exc)
        return
    outcomes = outcomes_of([s for s in statuses if s.get("status_reason_code") != "rjct.reference_id.invalid"])
    known = {o.reference_id for o in outcomes}
    async with DisbursementUnitOfWork(runtime) as uow:
        await apply_outcomes(uow, outcomes)
        never_seen = [p.id for p in payments if p.status == PaymentStatus.UNKNOWN and p.reference_id not in known]
        current = await uow.payments.get_many(never_seen, lock=True)
        again = [
            replace(p, status=PaymentStatus.SCHEDULED, status_reason="the provider never received it")
            for p in current.values()
            if p.status == PaymentStatus.UNKNOWN
        ]
        await uow.payments.save_changes(again)
        for payment in again:
            emit(uow, payment)
        await uow.commit()


async def retry_payment(uow: DisbursementUnitOfWork, payment_id: str, actor: str, reason: str) -> Payment:
    """An operator sends a rejected or returned payment again: a new attempt, a new reference. The reason is
    free text: kept with the retry, never in the payment's status or its events."""
    payment = await uow.payments.get(payment_id, lock=True)
    if payment is None:
        raise NotFound(f"no payment {payment_id}")
    if payment.status not in (PaymentStatus.REJECTED, PaymentStatus.RETURNED):
        raise PaymentNotRetryable(f"payment {payment_id} is {payment.status.value}")
    attempt = payment.attempt + 1
    again = replace(
        payment,
        status=PaymentStatus.SCHEDULED,
        attempt=attempt,
        reference_id=reference_id(payment.entitlement_id or payment.id, payment.month, attempt),
        status_reason=f"retried by {actor}",
        batch_id=None,
    )
    await uow.payments.add_retry(payment.id, attempt, actor, reason)
    if payment.run_id is None:  # temporary aid or disaster relief: the watch sends it outside any run
        await uow.payments.save_changes([again])
        await uow.payments.add_references([again])
        emit(uow, again, events.PaymentRetried)
        return again
    # The run that sends it: its own while that is unfinished, else the county's active run for the
    # month, else its own run reopened.
    run = await uow.payments.run(payment.run_id, lock=True)
    if run is None or run["status"] == RunStatus.COMPLETED:
        run = await uow.payments.active_run(payment.region_code[:6], payment.month) or run
    if run is None:
        raise PaymentNotRetryable(f"payment {payment_id} belongs to no payment run")
    again = replace(again, run_id=run["id"])
    await uow.payments.save_changes([again])
    await uow.payments.add_references([again])
    emit(uow, again, events.PaymentRetried)
    if run["status"] in (RunStatus.AWAITING, RunStatus.COMPLETED):
        await uow.payments.update_run(run["id"], status=RunStatus.SUBMITTING.value)
    return again
