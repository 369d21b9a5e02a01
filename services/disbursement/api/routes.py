"""Disbursement REST API: entitlements, payment runs and payments, the payment provider's callback,
funds and the ledger, temporary aid (disaster-relief cases are in relief.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse

from services.disbursement.adapters.dci import BadSignature, ack
from services.disbursement.adapters.uow import DisbursementUnitOfWork
from services.disbursement.api.presenters import account_view, entitlement_view, payment_view, transfer_view
from services.disbursement.api.schemas import AidApplicationIn, PaymentRunIn, ReasonIn, TopUpIn
from services.disbursement.domain.ledger import AccountCode
from services.disbursement.service_layer import aid, funds, payments, reconciliation
from shared.app import runtime_of
from shared.auth import READERS, Principal, Role, require
from shared.commands import CommandResult, run_command
from shared.errors import Forbidden, NotFound, Unauthorized, ValidationProblem
from shared.ids import new_record_id
from shared.limits import UnsupportedMediaType
from shared.openapi import BODY_NAMES_RESOURCE
from shared.text import mask_free_text, uploaded_text
from shared.tracing import current_trace
from shared.values import MONTH_PATTERN

router = APIRouter(prefix="/v1")
Reader = Annotated[Principal, Depends(require(*READERS))]
# Funds and the ledger are the agency's books, not a household's.
BookReader = Annotated[Principal, Depends(require(*(READERS - {Role.HOUSEHOLD})))]
Funder = Annotated[Principal, Depends(require(Role.PROVINCE_OPERATOR, Role.COUNTY_OPERATOR, Role.ADMIN))]
# Runs are started, paused and resumed, and payments retried, by the county and the province.
Payer = Annotated[Principal, Depends(require(Role.PROVINCE_OPERATOR, Role.COUNTY_OPERATOR, Role.ADMIN))]
# Temporary aid: who may apply, review (the village), approve (the township; the county for its cases),
# refuse, and file (the county's record, 备案).
Applicant = Annotated[
    Principal,
    Depends(
        require(
            Role.HOUSEHOLD,
            Role.VILLAGE_CADRE,
            Role.TOWNSHIP_OFFICER,
            Role.COUNTY_OPERATOR,
            Role.PROVINCE_OPERATOR,
            Role.PROVINCIAL_SYSTEM,
            Role.ADMIN,
        )
    ),
]
Reviewer = Annotated[Principal, Depends(require(Role.VILLAGE_CADRE, Role.TOWNSHIP_OFFICER, Role.ADMIN))]
Approver = Annotated[Principal, Depends(require(Role.TOWNSHIP_OFFICER, Role.COUNTY_OPERATOR, Role.ADMIN))]
Refuser = Annotated[
    Principal, Depends(require(Role.VILLAGE_CADRE, Role.TOWNSHIP_OFFICER, Role.COUNTY_OPERATOR, Role.ADMIN))
]
Filer = Annotated[Principal, Depends(require(Role.COUNTY_OPERATOR, Role.ADMIN))]
TOWNSHIP_CODE = r"^\d{9}$"
COUNTY_CODE = r"^\d{6}$"


def uow_of(request: Request) -> DisbursementUnitOfWork:
    return DisbursementUnitOfWork(runtime_of(request))


@router.get(
    "/households/{household_id}/entitlements",
    tags=["entitlements"],
    summary="A household's entitlements with their history",
)
async def household_entitlements(household_id: str, request: Request, actor: Reader):
    async with uow_of(request) as uow:
        found = await uow.entitlements.of_household(household_id)
        history = await uow.entitlements.history([e.id for e in found])
    # Absent and outside the caller's scope answer alike, so household ids cannot be probed.
    if not found or not actor.may_see_household(household_id, found[0].region_code):
        raise NotFound(f"no entitlements of household {household_id}")
    return {"items": [entitlement_view(e, history.get(e.id, [])) for e in found]}


def _check_region(actor: Principal, region_code: str) -> None:
    if not actor.covers_region(region_code):
        raise Forbidden(f"region {region_code} is outside your scope ({actor.region})")


async def _fund(request: Request, actor: Principal, region_code: str, code: AccountCode) -> dict:
    _check_region(actor, region_code)
    async with uow_of(request) as uow:
        return await funds.fund_view(uow, region_code, code)


async def _top_up(request: Request, actor: Principal, region_code: str, body: TopUpIn, code: AccountCode):
    _check_region(actor, region_code)
    uow = uow_of(request)

    async def action() -> CommandResult:
        return CommandResult(await funds.top_up(uow, region_code, body.amount_fen, actor.subject, code), 201)

    return await run_command(request, actor, uow, action)


Township = Annotated[str, Path(pattern=TOWNSHIP_CODE, description="A township's 9-digit region code")]
County = Annotated[str, Path(pattern=COUNTY_CODE, description="A county's 6-digit region code")]


@router.get("/reserve-funds/{region_code}", tags=["reserve funds"], summary="A township's reserve fund (备用金)")
async def reserve_fund(request: Request, actor: BookReader, region_code: Township):
    return await _fund(request, actor, region_code, AccountCode.TOWNSHIP_RESERVE)


@router.post(
    "/reserve-funds/{region_code}/top-ups",
    tags=["reserve funds"],
    summary="Add money to a township's reserve fund",
    status_code=201,
)
async def top_up(body: TopUpIn, request: Request, actor: Funder, region_code: Township):
    return await _top_up(request, actor, region_code, body, AccountCode.TOWNSHIP_RESERVE)


@router.get("/county-funds/{region_code}", tags=["reserve funds"], summary="A county's fund for monthly payments")
async def county_fund(request: Request, actor: BookReader, region_code: County):
    return await _fund(request, actor, region_code, AccountCode.COUNTY_FUND)


@router.post(
    "/county-funds/{region_code}/top-ups",
    tags=["reserve funds"],
    summary="Add money to a county's fund for monthly payments",
    status_code=201,
)
async def county_top_up(body: TopUpIn, request: Request, actor: Funder, region_code: County):
    return await _top_up(request, actor, region_code, body, AccountCode.COUNTY_FUND)


@router.get("/relief-funds/{region_code}", tags=["reserve funds"], summary="A county's disaster-relief fund (救灾资金)")
async def relief_fund(request: Request, actor: BookReader, region_code: County):
    return await _fund(request, actor, region_code, AccountCode.RELIEF_FUND)


@router.post(
    "/relief-funds/{region_code}/top-ups",
    tags=["reserve funds"],
    summary="Add money to a county's disaster-relief fund",
    status_code=201,
)
async def relief_top_up(body: TopUpIn, request: Request, actor: Funder, region_code: County):
    return await _top_up(request, actor, region_code, body, AccountCode.RELIEF_FUND)


async def _account(request: Request, actor: Principal, account_id: str) -> dict:
    async with uow_of(request) as uow:
        account = await uow.ledger.account(account_id)
    if account is None or not actor.covers_region(account["region_code"]):
        raise NotFound(f"no ledger account {account_id}")
    return account


@router.get("/ledger/accounts/{account_id}", tags=["ledger"], summary="A ledger account and its balances")
async def ledger_account(account_id: str, request: Request, actor: BookReader):
    return account_view(await _account(request, actor, account_id))


@router.get(
    "/ledger/accounts/{account_id}/statement",
    tags=["ledger"],
    summary="An account's transfers in the order they were made",
)
async def ledger_statement(
    account_id: str,
    request: Request,
    actor: BookReader,
    after: Annotated[int, Query(ge=0, le=2**62, description="Continue after this sequence")] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
):
    account = await _account(request, actor, account_id)
    async with uow_of(request) as uow:
        rows = await uow.ledger.statement(account_id, after, limit + 1)
    items = [transfer_view(r, account_id) for r in rows[:limit]]
    return {
        "account": account_view(account),
        "items": items,
        "next_after": items[-1]["sequence"] if len(rows) > limit else None,
    }


# Payment runs and payments


def _start(request: Request, run_id: str) -> None:
    payments.run_runner(runtime_of(request)).start(run_id, current_trace().traceparent)


@router.post(
    "/payment-runs",
    tags=["payments"],
    summary="Pay a county's entitlements for a month (one run at a time per county and month)",
    status_code=202,
)
async def post_payment_run(body: PaymentRunIn, request: Request, actor: Payer):
    _check_region(actor, body.region_code)
    uow = uow_of(request)
    started: list[str] = []

    async def action() -> CommandResult:
        run = await payments.start_run(uow, body.region_code, body.month, actor.subject, current_trace().traceparent)
        started.append(run["id"])
        return CommandResult(run, 202, {"Location": f"/v1/payment-runs/{run['id']}"})

    response = await run_command(request, actor, uow, action)
    for run_id in started:
        _start(request, run_id)
    return response


@router.get("/payment-runs", tags=["payments"], summary="Payment runs in your region, newest first")
async def list_payment_runs(
    request: Request,
    actor: BookReader,
    month: Annotated[str | None, Query(pattern=MONTH_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
):
    async with uow_of(request) as uow:
        runs = await uow.payments.runs(actor.region, month, limit)
        return {"items": [await payments.run_view(uow, run) for run in runs]}


async def _run(request: Request, actor: Principal, run_id: str) -> dict:
    async with uow_of(request) as uow:
        run = await uow.payments.run(run_id)
        if run is None or not actor.covers_region(run["region_code"]):
            raise NotFound(f"no payment run {run_id}")
        return await payments.run_view(uow, run)


@router.get("/payment-runs/{run_id}", tags=["payments"], summary="A payment run: progress, counts and amounts")
async def get_payment_run(run_id: str, request: Request, actor: BookReader):
    return await _run(request, actor, run_id)


@router.get("/payment-runs/{run_id}/payments", tags=["payments"], summary="The payments of a run, in id order")
async def run_payments(
    run_id: str,
    request: Request,
    actor: BookReader,
    status: Annotated[str | None, Query(pattern=r"^[a-z]{4,12}$")] = None,
    after: Annotated[str, Query(max_length=36)] = "",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
):
    await _run(request, actor, run_id)
    async with uow_of(request) as uow:
        found = await uow.payments.of_run(run_id, status, after, limit + 1)
    items = [payment_view(p) for p in found[:limit]]
    return {"items": items, "next_after": items[-1]["id"] if len(found) > limit else None}


async def _change(request: Request, actor: Principal, change) -> JSONResponse:
    """Run `change(uow)` as a command (Idempotency-Key honoured), answering its result."""
    uow = uow_of(request)

    async def action() -> CommandResult:
        return CommandResult(await change(uow))

    return await run_command(request, actor, uow, action)


async def _run_command(request: Request, actor: Principal, run_id: str, change, restart: bool) -> JSONResponse:
    await _run(request, actor, run_id)  # absent or out of scope: 404
    response = await _change(request, actor, change)
    if restart:
        _start(request, run_id)
    return response


@router.post("/payment-runs/{run_id}/pause", tags=["payments"], summary="Stop a run after its current step")
async def pause_payment_run(run_id: str, body: ReasonIn, request: Request, actor: Payer):
    return await _run_command(
        request, actor, run_id, lambda uow: payments.pause_run(uow, run_id, body.reason), restart=False
    )


@router.post("/payment-runs/{run_id}/resume", tags=["payments"], summary="Go on with a paused run")
async def resume_payment_run(run_id: str, request: Request, actor: Payer):
    return await _run_command(request, actor, run_id, lambda uow: payments.resume_run(uow, run_id), restart=True)


@router.get("/households/{household_id}/payments", tags=["payments"], summary="A household's payments")
async def household_payments(household_id: str, request: Request, actor: Reader):
    async with uow_of(request) as uow:
        found = await uow.payments.of_household(household_id)
    # Absent and outside the caller's scope answer alike, so household ids cannot be probed.
    if not found or not actor.may_see_household(household_id, found[0].region_code):
        raise NotFound(f"no payments of household {household_id}")
    return {"items": [payment_view(p) for p in found]}


@router.get("/payments/{payment_id}", tags=["payments"], summary="A payment and its state")
async def get_payment(payment_id: str, request: Request, actor: Reader):
    async with uow_of(request) as uow:
        payment = await uow.payments.get(payment_id)
        if payment is None or not actor.may_see_household(payment.household_id, payment.region_code):
            raise NotFound(f"no payment {payment_id}")
        retries = await uow.payments.retries(payment_id)
    # Operators' reasons are free text: withheld from roles that see masked data.
    shown = [r | {"reason": r["reason"] if actor.sees_personal_data else mask_free_text(r["reason"])} for r in retries]
    return payment_view(payment) | {"retries": shown}


@router.post(
    "/payments/{payment_id}/retry",
    tags=["payments"],
    summary="Send a rejected or returned payment again (a new attempt with a new reference)",
    status_code=202,
)
async def retry_payment(payment_id: str, body: ReasonIn, request: Request, actor: Payer):
    async with uow_of(request) as uow:
        payment = await uow.payments.get(payment_id)
    if payment is None or not actor.covers_region(payment.region_code):
        raise NotFound(f"no payment {payment_id}")
    uow = uow_of(request)

    async def action() -> CommandResult:
        again = await payments.retry_payment(uow, payment_id, actor.subject, body.reason)
        return CommandResult(payment_view(again), 202)

    response = await run_command(request, actor, uow, action)
    if payment.run_id:
        async with uow_of(request) as uow:
            again = await uow.payments.get(payment_id)
        if again and again.run_id:
            _start(request, again.run_id)
    return response


async def provider_signature(request: Request) -> dict:
    """Authenticates the payment provider's callbacks by their DCI message signature (Ed25519 over the
    message, checked against the provider keys we accept): a bearer token does not stand in for it."""
    runtime = runtime_of(request)
    try:
        body = await request.json()
    except ValueError:
        raise Unauthorized("callback refused: the body is not a signed DCI message") from None
    if not isinstance(body, dict):
        raise Unauthorized("callback refused: the body is not a signed DCI message")
    try:
        payments.provider_of(runtime).verifier.verify(body, runtime.clock())
    except BadSignature as exc:
        raise Unauthorized(f"callback refused: {exc}") from None
    return body


# The authorization sweep reads this instead of the admitted roles: no role stands in for the signature.
provider_signature.authenticates_by = "the payment provider's DCI message signature"  # type: ignore[attr-defined]


@router.post(
    "/provider/on-disburse",
    tags=["provider"],
    summary="The payment provider's DCI `/on-disburse` callback (authenticated by its Ed25519 signature)",
    openapi_extra={"security": []},
)
async def on_disburse(request: Request, body: Annotated[dict, Depends(provider_signature)]):
    message = body.get("message") or {}
    statuses = message.get("disbursements_status") if isinstance(message, dict) else None
    if not isinstance(statuses, list) or not all(isinstance(item, dict) for item in statuses):
        raise ValidationProblem.field("message.disbursements_status", "required", "a list of disbursement statuses")
    async with uow_of(request) as uow:
        await payments.apply_outcomes(uow, payments.outcomes_of(statuses))
        await uow.commit()
    return ack(runtime_of(request).clock(), new_record_id())


# Reconciliation

STATEMENT_BODY = {
    "content": {"text/csv": {"schema": {"type": "string"}}},
    "required": True,
    "description": "The provider's statement: CSV with reference_id, amount (yuan), status "
    "(paid | rejected | pending | returned), optional reason and value_date",
}


@router.post(
    "/reconciliations",
    tags=["reconciliation"],
    summary="Reconcile a provider statement (CSV) with a county's payments of a month",
    status_code=201,
    openapi_extra={"requestBody": STATEMENT_BODY},
)
async def post_reconciliation(
    request: Request,
    actor: Payer,
    region_code: Annotated[str, Query(pattern=COUNTY_CODE, description="The county reconciled")],
    month: Annotated[str, Query(pattern=MONTH_PATTERN, description="The month reconciled, YYYY-MM")],
):
    _check_region(actor, region_code)
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "text/csv":
        raise UnsupportedMediaType("send the statement as text/csv", ["text/csv"])
    statement = uploaded_text(await request.body(), "the statement")
    uow = uow_of(request)

    async def action() -> CommandResult:
        report = await reconciliation.reconcile_statement(uow, region_code, month, statement, actor.subject)
        return CommandResult(report, 201, {"Location": f"/v1/reconciliations/{report['id']}"})

    return await run_command(request, actor, uow, action)


@router.get("/reconciliations/{reconciliation_id}", tags=["reconciliation"], summary="A reconciliation report")
async def get_reconciliation(
    reconciliation_id: str,
    request: Request,
    actor: BookReader,
    kind: Annotated[str | None, Query(pattern=r"^[a-z_]{4,20}$", description="Only items of this kind")] = None,
):
    async with uow_of(request) as uow:
        report = await reconciliation.reconciliation_view(uow, reconciliation_id, kind)
    if not actor.covers_region(report["region_code"]):
        raise NotFound(f"no reconciliation {reconciliation_id}")
    return report


# Temporary aid


@router.post(
    "/aid-applications",
    tags=["temporary aid"],
    summary="Apply for temporary aid (临时救助), from the mobile front end or by an operator",
    status_code=201,
    openapi_extra={BODY_NAMES_RESOURCE: True},
)
async def post_aid_application(body: AidApplicationIn, request: Request, actor: Applicant):
    if body.fast_track and not body.commitment.strip():
        raise ValidationProblem.field("commitment", "required", "fast track rests on the applicant's commitment")
    uow = uow_of(request)

    async def action() -> CommandResult:
        application = await aid.submit(uow, body.model_dump(), actor)
        return CommandResult(application, 201, {"Location": f"/v1/aid-applications/{application['id']}"})

    return await run_command(request, actor, uow, action)


@router.get(
    "/aid-applications/{application_id}", tags=["temporary aid"], summary="An application, its steps and payment"
)
async def get_aid_application(application_id: str, request: Request, actor: Reader):
    async with uow_of(request) as uow:
        application = await aid.view(uow, application_id)
    if not actor.may_see_household(application["household_id"], application["region_code"]):
        raise NotFound(f"no aid application {application_id}")
    return application


@router.get("/households/{household_id}/aid-applications", tags=["temporary aid"], summary="A household's applications")
async def household_aid_applications(household_id: str, request: Request, actor: Reader):
    async with uow_of(request) as uow:
        found = await uow.aid.of_household(household_id)
    if not found or not actor.may_see_household(household_id, found[0]["region_code"]):
        raise NotFound(f"no aid applications of household {household_id}")
    return {"items": [{k: v for k, v in a.items() if k != "deadline_warned"} for a in found]}


@router.post("/aid-applications/{application_id}/review", tags=["temporary aid"], summary="The village's review")
async def review_aid(application_id: str, body: ReasonIn, request: Request, actor: Reviewer):
    return await _change(request, actor, lambda uow: aid.review(uow, application_id, actor, body.reason))


@router.post(
    "/aid-applications/{application_id}/approve",
    tags=["temporary aid"],
    summary="Approve: the township (and, for its cases, the county); reserves the money and pays it at once",
)
async def approve_aid(application_id: str, body: ReasonIn, request: Request, actor: Approver):
    runtime = runtime_of(request)
    uow = uow_of(request)
    sent: list[str] = []

    async def action() -> CommandResult:
        application, payment_id = await aid.approve(runtime, uow, application_id, actor, body.reason)
        if payment_id:
            sent.append(payment_id)
        return CommandResult(application)

    response = await run_command(request, actor, uow, action)
    for payment_id in sent:  # paid at once, not on the next pass of the watch
        runtime.spawn(payments.send(runtime, [payment_id]), name=f"aid-payment:{payment_id}")
    return response


@router.post("/aid-applications/{application_id}/reject", tags=["temporary aid"], summary="Refuse an application")
async def reject_aid(application_id: str, body: ReasonIn, request: Request, actor: Refuser):
    return await _change(request, actor, lambda uow: aid.reject(uow, application_id, actor, body.reason))


@router.post("/aid-applications/{application_id}/file", tags=["temporary aid"], summary="The county's record (备案)")
async def file_aid(application_id: str, body: ReasonIn, request: Request, actor: Filer):
    return await _change(request, actor, lambda uow: aid.file(uow, application_id, actor, body.reason))
