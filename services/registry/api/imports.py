"""Bulk import jobs: POST a JSON Lines or CSV file, follow the job's progress and error report."""
from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select

from services.registry.adapters import orm
from services.registry.adapters.uow import RegistryUnitOfWork
from services.registry.api.households import uow_of
from services.registry.api.schemas import ImportJobView
from services.registry.service_layer import imports
from shared.app import ServiceRuntime, runtime_of
from shared.auth import Principal, Role, require
from shared.commands import CommandResult, run_command
from shared.errors import NotFound, Problem
from shared.tracing import current_trace, parse_traceparent, use_trace

router = APIRouter(prefix="/v1/imports", tags=["imports"])
log = logging.getLogger(__name__)
Importer = Annotated[Principal, Depends(require(Role.PROVINCIAL_SYSTEM, Role.PROVINCE_OPERATOR,
                                                Role.COUNTY_OPERATOR, Role.ADMIN))]
FORMATS = {"application/x-ndjson": "jsonl", "application/jsonl": "jsonl", "application/json-lines": "jsonl",
           "text/csv": "csv"}


class UnsupportedMediaType(Problem):
    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


def view(job: dict) -> dict:
    return ImportJobView.model_validate(job).model_dump(mode="json")


def start_job(runtime: ServiceRuntime, job_id: str, traceparent: str) -> None:
    async def work():
        trace = parse_traceparent(traceparent) or current_trace()
        with use_trace(trace.child()):
            try:
                await imports.run_job(lambda: RegistryUnitOfWork(runtime), job_id)
            except Exception:  # noqa: BLE001 - the job stays resumable; restart picks it up
                log.exception("import job %s stopped", job_id)

    runtime.spawn(work(), name=f"import:{job_id}")


async def resume_unfinished_jobs(runtime: ServiceRuntime) -> None:
    async with RegistryUnitOfWork(runtime) as uow:
        rows = (await uow.session.execute(select(orm.import_jobs.c.id, orm.import_jobs.c.traceparent)
                                          .where(orm.import_jobs.c.status != "done"))).all()
    for row in rows:
        start_job(runtime, row.id, row.traceparent)


@router.post("", status_code=202, summary="Start an import (JSON Lines or CSV; rows need external_ref)")
async def create_import(request: Request, actor: Importer):
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    fmt = FORMATS.get(content_type)
    if fmt is None:
        raise UnsupportedMediaType(f"send one of: {', '.join(FORMATS)}")
    try:
        content = (await request.body()).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Problem("the file must be UTF-8 text") from None
    uow = uow_of(request)
    trace = current_trace()

    async def action():
        job = await imports.create_job(uow, actor, fmt, content, trace.traceparent)
        return CommandResult(view(job), 202, {"Location": f"/v1/imports/{job['id']}"})

    response = await run_command(request, actor, uow, action)
    if response.status_code == 202 and "Idempotent-Replayed" not in response.headers:
        start_job(runtime_of(request), response.headers["Location"].rsplit("/", 1)[1], trace.traceparent)
    return response


@router.get("/{job_id}", response_model=ImportJobView, summary="An import job's progress and error report")
async def get_import(job_id: str, request: Request, actor: Importer):
    async with uow_of(request) as uow:
        job = await imports.get_job(uow, job_id)
    # Only the caller who started it, with the same scope, reads a job: its error report quotes rows.
    owner = Principal.model_validate(job["actor"]).access_key if job else None
    if job is None or owner != actor.access_key and Role.ADMIN not in actor.roles:
        raise NotFound(f"import job {job_id} not found")
    return view(job)
