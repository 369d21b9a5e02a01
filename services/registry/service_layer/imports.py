"""Bulk import of households for provincial systems (JSON Lines or CSV) as a job.

The file is parsed once per run. Rows are imported a chunk per transaction, set-based, together with
the job's progress, on PostgreSQL and on SQLite (embedded) alike. The job row is claimed
with a lock other workers skip, so a crash resumes at the first row not yet counted. Valid rows are
imported while invalid ones are appended to the error report, and a row whose `external_ref` is already
registered counts as unchanged: re-running a file changes nothing. A row that cannot be parsed at all
(malformed, nested too deep, a cell too long) is a row error, never the job's failure.

An import of kind `restatements` is a monthly comparison (003 二(七)): each row states, for a
registered external ref, incomes another department's data shows from a day on and/or the household's
registered-poor status. Households are loaded a chunk at a time, locked; a row that states what the
record already says counts as unchanged, so this file too can be re-run.
"""

from __future__ import annotations

import csv
import hashlib
import io
import uuid
from collections.abc import Callable, Mapping

import orjson
from sqlalchemy.exc import IntegrityError

from services.registry.adapters.uow import RegistryUnitOfWork
from services.registry.domain.model import Household, RegistryRuleBroken
from services.registry.service_layer import services
from shared.auth import Principal
from shared.errors import Problem, ValidationProblem

MAX_ROWS = 100_000
# Rows per transaction on PostgreSQL: each chunk costs a fixed handful of statements, whatever its size.
CHUNK_ROWS = 500
ERRORS_SHOWN = 1000  # the job view lists the first errors; `failed` counts them all
CSV_MEMBER_COLUMNS = [
    "name",
    "id_number",
    "phone",
    "relation",
    "labour_capacity",
    "disability_grade",
    "serious_illness",
    "self_care",
    "left_behind",
    "has_legal_supporter",
]
CSV_HOUSEHOLD_COLUMNS = ["external_ref", "region_code", "address", "poverty_status", "assets_meet_local_rule"]
CSV_INCOME_COLUMNS = ["id_number", "type", "amount_fen", "period", "effective_from"]
KINDS = ("households", "restatements")

_TRUE, _FALSE = {"true", "1", "yes", "是"}, {"false", "0", "no", "否"}

# A row as the import reads it: (line number, household fields or None, why it could not be read).
Row = tuple[int, dict | None, str | None]
# Validates one household row into the registration command's fields (the API's request model).
RowValidator = Callable[[dict], dict]


def _csv_value(column: str, raw: str):
    """CSV cells are text; typed columns are converted so the row validates like JSON would."""
    value = raw.strip()
    if column in ("disability_grade", "amount_fen"):
        return int(value) if value.isdigit() else value
    if column in ("serious_illness", "has_legal_supporter", "assets_meet_local_rule"):
        lowered = value.lower()
        return True if lowered in _TRUE else False if lowered in _FALSE else value
    return value


def parse_rows(fmt: str, content: str, kind: str = "households") -> list[Row]:
    """(line number, household dict or None, parse error or None) per household."""
    if fmt == "jsonl":
        return _jsonl_rows(content)
    if kind == "restatements":
        return _csv_rows(content, ["external_ref", "poverty_status"], ["external_ref"], "incomes")
    return _csv_rows(
        content,
        CSV_HOUSEHOLD_COLUMNS,
        CSV_HOUSEHOLD_COLUMNS[:3] + ["name", "id_number", "relation", "labour_capacity"],
        "members",
    )


def _jsonl_rows(content: str) -> list[Row]:
    rows: list[Row] = []
    for number, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            # orjson refuses nesting deeper than 1024 with a decode error (the stdlib parser recursed).
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            rows.append((number, None, f"not valid JSON: {str(exc).split(':')[0]}"))
            continue
        rows.append(
            (number, value, None) if isinstance(value, dict) else (number, None, "each line must be a JSON object")
        )
    return rows


def _csv_rows(content: str, household_columns: list[str], required: list[str], items: str) -> list[Row]:
    """One CSV line per member (or per stated income, `items`), grouped by external_ref into rows."""
    item_columns = CSV_MEMBER_COLUMNS if items == "members" else CSV_INCOME_COLUMNS
    reader = csv.DictReader(io.StringIO(content))
    try:
        fieldnames = reader.fieldnames or []
    except csv.Error as exc:
        raise ValidationProblem.field("body", "csv_format", f"the CSV header cannot be read: {exc}") from None
    missing = [c for c in required if c not in fieldnames]
    if missing:
        raise ValidationProblem.field("body", "csv_columns", f"CSV is missing columns: {', '.join(missing)}")
    grouped: dict[str, tuple[int, dict]] = {}
    broken: list[Row] = []
    rows = iter(reader)
    while True:
        number = reader.line_num + 1
        try:
            row = next(rows)
        except StopIteration:
            break
        except csv.Error as exc:  # a cell over the size limit, a NUL byte: this line fails, the rest go on
            broken.append((number, None, f"CSV line cannot be read: {exc}"))
            continue
        ref = (row.get("external_ref") or "").strip() or f"__line_{number}"
        _, household = grouped.setdefault(
            ref,
            (
                number,
                {k: _csv_value(k, row[k]) for k in household_columns if row.get(k) not in (None, "")} | {items: []},
            ),
        )
        item = {k: _csv_value(k, row[k]) for k in item_columns if row.get(k) not in (None, "")}
        if item or items == "members":  # a restatement line may state only the household's status
            household[items].append(item)
    return sorted([(line, household, None) for line, household in grouped.values()] + broken, key=lambda r: r[0])


def count_rows(fmt: str, content: str, kind: str = "households") -> int:
    """How many rows `parse_rows` will give: every non-blank JSON line is one (a line that is not a JSON
    object is a row error), so JSON Lines are counted without being parsed; CSV rows are grouped by
    household, so CSV is parsed."""
    if fmt == "jsonl":
        return sum(1 for line in content.splitlines() if line.strip())
    return len(parse_rows(fmt, content, kind))


async def create_job(
    uow: RegistryUnitOfWork, actor: Principal, fmt: str, content: str, traceparent: str, kind: str = "households"
) -> dict:
    total = count_rows(fmt, content, kind)
    if not total:
        raise ValidationProblem.field("body", "non_empty", "the file holds no rows")
    if total > MAX_ROWS:
        raise ValidationProblem.field("body", "max_rows", f"at most {MAX_ROWS} households per file")
    now = uow.now()
    job = dict(
        id=str(uuid.uuid4()),
        actor=actor.model_dump(mode="json"),
        traceparent=traceparent,
        format=fmt,
        kind=kind,
        content_sha256=hashlib.sha256(content.encode()).hexdigest(),
        status="queued",
        total=total,
        processed=0,
        imported=0,
        unchanged=0,
        failed=0,
        created_at=now,
        updated_at=now,
    )
    await uow.imports.add({**job, "content": content})
    return {**job, "errors": []}


async def get_job(uow: RegistryUnitOfWork, job_id: str) -> dict | None:
    job = await uow.imports.get(job_id)
    return job and {**job, "errors": await uow.imports.errors(job_id, ERRORS_SHOWN)}


async def run_job(
    uow_factory: Callable[[], RegistryUnitOfWork], job_id: str, validators: Mapping[str, RowValidator]
) -> None:
    """Process the rows not yet counted. Safe to call again after a crash, on a finished job, and from
    several workers at once (each row claims the job; a worker that finds it held stops). `validators`
    holds the row validator of each kind."""
    async with uow_factory() as uow:
        job = await uow.imports.get(job_id)
        if job is None or job["status"] == "done":
            return
        content = await uow.imports.content(job_id)
    actor = Principal.model_validate(job["actor"])
    rows = parse_rows(job["format"], content, job["kind"])
    validate = validators[job["kind"]]
    while True:
        async with uow_factory() as uow:
            processed = await uow.imports.claim(job_id)
            if processed is None:
                return  # done, or another worker holds it
            if processed >= len(rows):
                await uow.imports.finish(job_id)
                await uow.commit()
                return
            if job["kind"] == "restatements":
                # Refused rows write nothing, so one transaction per chunk on either database.
                await _restate_chunk(uow, validate, rows[processed : processed + CHUNK_ROWS], processed, job_id, actor)
                await uow.commit()
                continue
            await _import_chunk(uow, validate, rows[processed : processed + CHUNK_ROWS], processed, job_id, actor)
            await uow.commit()


async def _import_chunk(
    uow: RegistryUnitOfWork, validate: RowValidator, chunk: list[Row], start: int, job_id: str, actor: Principal
) -> None:
    """Set-based: every row is checked in Python against one read of the chunk's external refs and
    persons, then the accepted households are written with one statement per table. If a concurrent
    registration wins a race in between, the database's unique rules refuse the set and the chunk is
    imported row by row instead, which reports the loser as a row error."""
    outcomes = dict.fromkeys(("imported", "unchanged", "failed"), 0)
    errors: list[dict] = []

    def refuse(line: int, data: dict | None, problem: Problem | str) -> None:
        outcomes["failed"] += 1
        errors.append({"line": line, "external_ref": _ref_of(data), "error": _message(problem)})

    built: list[tuple[int, dict, dict, Household | None]] = []  # (line, row, fields, household | None if known)
    refs = [d["external_ref"] for _, d, _ in chunk if d and isinstance(d.get("external_ref"), str)]
    known = await uow.households.regions_of_external_refs(refs)
    for line, data, error in chunk:
        if error is not None:
            refuse(line, data, error)
            continue
        try:
            fields = _validated(validate, data or {})
            await services.check_region(uow, fields["region_code"], actor)
            household = None
            if fields["external_ref"] not in known:
                household = services.new_household(
                    fields["household"], fields["members"], uow.today(), fields["incomes"], fields["expenses"]
                )
            built.append((line, data or {}, fields, household))
        except Problem as exc:
            refuse(line, data, exc)
    hashes = {id(h): uow.households.person_hashes(h) for _, _, _, h in built if h is not None}
    owners = await uow.households.owners_of_persons([x for hs in hashes.values() for x in hs])
    accepted: list[tuple[Household, str]] = []
    for line, data, fields, household in built:
        ref = fields["external_ref"]
        try:
            owner = known.get(ref)
            if owner is not None:  # registered before, or by an earlier row of this chunk
                _check_owner_visible(owner, actor)
                outcomes["unchanged"] += 1
                continue
            assert household is not None
            taken = next((owners[x] for x in hashes[id(household)] if x in owners), None)
            if taken is not None:
                raise services.person_registered_elsewhere(*taken, actor)
        except Problem as exc:
            refuse(line, data, exc)
            continue
        known[ref] = (household.id, household.region_code)
        owners.update(dict.fromkeys(hashes[id(household)], (household.id, household.region_code)))
        accepted.append((household, fields["reason"] or "bulk import"))
        outcomes["imported"] += 1
    try:
        async with uow.savepoint():
            await services.register_households(uow, accepted, actor)
    except IntegrityError:
        await _import_chunk_row_by_row(uow, validate, chunk, start, job_id, actor)
        return
    await uow.imports.count_rows(job_id, start + len(chunk), outcomes, errors)


async def _import_chunk_row_by_row(
    uow: RegistryUnitOfWork, validate: RowValidator, chunk: list[Row], start: int, job_id: str, actor: Principal
) -> None:
    """Rows in one transaction, each in a savepoint: a refused row is undone alone and reported."""
    outcomes = dict.fromkeys(("imported", "unchanged", "failed"), 0)
    errors = []
    refs = [d["external_ref"] for _, d, _ in chunk if d and isinstance(d.get("external_ref"), str)]
    known = await uow.households.regions_of_external_refs(refs)  # one read for the chunk
    for line, data, error in chunk:
        outcome = "failed"
        if error is None:
            try:
                async with uow.savepoint():
                    outcome = await _import_one(uow, validate, data or {}, actor, known)
            except Problem as exc:
                error = _message(exc)
        outcomes[outcome] += 1
        if error is not None:
            errors.append({"line": line, "external_ref": _ref_of(data), "error": error})
    await uow.imports.count_rows(job_id, start + len(chunk), outcomes, errors)


async def _restate_chunk(
    uow: RegistryUnitOfWork, validate: RowValidator, chunk: list[Row], start: int, job_id: str, actor: Principal
) -> None:
    """Set-based: the chunk's households are read once, locked; each row is applied in Python (all of
    its incomes or none); the changed households are saved with one statement per table."""
    outcomes = dict.fromkeys(("imported", "unchanged", "failed"), 0)
    errors: list[dict] = []

    def refuse(line: int, data: dict | None, problem: Problem | str) -> None:
        outcomes["failed"] += 1
        errors.append({"line": line, "external_ref": _ref_of(data), "error": _message(problem)})

    valid: list[tuple[int, dict, dict]] = []
    for line, data, error in chunk:
        if error is not None:
            refuse(line, data, error)
            continue
        try:
            valid.append((line, data or {}, _validated(validate, data or {})))
        except Problem as exc:
            refuse(line, data, exc)
    loaded = await uow.households.get_many_by_external_refs([fields["external_ref"] for _, _, fields in valid])
    by_ref = {h.external_ref: h for h in loaded}
    restated: dict[str, services.Restated] = {}  # by household id, in the order first changed
    for line, data, fields in valid:
        household = by_ref.get(fields["external_ref"])
        if household is None or not actor.may_see_household(household.id, household.region_code):
            # Outside the caller's scope it is reported as absent, so refs cannot be probed.
            refuse(
                line,
                data,
                ValidationProblem.field(
                    "external_ref", "registered", "no household in your scope has this external_ref"
                ),
            )
            continue
        try:
            incomes, previous_status = household.restate(fields["incomes"], fields["poverty_status"])
        except RegistryRuleBroken as exc:
            refuse(line, data, ValidationProblem.field(exc.field, exc.rule, str(exc)))
            continue
        if not incomes and previous_status is None:
            outcomes["unchanged"] += 1
            continue
        outcomes["imported"] += 1
        _, reason, changed, first_status = restated.get(
            household.id, (household, fields.get("reason") or "monthly comparison", [], None)
        )
        # Two rows of one household in a chunk: one version, one event, the status it had before both.
        restated[household.id] = (household, reason, changed + incomes, first_status or previous_status)
    await services.restate_households(uow, list(restated.values()), actor)
    await uow.imports.count_rows(job_id, start + len(chunk), outcomes, errors)


def _message(problem: Problem | str) -> str:
    if isinstance(problem, str):
        return problem
    return "; ".join(f"{e.get('field')}: {e.get('message')}" for e in problem.errors) or problem.detail


def _ref_of(data: dict | None) -> str | None:
    ref = (data or {}).get("external_ref")
    return ref[:100] if isinstance(ref, str) else None


def _validated(validate: RowValidator, data: dict) -> dict:
    try:
        fields = validate(data)
    except RecursionError:
        raise ValidationProblem.field("body", "max_depth", "the row is nested too deeply") from None
    if not fields.get("external_ref"):
        raise ValidationProblem.field(
            "external_ref",
            "required_for_import",
            "imported rows need external_ref, so that re-running a file changes nothing",
        )
    return fields


def _check_owner_visible(owner: tuple[str, str], actor: Principal) -> None:
    if not actor.may_see_household(*owner):
        # Held by a household outside the caller's scope: say neither where nor which.
        raise ValidationProblem.field(
            "external_ref",
            "unique_external_ref",
            "this external_ref is already used by another registry office's record",
        )


async def _import_one(
    uow: RegistryUnitOfWork,
    validate: RowValidator,
    data: dict,
    actor: Principal,
    known: dict[str, tuple[str, str]] | None = None,
) -> str:
    """Import one row; `known` maps the external refs of this chunk already registered to (id, region)
    (without it, the row's ref is looked up on its own)."""
    fields = _validated(validate, data)
    await services.check_region(uow, fields["region_code"], actor)
    if known is not None:
        owner = known.get(fields["external_ref"])
    else:
        found = await uow.households.get_by_external_ref(fields["external_ref"])
        owner = (found.id, found.region_code) if found else None
    if owner is not None:
        _check_owner_visible(owner, actor)
        return "unchanged"
    household = await services.register_household(
        uow,
        fields["household"],
        fields["members"],
        actor,
        fields["reason"] or "bulk import",
        incomes=fields["incomes"],
        expenses=fields["expenses"],
    )
    if known is not None:  # a later row of the same chunk with this ref is then "unchanged"
        known[fields["external_ref"]] = (household.id, household.region_code)
    return "imported"
