"""Bulk import jobs: POST a JSON Lines or CSV file, follow the job's progress and error report."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import ValidationError

from services.registry.adapters.uow import RegistryUnitOfWork
from services.registry.api.households import registration_fields, uow_of
from services.registry.api.schemas import HouseholdCreate, ImportJobView, Restatement
from services.registry.service_layer import imports
from shared.app import ServiceRuntime, runtime_of
from shared.auth import Principal, Role, require
from shared.commands import CommandResult, run_command
from shared.errors import NotFound, ValidationProblem
from shared.jobs import JobRunner
from shared.limits import UnsupportedMediaType
from shared.text import uploaded_text
from shared.tracing import current_trace

router = APIRouter(prefix="/v1/imports", tags=["imports"])
Importer = Annotated[
    Principal, Depends(require(Role.PROVINCIAL_SYSTEM, Role.PROVINCE_OPERATOR, Role.COUNTY_OPERATOR, Role.ADMIN))
]
FORMATS = {
    "application/x-ndjson": "jsonl",
    "application/jsonl": "jsonl",
    "application/json-lines": "jsonl",
    "text/csv": "csv",
}
FILE_BODY = {
    "content": {media: {"schema": {"type": "string"}} for media in FORMATS},
    "required": True,
    "description": "JSON Lines, one row per line; or CSV grouped by external_ref: households one member per "
    "line, income restatements one income per line (external_ref, id_number, type, amount_fen, period, "
    "effective_from). A restatement row: {external_ref, incomes: [{id_number?, type, amount_fen, period, "
    "effective_from}], reason?}",
}


def view(job: dict) -> dict:
    return ImportJobView.model_validate(job).model_dump(mode="json")


def _row_problem(exc: ValidationError) -> ValidationProblem:
    return ValidationProblem(
        "row failed validation",
        errors=[{"field": ".".join(map(str, e["loc"])), "rule": e["type"], "message": e["msg"]} for e in exc.errors()],
    )


def validated_row(row: dict) -> dict:
    """An import row validated exactly like `POST /v1/households`, as the registration's fields."""
    try:
        body = HouseholdCreate.model_validate(row)
    except ValidationError as exc:
        raise _row_problem(exc) from None
    return registration_fields(body)


def validated_restatement(row: dict) -> dict:
    """A row of an income comparison file, as the restatement's fields."""
    try:
        body = Restatement.model_validate(row)
    except ValidationError as exc:
        raise _row_problem(exc) from None
    return {
        "external_ref": body.external_ref,
        "reason": body.reason,
        "incomes": [income.model_dump() for income in body.incomes],
        "poverty_status": body.poverty_status,
    }


ROW_VALIDATORS = {"households": validated_row, "restatements": validated_restatement}


def import_runner(runtime: ServiceRuntime) -> JobRunner:
    async def unfinished() -> list[tuple[str, str]]:
        async with RegistryUnitOfWork(runtime) as uow:
            return await uow.imports.unfinished()

    return JobRunner(
        runtime,
        "import",
        lambda job_id: imports.run_job(lambda: RegistryUnitOfWork(runtime), job_id, ROW_VALIDATORS),
        unfinished,
    )


async def resume_unfinished_jobs(runtime: ServiceRuntime) -> None:
    await import_runner(runtime).resume_unfinished()


@router.post(
    "",
    status_code=202,
    summary="Start an import: households to register, or a monthly income comparison (rows need external_ref)",
    openapi_extra={"requestBody": FILE_BODY},
)
async def create_import(
    request: Request,
    actor: Importer,
    kind: Annotated[
        Literal["households", "restatements"],
        Query(
            description="households: each row registers a household (HouseholdCreate); restatements: each "
            "row states incomes other departments' data show for a registered external_ref, from a day on"
        ),
    ] = "households",
):
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    fmt = FORMATS.get(content_type)
    if fmt is None:
        raise UnsupportedMediaType("send the file as JSON Lines or CSV", list(FORMATS))
    content = uploaded_text(await request.body())
    uow = uow_of(request)
    trace = current_trace()

    async def action():
        job = await imports.create_job(uow, actor, fmt, content, trace.traceparent, kind)
        return CommandResult(view(job), 202, {"Location": f"/v1/imports/{job['id']}"})

    response = await run_command(request, actor, uow, action)
    if response.status_code == 202 and "Idempotent-Replayed" not in response.headers:
        import_runner(runtime_of(request)).start(response.headers["Location"].rsplit("/", 1)[1], trace.traceparent)
    return response


@router.get("/{job_id}", response_model=ImportJobView, summary="An import job's progress and error report")
async def get_import(job_id: str, request: Request, actor: Importer):
    async with uow_of(request) as uow:
        job = await imports.get_job(uow, job_id)
    # Only the caller who started it, with the same scope, reads a job (its error report quotes rows),
    # and an administrator whose scope covers the starter's.
    owner = Principal.model_validate(job["actor"]) if job else None
    if (
        job is None
        or owner is None
        or (
            owner.access_key != actor.access_key
            and not (Role.ADMIN in actor.roles and owner.region.startswith(actor.region))
        )
    ):
        raise NotFound(f"import job {job_id} not found")
    return view(job)
