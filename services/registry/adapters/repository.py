"""Households and regions, persisted. The repository speaks in domain objects; SQL stays here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import ColumnElement, and_, bindparam, delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.adapters import orm
from services.registry.domain.exits import ExitCase
from services.registry.domain.model import Household, PersonRegisteredElsewhere, StaleVersion
from shared.clock import Clock
from shared.db import insert_many, one_of, serialised_json
from shared.sealing import Sealer

# A save's UPDATE, built once: one built per call spent more CPU on the statement's cache key than on
# sending it (an income correction saves one household per request).
_HOUSEHOLD_COLUMNS = ("region_code", "poverty_status", "flags", "cadre_id", "version", "document", "updated_at")
_UPDATE_HOUSEHOLD = (
    update(orm.households)
    .where(orm.households.c.id == bindparam("b_id"), orm.households.c.version == bindparam("b_expected"))
    .values({c: bindparam(c) for c in (*_HOUSEHOLD_COLUMNS, "external_ref")})
)


def _row(household: Household, flags: list[str], document: Any, now: datetime) -> dict[str, Any]:
    """The household's row (but its id and created_at): the columns lists and filters read."""
    return dict(
        region_code=household.region_code,
        poverty_status=household.poverty_status.value,
        flags="," + ",".join(flags) + ",",
        cadre_id=household.assignment.cadre_id if household.assignment else None,
        version=household.version,
        document=document,
        updated_at=now,
        external_ref=household.external_ref,
    )


def _version_row(
    household: Household, document: Any, now: datetime, actor: str, reason: str | None, change: str
) -> dict[str, Any]:
    return dict(
        household_id=household.id,
        version=household.version,
        recorded_at=now,
        actor=actor,
        reason=reason,
        change=change,
        document=document,
    )


def _active_persons(household: Household) -> frozenset[tuple[str, str]]:
    return frozenset((m.id_number, m.id) for m in household.active_members)


class HouseholdRepository:
    def __init__(self, session: AsyncSession, sealer: Sealer, clock: Clock):
        self.session, self.sealer, self.clock = session, sealer, clock
        # The active members (ID number, member id) of each household as loaded in this unit of work: a
        # save that leaves them as they were (an income, an expense, a cadre) needs no person-id sync.
        self._members_loaded: dict[str, frozenset[tuple[str, str]]] = {}

    async def get(self, household_id: str, *, for_update: bool = False) -> Household | None:
        query = select(orm.households.c.document).where(orm.households.c.id == household_id)
        if for_update:
            query = query.with_for_update()
        document = await self.session.scalar(query)
        if not document:
            return None
        household = Household.model_validate(document)
        self._members_loaded[household.id] = _active_persons(household)
        return household

    async def regions_of_external_refs(self, refs: Sequence[str]) -> dict[str, tuple[str, str]]:
        """{external_ref: (household id, region code)} of the refs already registered."""
        if not refs:
            return {}
        rows = await self.session.execute(
            select(orm.households.c.external_ref, orm.households.c.id, orm.households.c.region_code).where(
                one_of(self.session, orm.households.c.external_ref, refs)
            )
        )
        return {r.external_ref: (r.id, r.region_code) for r in rows}

    async def get_by_external_ref(self, ref: str) -> Household | None:
        document = await self.session.scalar(
            select(orm.households.c.document).where(orm.households.c.external_ref == ref)
        )
        return Household.model_validate(document) if document else None

    async def get_many_by_external_refs(self, refs: Sequence[str]) -> list[Household]:
        """The households with these external refs, locked for update in id order (so two jobs touching
        the same households cannot deadlock)."""
        if not refs:
            return []
        documents = await self.session.scalars(
            select(orm.households.c.document)
            .where(one_of(self.session, orm.households.c.external_ref, refs))
            .order_by(orm.households.c.id)
            .with_for_update()
        )
        households = [Household.model_validate(d) for d in documents]
        for household in households:
            self._members_loaded[household.id] = _active_persons(household)
        return households

    async def as_of(self, household_id: str, moment: datetime) -> tuple[Household, dict] | None:
        row = (
            await self.session.execute(
                select(orm.household_versions)
                .where(
                    orm.household_versions.c.household_id == household_id,
                    orm.household_versions.c.recorded_at <= moment,
                )
                .order_by(orm.household_versions.c.version.desc())
                .limit(1)
            )
        ).first()
        if row is None:
            return None
        return Household.model_validate(row.document), {
            "version": row.version,
            "recorded_at": row.recorded_at,
            "actor": row.actor,
            "reason": row.reason,
            "change": row.change,
        }

    async def history(self, household_id: str) -> list[dict]:
        rows = (
            await self.session.execute(
                select(
                    orm.household_versions.c.version,
                    orm.household_versions.c.recorded_at,
                    orm.household_versions.c.actor,
                    orm.household_versions.c.reason,
                    orm.household_versions.c.change,
                )
                .where(orm.household_versions.c.household_id == household_id)
                .order_by(orm.household_versions.c.version)
            )
        ).all()
        return [dict(r._mapping) for r in rows]

    async def owner_of_person(self, id_number: str) -> str | None:
        return await self.session.scalar(
            select(orm.person_ids.c.household_id).where(orm.person_ids.c.id_hash == self.sealer.lookup_hash(id_number))
        )

    async def save(
        self,
        household: Household,
        *,
        expected_version: int | None,
        actor: str,
        reason: str | None,
        change: str,
        flags: list[str],
    ) -> None:
        """Insert (expected_version None) or update with optimistic concurrency; keeps the version."""
        now = self.clock()
        household.version = (expected_version or 0) + 1
        household.updated_at = now
        if household.created_at is None:
            household.created_at = now
        document = serialised_json(household.model_dump(mode="json"))  # once, for the row and its version
        values = _row(household, flags, document, now)
        if expected_version is None:
            await self.session.execute(insert(orm.households), {"id": household.id, "created_at": now, **values})
        else:
            result = await self.session.execute(
                _UPDATE_HOUSEHOLD, {"b_id": household.id, "b_expected": expected_version, **values}
            )
            if getattr(result, "rowcount", 0) != 1:
                raise StaleVersion(
                    f"household {household.id} changed since version {expected_version}; read it again and retry"
                )
        # The version check above proves nobody saved the household since it was loaded, so its person ids
        # are still those of the loaded members. Forgotten after one use: a savepoint rolled back later
        # must not leave a stale "already in sync".
        if self._members_loaded.pop(household.id, None) != _active_persons(household):
            await self._sync_person_ids(household)
        await self.session.execute(
            insert(orm.household_versions), _version_row(household, document, now, actor, reason, change)
        )

    async def add_many(
        self, registrations: Sequence[tuple[Household, str | None, list[str]]], *, actor: str, change: str
    ) -> None:
        """Insert new households, each with (reason, flags), in one statement per table (COPY for many);
        a household or person already present fails the whole set on the database's unique rules."""
        now = self.clock()
        households, versions, persons = [], [], []
        for household, reason, flags in registrations:
            household.version, household.created_at, household.updated_at = 1, now, now
            document = serialised_json(household.model_dump(mode="json"))  # once, for both tables
            households.append({"id": household.id, "created_at": now, **_row(household, flags, document, now)})
            versions.append(_version_row(household, document, now, actor, reason, change))
            persons += [
                {"id_hash": self.sealer.lookup_hash(m.id_number), "household_id": household.id, "member_id": m.id}
                for m in household.active_members
            ]
        await insert_many(self.session, orm.households, households)
        await insert_many(self.session, orm.person_ids, persons)
        await insert_many(self.session, orm.household_versions, versions)

    async def save_many(
        self, changes: Sequence[tuple[Household, str | None, list[str]]], *, actor: str, change: str
    ) -> None:
        """Save households loaded by `get_many_by_external_refs` in this unit of work, each with (reason,
        flags), as their next versions: one UPDATE sent for all and one insert of their versions. The
        rows are locked since they were loaded, so nobody can have changed them; their active members
        must be as loaded (incomes and expenses only)."""
        now = self.clock()
        rows, versions = [], []
        for household, reason, flags in changes:
            if self._members_loaded.pop(household.id, None) != _active_persons(household):
                raise ValueError(f"save_many saves households whose members are unchanged ({household.id})")
            household.version += 1
            household.updated_at = now
            document = serialised_json(household.model_dump(mode="json"))
            rows.append(
                {"b_id": household.id, "b_expected": household.version - 1, **_row(household, flags, document, now)}
            )
            versions.append(_version_row(household, document, now, actor, reason, change))
        if not rows:
            return
        await self.session.execute(_UPDATE_HOUSEHOLD, rows)
        await insert_many(self.session, orm.household_versions, versions)

    def person_hashes(self, household: Household) -> list[str]:
        return [self.sealer.lookup_hash(m.id_number) for m in household.active_members]

    async def owners_of_persons(self, id_hashes: Sequence[str]) -> dict[str, tuple[str, str]]:
        """{ID number's lookup hash: (household id, region code)} of the persons already registered."""
        if not id_hashes:
            return {}
        rows = await self.session.execute(
            select(orm.person_ids.c.id_hash, orm.households.c.id, orm.households.c.region_code)
            .join(orm.households, orm.households.c.id == orm.person_ids.c.household_id)
            .where(one_of(self.session, orm.person_ids.c.id_hash, id_hashes))
        )
        return {r.id_hash: (r.id, r.region_code) for r in rows}

    async def _sync_person_ids(self, household: Household) -> None:
        wanted = {self.sealer.lookup_hash(m.id_number): m.id for m in household.active_members}
        rows = (
            await self.session.execute(
                select(orm.person_ids).where(
                    or_(orm.person_ids.c.household_id == household.id, orm.person_ids.c.id_hash.in_(list(wanted)))
                )
            )
        ).all()
        existing = {r.id_hash: r for r in rows}
        for row in existing.values():
            if row.household_id != household.id:
                raise PersonRegisteredElsewhere(row.household_id)
        stale = [h for h in existing if h not in wanted]
        if stale:
            await self.session.execute(delete(orm.person_ids).where(orm.person_ids.c.id_hash.in_(stale)))
        new = [
            {"id_hash": h, "household_id": household.id, "member_id": m} for h, m in wanted.items() if h not in existing
        ]
        if new:
            await self.session.execute(insert(orm.person_ids), new)

    async def list(
        self,
        *,
        region_prefix: str,
        status: str | None,
        flag: str | None,
        household_id: str | None,
        after_id: str | None,
        limit: int,
    ) -> tuple[list[Household], str | None]:
        """A page in id order and the id to continue after (None on the last page)."""
        conditions: list[ColumnElement[bool]] = [orm.households.c.region_code.like(region_prefix + "%")]
        if status:
            conditions.append(orm.households.c.poverty_status == status)
        if flag:
            conditions.append(orm.households.c.flags.like(f"%,{flag},%"))
        if household_id:
            conditions.append(orm.households.c.id == household_id)
        if after_id:
            conditions.append(orm.households.c.id > after_id)
        rows = (
            (
                await self.session.execute(
                    select(orm.households.c.document)
                    .where(and_(*conditions))
                    .order_by(orm.households.c.id)
                    .limit(limit + 1)
                )
            )
            .scalars()
            .all()
        )
        items = [Household.model_validate(d) for d in rows[:limit]]
        return items, (items[-1].id if len(rows) > limit else None)


class RegionRepository:
    def __init__(self, session: AsyncSession, registered: dict[str, dict]):
        self.session = session
        # Regions are only ever added, never changed or removed: one found stays true for the process
        # (`registered` is shared by every unit of work of it). A code not found is read again next time,
        # since another process may add it; within one unit of work it is remembered.
        self._registered = registered
        self._absent: set[str] = set()
        self._added_here: set[str] = set()  # not committed yet: kept out of the process's cache

    async def get(self, code: str) -> dict | None:
        if code in self._registered:
            return self._registered[code]
        if code in self._absent:
            return None
        row = (await self.session.execute(select(orm.regions).where(orm.regions.c.code == code))).first()
        if row is None:
            self._absent.add(code)
            return None
        if code in self._added_here:
            return dict(row._mapping)
        self._registered[code] = dict(row._mapping)
        return self._registered[code]

    async def add(self, region: dict) -> None:
        self._absent.discard(region["code"])
        self._added_here.add(region["code"])
        await self.session.execute(insert(orm.regions).values(**region))

    async def list(self, *, prefix: str, level: str | None, parent: str | None) -> list[dict]:
        query = select(orm.regions).where(orm.regions.c.code.like(prefix + "%"))
        if level:
            query = query.where(orm.regions.c.level == level)
        if parent:
            query = query.where(orm.regions.c.parent_code == parent)
        return [dict(r._mapping) for r in (await self.session.execute(query.order_by(orm.regions.c.code))).all()]


class ImportJobRepository:
    """Import jobs: the uploaded file is read once per run; progress is counted in place and refused
    rows are appended, so each row costs the same however large the file."""

    PROGRESS: ClassVar[list] = [c for c in orm.import_jobs.c if c.name != "content"]

    def __init__(self, session: AsyncSession, clock: Clock):
        self.session, self.clock = session, clock

    async def add(self, job: dict) -> None:
        await self.session.execute(insert(orm.import_jobs).values(**job))

    async def get(self, job_id: str) -> dict | None:
        """The job's progress, without its file."""
        row = (await self.session.execute(select(*self.PROGRESS).where(orm.import_jobs.c.id == job_id))).first()
        return dict(row._mapping) if row else None

    async def content(self, job_id: str) -> str:
        query = select(orm.import_jobs.c.content).where(orm.import_jobs.c.id == job_id)
        content: str | None = await self.session.scalar(query)
        return content or ""

    async def errors(self, job_id: str, limit: int) -> list[dict]:
        rows = (
            await self.session.execute(
                select(
                    orm.import_job_errors.c.line, orm.import_job_errors.c.external_ref, orm.import_job_errors.c.error
                )
                .where(orm.import_job_errors.c.job_id == job_id)
                .order_by(orm.import_job_errors.c.line)
                .limit(limit)
            )
        ).all()
        return [dict(r._mapping) for r in rows]

    async def unfinished(self) -> list[tuple[str, str]]:
        """(job id, traceparent) of every job not done."""
        rows = await self.session.execute(
            select(orm.import_jobs.c.id, orm.import_jobs.c.traceparent).where(orm.import_jobs.c.status != "done")
        )
        return [(r.id, r.traceparent) for r in rows]

    async def count_rows(self, job_id: str, processed: int, outcomes: Mapping[str, int], errors: list[dict]) -> None:
        """Rows up to `processed` are done: the outcomes (imported | unchanged | failed) added in place,
        the refused rows appended to the report."""
        values: dict[Any, Any] = {c: c + outcomes[c.name] for c in orm.import_jobs.c if c.name in outcomes}
        values |= {
            orm.import_jobs.c.processed: processed,
            orm.import_jobs.c.status: "running",
            orm.import_jobs.c.updated_at: self.clock(),
        }
        await self.session.execute(update(orm.import_jobs).where(orm.import_jobs.c.id == job_id).values(values))
        if errors:
            await self.session.execute(insert(orm.import_job_errors), [{"job_id": job_id, **e} for e in errors])

    async def count_row(self, job_id: str, index: int, outcome: str, error: dict | None) -> None:
        """Row `index` (0-based) is done with `outcome` (imported | unchanged | failed)."""
        column = orm.import_jobs.c[outcome]
        await self.session.execute(
            update(orm.import_jobs)
            .where(orm.import_jobs.c.id == job_id)
            .values(
                {
                    column: column + 1,
                    orm.import_jobs.c.processed: index + 1,
                    orm.import_jobs.c.status: "running",
                    orm.import_jobs.c.updated_at: self.clock(),
                }
            )
        )
        if error is not None:
            await self.session.execute(insert(orm.import_job_errors).values(job_id=job_id, **error))

    async def finish(self, job_id: str) -> None:
        await self.session.execute(
            update(orm.import_jobs).where(orm.import_jobs.c.id == job_id).values(status="done", updated_at=self.clock())
        )

    async def claim(self, job_id: str) -> int | None:
        """Lock the job for this transaction and return how many rows it has counted; None if it is done
        or another worker holds it."""
        query = select(orm.import_jobs.c.processed).where(
            orm.import_jobs.c.id == job_id, orm.import_jobs.c.status != "done"
        )
        if self.session.bind.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        return await self.session.scalar(query)


class ExitCaseRepository:
    """Exit cases as documents; the one-open-case-per-household rule is the database's unique index."""

    def __init__(self, session: AsyncSession, clock: Clock):
        self.session, self.clock = session, clock

    async def get(self, case_id: str, *, for_update: bool = False) -> ExitCase | None:
        query = select(orm.exit_cases.c.document).where(orm.exit_cases.c.id == case_id)
        if for_update:
            query = query.with_for_update()
        document = await self.session.scalar(query)
        return ExitCase.model_validate(document) if document else None

    async def add(self, case: ExitCase) -> None:
        """Insert a new case. The caller checked for an open one under the household's row lock; the unique
        index is the backstop (IntegrityError)."""
        case.version = 1
        await self.session.execute(insert(orm.exit_cases).values(**self._row(case), created_at=self.clock()))

    async def save(self, case: ExitCase) -> None:
        """Write the case's next version (the caller holds its row lock)."""
        case.version += 1
        await self.session.execute(
            update(orm.exit_cases)
            .where(orm.exit_cases.c.id == case.id, orm.exit_cases.c.version == case.version - 1)
            .values(**self._row(case))
        )

    def _row(self, case: ExitCase) -> dict[str, Any]:
        return {
            "id": case.id,
            "household_id": case.household_id,
            "region_code": case.region_code,
            "status": case.status.value,
            "version": case.version,
            "document": case.model_dump(mode="json"),
            "updated_at": self.clock(),
        }

    async def open_of(self, household_id: str) -> ExitCase | None:
        c = orm.exit_cases.c
        document = await self.session.scalar(
            select(c.document).where(c.household_id == household_id, orm.OPEN_EXIT_CASE)
        )
        return ExitCase.model_validate(document) if document else None

    async def list(
        self, *, region_prefix: str, status: str | None, household_id: str | None, after_id: str, limit: int
    ) -> list[ExitCase]:
        c = orm.exit_cases.c
        query = select(c.document).where(c.region_code.startswith(region_prefix, autoescape=True), c.id > after_id)
        if status:
            query = query.where(c.status == status)
        if household_id:
            query = query.where(c.household_id == household_id)
        rows = await self.session.scalars(query.order_by(c.id).limit(limit))
        return [ExitCase.model_validate(document) for document in rows]
