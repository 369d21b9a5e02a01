"""Eligibility REST API: standards, dry-run evaluations, decisions with explanations, signals, jobs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool

from services.eligibility.adapters.uow import EligibilityUnitOfWork
from services.eligibility.api.presenters import present_evidence, present_explanation
from services.eligibility.api.schemas import EvaluationIn, JobIn, StandardIn
from services.eligibility.domain.engine import evaluate
from services.eligibility.domain.parameters import MissingParameter, compile_parameters
from services.eligibility.service_layer import jobs
from services.eligibility.service_layer.handlers import start_job, today
from services.eligibility.service_layer.services import explanation_of, new_standard, record_standard
from shared.app import runtime_of
from shared.auth import READERS, STAFF, Principal, Role, require
from shared.commands import CommandResult, run_command
from shared.errors import Forbidden, NotFound, ValidationProblem
from shared.openapi import NO_IDEMPOTENCY
from shared.registry_client import unknown_here
from shared.tracing import current_trace
from shared.values import CalendarDate

router = APIRouter(prefix="/v1")
Reader = Annotated[Principal, Depends(require(*READERS))]
Evaluator = Annotated[Principal, Depends(require(*(STAFF | {Role.PROVINCIAL_SYSTEM, Role.ADMIN, Role.AUDITOR})))]
StandardSetter = Annotated[Principal, Depends(require(Role.PROVINCE_OPERATOR, Role.COUNTY_OPERATOR, Role.ADMIN))]
# Jobs are the agency's work, not a household's: household tokens do not see them.
JobReader = Annotated[Principal, Depends(require(*(READERS - {Role.HOUSEHOLD})))]
Operator = Annotated[Principal, Depends(require(Role.PROVINCE_OPERATOR, Role.COUNTY_OPERATOR, Role.ADMIN))]


def uow_of(request: Request) -> EligibilityUnitOfWork:
    return EligibilityUnitOfWork(runtime_of(request))


def standard_view(s) -> dict:
    return {"id": s.id, **s.cited(), "recorded_by": s.recorded_by}


def decision_view(row, in_force: set[str]) -> dict:
    return {
        "id": row.id,
        "household_id": row.household_id,
        "programme": row.programme,
        "member_id": row.member_id,
        "status": row.status,
        "scope": row.scope,
        "monthly_amount_fen": row.monthly_amount_fen,
        "valid_from": row.valid_from,
        "valid_until": row.valid_until,
        "change": row.change,
        "current": row.id in in_force,
        "as_of": row.as_of,
        "household_version": row.household_version,
        "trigger": row.trigger,
        "created_at": row.created_at,
    }


# --- standards ----------------------------------------------------------------------------------


@router.post(
    "/standards",
    status_code=201,
    tags=["standards"],
    summary="Record a standard; refused below the documents' floor; re-evaluates the region",
)
async def post_standard(body: StandardIn, request: Request, actor: StandardSetter):
    if not actor.covers_region(body.region_code):
        raise Forbidden(f"region {body.region_code} is outside your scope ({actor.region})")
    runtime = runtime_of(request)
    uow = uow_of(request)
    trace = current_trace()
    started: list[str] = []

    async def action():
        standard = await record_standard(uow, new_standard(body.model_dump(), actor.subject, runtime.clock()))
        job = await jobs.create_job(
            uow,
            kind="standard_changed",
            region_prefix=body.region_code,
            as_of=today(runtime),
            reason=f"standard {standard.category.value} recorded",
            traceparent=trace.traceparent,
        )
        started.append(job["id"])
        return CommandResult(
            {**standard_view(standard), "reevaluation_job_id": job["id"]},
            201,
            {"Location": f"/v1/standards/{standard.id}"},
        )

    response = await run_command(request, actor, uow, action)
    for job_id in started:
        start_job(runtime, job_id, trace.traceparent)
    return response


@router.get("/standards", tags=["standards"], summary="Standards in force (or all, without as_of)")
async def get_standards(
    request: Request,
    actor: Reader,
    region_code: Annotated[str | None, Query(pattern=r"^\d{2,12}$")] = None,
    category: str | None = None,
    as_of: CalendarDate | None = None,
):
    async with uow_of(request) as uow:
        found = await uow.standards.query(region_code, category)
    if as_of is not None:
        if not region_code:
            raise ValidationProblem.field("region_code", "required_with_as_of", "as_of needs a region_code")
        params = compile_parameters(found, region_code, as_of)
        items = [
            {"key": key, **standard_view(s)}
            for key, s in sorted(params.values.items())
            if category is None or key == category
        ]
        return {"region_code": region_code, "as_of": as_of, "items": items}
    return {"items": [standard_view(s) for s in found]}


# --- dry run ---------------------------------------------------------------------------------------


@router.post(
    "/evaluations",
    tags=["evaluations"],
    summary="Preview a case: decisions with explanations, nothing stored",
    openapi_extra={NO_IDEMPOTENCY: True},
)
async def post_evaluation(body: EvaluationIn, request: Request, actor: Evaluator):
    async with uow_of(request) as uow:
        standards = await uow.standards.for_region(body.household.region_code)
    params = compile_parameters(standards, body.household.region_code, body.as_of)
    try:
        # CPU-bound: run off the event loop so other requests are not held up behind it.
        result = await run_in_threadpool(evaluate, body.household, body.prior_state, params, body.as_of)
    except MissingParameter as exc:
        raise ValidationProblem.field(
            "household.region_code", "parameters_in_force", str(exc), missing_parameter=exc.key
        ) from None
    decisions = [d.model_dump(mode="json") for d in result.decisions]
    signals = [s.model_dump(mode="json") for s in result.signals]
    return {
        "decisions": [{**d, "explanation": present_explanation(d["explanation"], actor)} for d in decisions],
        "signals": [{**s, "evidence": present_evidence(s["evidence"], actor)} for s in signals],
        "next_state": result.next_state.model_dump(mode="json"),
    }


# --- decisions, signals -------------------------------------------------------------------------------


async def _visible_household(uow: EligibilityUnitOfWork, household_id: str, actor: Principal):
    row = await uow.households.get(household_id)
    if row is None:  # perhaps registered a moment ago, its event still on the way
        raise await unknown_here(uow.runtime, household_id, actor, f"household {household_id} not found")
    if not actor.may_see_household(household_id, row.region_code):
        raise NotFound(f"household {household_id} not found")
    return row


def _in_force(household) -> set[str]:
    return {d["id"] for d in household.current_decisions or ()}


@router.get("/households/{household_id}/decisions", tags=["decisions"], summary="Current decisions of a household")
async def current_decisions(household_id: str, request: Request, actor: Reader):
    async with uow_of(request) as uow:
        household = await _visible_household(uow, household_id, actor)
        return {
            "household_id": household_id,
            "items": [
                {**decision_view(r, {r.id}), "explanation": present_explanation(await explanation_of(uow, r), actor)}
                for r in await uow.decisions.current(household)
            ],
        }


@router.get("/households/{household_id}/decisions/history", tags=["decisions"], summary="Every decision, oldest first")
async def decision_history(household_id: str, request: Request, actor: Reader):
    async with uow_of(request) as uow:
        in_force = _in_force(await _visible_household(uow, household_id, actor))
        return {
            "household_id": household_id,
            "items": [decision_view(r, in_force) for r in await uow.decisions.history(household_id)],
        }


@router.get("/decisions/{decision_id}", tags=["decisions"], summary="One decision with its full explanation")
async def one_decision(decision_id: str, request: Request, actor: Reader):
    async with uow_of(request) as uow:
        row = await uow.decisions.get(decision_id)
        household = row and await uow.households.get(row.household_id)
        # One answer for "no such decision" and "not yours": the household is not named either way.
        if row is None or household is None or not actor.may_see_household(row.household_id, household.region_code):
            raise NotFound(f"decision {decision_id} not found")
        return {
            **decision_view(row, _in_force(household)),
            "explanation": present_explanation(await explanation_of(uow, row), actor),
        }


@router.get("/households/{household_id}/signals", tags=["signals"], summary="Monitoring signals raised for a household")
async def household_signals(household_id: str, request: Request, actor: Reader):
    async with uow_of(request) as uow:
        await _visible_household(uow, household_id, actor)
        rows = await uow.signals.for_household(household_id)
    return {
        "items": [
            {
                "id": r.id,
                "kind": r.kind,
                "category": r.category,
                "evidence": present_evidence(r.evidence, actor),
                "raised_at": r.raised_at,
            }
            for r in rows
        ]
    }


# --- jobs ---------------------------------------------------------------------------------------------


def job_view(row) -> dict:
    return {
        k: getattr(row, k)
        for k in (
            "id",
            "kind",
            "status",
            "region_prefix",
            "as_of",
            "total",
            "processed",
            "changed",
            "reason",
            "created_at",
            "updated_at",
        )
    }


@router.post("/jobs", status_code=202, tags=["jobs"], summary="Re-evaluate every household of a region now")
async def post_job(body: JobIn, request: Request, actor: Operator):
    if not actor.covers_region(body.region_prefix):
        raise Forbidden(f"region {body.region_prefix} is outside your scope ({actor.region})")
    runtime, uow, trace = runtime_of(request), uow_of(request), current_trace()

    async def action():
        job = await jobs.create_job(
            uow,
            kind="operator_request",
            region_prefix=body.region_prefix,
            as_of=today(runtime),
            reason=body.reason,
            traceparent=trace.traceparent,
        )
        return CommandResult(
            {k: job[k] for k in ("id", "kind", "status", "region_prefix", "as_of", "total")},
            202,
            {"Location": f"/v1/jobs/{job['id']}"},
        )

    response = await run_command(request, actor, uow, action)
    if "Idempotent-Replayed" not in response.headers:
        start_job(runtime, response.headers["Location"].rsplit("/", 1)[1], trace.traceparent)
    return response


@router.get("/jobs/{job_id}", tags=["jobs"], summary="A re-evaluation job and its progress")
async def get_job(job_id: str, request: Request, actor: JobReader):
    async with uow_of(request) as uow:
        row = await uow.jobs.get(job_id)
    # A job covers its whole region: a county token does not read a province job (it would see other
    # counties' progress).
    if row is None or not actor.covers_region(row.region_prefix):
        raise NotFound(f"job {job_id} not found")
    return job_view(row)


@router.get("/jobs", tags=["jobs"], summary="Recent re-evaluation jobs in your scope")
async def list_jobs(request: Request, actor: JobReader):
    async with uow_of(request) as uow:
        return {"items": [job_view(r) for r in await uow.jobs.recent(actor.region)]}
