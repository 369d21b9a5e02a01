"""Bulk import of households for provincial systems (JSON Lines or CSV) as a job.

Each row is imported in its own transaction together with the job's progress, so a crash resumes
at the first row not yet counted, valid rows are imported while invalid ones go to the error report,
and a row whose `external_ref` is already registered counts as unchanged: re-running a file changes nothing.
"""
from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import datetime, timezone

from pydantic import ValidationError
from sqlalchemy import insert, select, update

from services.registry.adapters import orm
from services.registry.adapters.uow import RegistryUnitOfWork
from services.registry.api.schemas import HouseholdCreate
from services.registry.service_layer import services
from shared.auth import Principal
from shared.errors import Problem, ValidationProblem

MAX_ROWS = 100_000
CSV_MEMBER_COLUMNS = ["name", "id_number", "phone", "relation", "labour_capacity", "disability_grade",
                      "serious_illness", "self_care", "left_behind", "has_legal_supporter"]
CSV_HOUSEHOLD_COLUMNS = ["external_ref", "region_code", "address", "poverty_status", "assets_meet_local_rule"]


_TRUE, _FALSE = {"true", "1", "yes", "是"}, {"false", "0", "no", "否"}


def _csv_value(column: str, raw: str):
    """CSV cells are text; typed columns are converted so the row validates like JSON would."""
    value = raw.strip()
    if column == "disability_grade":
        return int(value) if value.isdigit() else value
    if column in ("serious_illness", "has_legal_supporter", "assets_meet_local_rule"):
        lowered = value.lower()
        return True if lowered in _TRUE else False if lowered in _FALSE else value
    return value


def parse_rows(fmt: str, content: str) -> list[tuple[int, dict | None, str | None]]:
    """(line number, household dict or None, parse error or None) per household."""
    if fmt == "jsonl":
        rows = []
        for number, line in enumerate(content.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
                rows.append((number, value, None) if isinstance(value, dict) else
                            (number, None, "each line must be a JSON object"))
            except json.JSONDecodeError as exc:
                rows.append((number, None, f"not valid JSON: {exc.msg}"))
        return rows
    reader = csv.DictReader(io.StringIO(content))
    missing = [c for c in CSV_HOUSEHOLD_COLUMNS[:3] + ["name", "id_number", "relation", "labour_capacity"]
               if c not in (reader.fieldnames or [])]
    if missing:
        raise ValidationProblem.field("body", "csv_columns", f"CSV is missing columns: {', '.join(missing)}")
    grouped: dict[str, tuple[int, dict]] = {}
    for number, row in enumerate(reader, start=2):
        ref = (row.get("external_ref") or "").strip() or f"__line_{number}"
        first_line, household = grouped.setdefault(ref, (number, {
            k: _csv_value(k, row[k]) for k in CSV_HOUSEHOLD_COLUMNS if row.get(k) not in (None, "")}
            | {"members": []}))
        member = {k: _csv_value(k, row[k]) for k in CSV_MEMBER_COLUMNS if row.get(k) not in (None, "")}
        household["members"].append(member)
    return [(line, household, None) for line, household in grouped.values()]


async def create_job(uow: RegistryUnitOfWork, actor: Principal, fmt: str, content: str, traceparent: str) -> dict:
    import hashlib

    rows = parse_rows(fmt, content)
    if not rows:
        raise ValidationProblem.field("body", "non_empty", "the file holds no rows")
    if len(rows) > MAX_ROWS:
        raise ValidationProblem.field("body", "max_rows", f"at most {MAX_ROWS} households per file")
    now = datetime.now(timezone.utc)
    job = dict(id=str(uuid.uuid4()), actor=actor.model_dump(mode="json"), traceparent=traceparent, format=fmt,
               content_sha256=hashlib.sha256(content.encode()).hexdigest(), content=content, status="queued",
               total=len(rows), processed=0, imported=0, unchanged=0, failed=0, errors=[], created_at=now,
               updated_at=now)
    await uow.session.execute(insert(orm.import_jobs).values(**job))
    return job


async def get_job(uow: RegistryUnitOfWork, job_id: str) -> dict | None:
    row = (await uow.session.execute(select(orm.import_jobs).where(orm.import_jobs.c.id == job_id))).first()
    return dict(row._mapping) if row else None


async def run_job(uow_factory, job_id: str) -> None:
    """Process the rows not yet counted. Safe to call again after a crash or on a finished job."""
    async with uow_factory() as uow:
        job = await get_job(uow, job_id)
    if job is None or job["status"] == "done":
        return
    actor = Principal.model_validate(job["actor"])
    rows = parse_rows(job["format"], job["content"])
    for index in range(job["processed"], len(rows)):
        line, data, parse_error = rows[index]
        outcome, error = "failed", parse_error
        async with uow_factory() as uow:
            if error is None:
                try:
                    outcome = await _import_one(uow, data, actor)
                except Problem as exc:
                    await uow.rollback()
                    error = "; ".join(f"{e.get('field')}: {e.get('message')}" for e in exc.errors) or exc.detail
            current = await get_job(uow, job_id)
            errors = list(current["errors"])
            if error:
                errors.append({"line": line, "external_ref": (data or {}).get("external_ref"), "error": error})
            await uow.session.execute(update(orm.import_jobs).where(orm.import_jobs.c.id == job_id).values(
                processed=index + 1, status="running", errors=errors, updated_at=datetime.now(timezone.utc),
                **{outcome: current[outcome] + 1}))
            await uow.commit()
    async with uow_factory() as uow:
        await uow.session.execute(update(orm.import_jobs).where(orm.import_jobs.c.id == job_id).values(
            status="done", updated_at=datetime.now(timezone.utc)))
        await uow.commit()


async def _import_one(uow: RegistryUnitOfWork, data: dict, actor: Principal) -> str:
    try:
        body = HouseholdCreate.model_validate(data)
    except ValidationError as exc:
        raise ValidationProblem("row failed validation", errors=[
            {"field": ".".join(map(str, e["loc"])), "rule": e["type"], "message": e["msg"]}
            for e in exc.errors()]) from None
    if not body.external_ref:
        raise ValidationProblem.field("external_ref", "required_for_import",
                                      "imported rows need external_ref, so that re-running a file changes nothing")
    await services.check_region(uow, body.region_code, actor)
    existing = await uow.households.get_by_external_ref(body.external_ref)
    if existing is not None:
        if actor.may_see_household(existing.id, existing.region_code):
            return "unchanged"
        # Held by a household outside the caller's scope: say neither where nor which.
        raise ValidationProblem.field("external_ref", "unique_external_ref",
                                      "this external_ref is already used by another registry office's record")
    data = body.model_dump(exclude={"members", "reason", "assignment", "incomes", "expenses"})
    if body.assignment:
        data["assignment"] = body.assignment.model_dump(exclude={"reason"})
    await services.register_household(uow, data, [m.model_dump(exclude_none=True) for m in body.members],
                                      actor, body.reason or "bulk import",
                                      incomes=[i.model_dump(exclude={"reason"}) for i in body.incomes],
                                      expenses=[e.model_dump(exclude={"reason"}) for e in body.expenses])
    return "imported"
