"""Eligibility persistence in domain terms."""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

import orjson
from sqlalchemy import bindparam, func, insert, literal, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.eligibility.adapters import orm
from services.eligibility.domain.model import PriorState
from services.eligibility.domain.parameters import Category, Standard, region_chain
from shared.clock import Clock, utc_now
from shared.db import insert_many, one_of
from shared.ids import new_record_id


def _standard(row) -> Standard:
    return Standard(
        id=row.id,
        region_code=row.region_code,
        category=Category(row.category),
        effective_from=row.effective_from,
        effective_to=row.effective_to,
        value=Decimal(row.value).normalize() if row.value is not None else Decimal(0),
        period=row.period,
        legal_ref=row.legal_ref,
        recorded_at=_aware(row.recorded_at),
        recorded_by=row.recorded_by,
    )


def _json(value) -> str:
    return orjson.dumps(value).decode()


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class StandardRepository:
    def __init__(self, session: AsyncSession, clock: Clock = utc_now):
        self.session, self.clock = session, clock
        # Per unit of work (one transaction, e.g. a batch of events): a region's standards are read once.
        self._for_region: dict[str, list[Standard]] = {}

    async def for_region(self, region_code: str) -> list[Standard]:
        """Every standard of the region and its ancestors (what inheritance can reach); read once per
        transaction, so a batch of events of one county reads them once."""
        if region_code not in self._for_region:
            self._for_region[region_code] = await self._read_region(region_code)
        return self._for_region[region_code]

    async def _read_region(self, region_code: str) -> list[Standard]:
        rows = (
            await self.session.execute(
                select(orm.standards).where(orm.standards.c.region_code.in_(region_chain(region_code)))
            )
        ).all()
        return [_standard(r) for r in rows]

    async def under(self, prefix: str) -> list[Standard]:
        """Standards of every region starting with `prefix` plus the ancestors of `prefix` (bulk jobs)."""
        rows = (
            await self.session.execute(
                select(orm.standards).where(
                    orm.standards.c.region_code.like(prefix + "%")
                    | orm.standards.c.region_code.in_(region_chain(prefix))
                )
            )
        ).all()
        return [_standard(r) for r in rows]

    async def query(self, region_code: str | None, category: str | None) -> list[Standard]:
        query = select(orm.standards)
        if region_code:
            query = query.where(orm.standards.c.region_code.in_(region_chain(region_code)))
        if category:
            query = query.where(orm.standards.c.category == category)
        rows = (
            await self.session.execute(
                query.order_by(orm.standards.c.category, orm.standards.c.region_code, orm.standards.c.effective_from)
            )
        ).all()
        return [_standard(r) for r in rows]

    async def add(self, standard: Standard) -> Standard:
        self._for_region.clear()  # what this transaction reads next includes the new standard
        standard_id = standard.id or new_record_id()
        await self.session.execute(
            insert(orm.standards).values(
                id=standard_id,
                region_code=standard.region_code,
                category=standard.category.value,
                effective_from=standard.effective_from,
                effective_to=standard.effective_to,
                value=standard.value,
                period=standard.period,
                legal_ref=standard.legal_ref,
                recorded_by=standard.recorded_by or "",
                recorded_at=standard.recorded_at,
            )
        )
        return Standard(**{**standard.__dict__, "id": standard_id})

    async def add_many(self, standards: list[Standard]) -> None:
        self._for_region.clear()
        await self.session.execute(
            insert(orm.standards),
            [
                dict(
                    id=new_record_id(),
                    region_code=s.region_code,
                    category=s.category.value,
                    effective_from=s.effective_from,
                    effective_to=s.effective_to,
                    value=s.value,
                    period=s.period,
                    legal_ref=s.legal_ref,
                    recorded_by=s.recorded_by or "",
                    recorded_at=s.recorded_at,
                )
                for s in standards
            ],
        )

    async def stamp(self) -> tuple[int, datetime | None]:
        """What identifies the set of standards (they are only ever added): count and latest record."""
        row = (await self.session.execute(select(func.count(), func.max(orm.standards.c.recorded_at)))).one()
        return int(row[0]), row[1]

    async def count(self) -> int:
        return await self.session.scalar(select(func.count()).select_from(orm.standards)) or 0

    async def categories(self) -> set[str]:
        """The categories that have at least one standard."""
        return set(await self.session.scalars(select(orm.standards.c.category).distinct()))


COUNTY_DIGITS = 6
COUNTY_LOCK_SPACE = 0x656C  # the first key of PostgreSQL's two-key advisory locks: "el"(igibility) counties


def county_lock_key(region_code: str) -> int:
    """A signed 32-bit key per county (a rare collision only makes two counties wait for each other)."""
    return zlib.crc32(region_code[:COUNTY_DIGITS].encode()) - (1 << 31)


def _next_prefix(prefix: str) -> str:
    """The smallest string after every string starting with `prefix` (region codes are digits)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


class ReadModelRow(NamedTuple):
    """A household's read-model row, as evaluations read it."""

    household_id: str
    version: int
    region_code: str
    cadre_id: str | None
    snapshot: dict[str, Any]
    state: Any
    current_decisions: Any
    decision_sequence: int


class HouseholdReadModel:
    def __init__(self, session: AsyncSession, clock: Clock = utc_now):
        self.session, self.clock = session, clock

    async def get(self, household_id: str, *, for_update: bool = False):
        query = select(orm.households).where(orm.households.c.household_id == household_id)
        if for_update:
            query = query.with_for_update()
        return (await self.session.execute(query)).first()

    async def get_many(self, household_ids: Sequence[str], *, for_update: bool = False) -> dict[str, Any]:
        """Rows by household id, locked in id order when `for_update` (two batches never wait on each
        other in opposite orders)."""
        if not household_ids:
            return {}
        query = (
            select(orm.households)
            .where(one_of(self.session, orm.households.c.household_id, household_ids))
            .order_by(orm.households.c.household_id)
        )
        if for_update:
            query = query.with_for_update()
        return {row.household_id: row for row in (await self.session.execute(query)).all()}

    async def upsert_many(
        self,
        snapshots: Sequence[tuple[str, int, str, dict[str, Any], str | None]],
        locked: Mapping[str, Any],
    ) -> dict[str, ReadModelRow]:
        """New snapshots (household id, version, region, snapshot, cadre) in two statements: the rows
        (inserted or updated) and the snapshot history. Returns each household's row as it now stands,
        built from the rows the caller read and locked (`locked`, from `get_many(for_update=True)`) and
        the new values, without reading it back."""
        if not snapshots:
            return {}
        rows = {
            h: ReadModelRow(
                household_id=h,
                version=v,
                region_code=r,
                cadre_id=c,
                snapshot=s,
                state=locked[h].state if h in locked else None,
                current_decisions=locked[h].current_decisions if h in locked else None,
                decision_sequence=locked[h].decision_sequence if h in locked else 0,
            )
            for h, v, r, s, c in snapshots
        }
        await self._upsert_many(snapshots)
        return rows

    async def _upsert_many(self, snapshots: Sequence[tuple[str, int, str, dict[str, Any], str | None]]) -> None:
        now = self.clock()
        if self.session.bind.dialect.name == "postgresql":
            # One statement over unnested arrays (a multi-row VALUES is compiled anew for every batch size).
            serialised = [_json(s) for _, _, _, s, _ in snapshots]
            await self.session.execute(
                text(
                    "INSERT INTO households (household_id, version, region_code, snapshot, cadre_id, updated_at) "
                    "SELECT h, v, r, s::json, c, :now FROM unnest(CAST(:ids AS text[]), "
                    "CAST(:versions AS int[]), CAST(:regions AS text[]), CAST(:snapshots AS text[]), "
                    "CAST(:cadres AS text[])) AS t(h, v, r, s, c) "
                    "ON CONFLICT (household_id) DO UPDATE SET version = excluded.version, "
                    "region_code = excluded.region_code, snapshot = excluded.snapshot, "
                    "cadre_id = excluded.cadre_id, updated_at = excluded.updated_at"
                ),
                {
                    "now": now,
                    "ids": [h for h, _, _, _, _ in snapshots],
                    "versions": [v for _, v, _, _, _ in snapshots],
                    "regions": [r for _, _, r, _, _ in snapshots],
                    "snapshots": serialised,
                    "cadres": [c for _, _, _, _, c in snapshots],
                },
            )
            await insert_many(  # the same JSON again (see shared.db.serialised_json)
                self.session,
                orm.household_snapshots,
                [
                    dict(household_id=h, version=v, snapshot=orjson.Fragment(json), recorded_at=now)
                    for (h, v, _, _, _), json in zip(snapshots, serialised, strict=True)
                ],
            )
            return
        rows = [
            dict(household_id=h, version=v, region_code=r, snapshot=s, cadre_id=c, updated_at=now)
            for h, v, r, s, c in snapshots
        ]
        dialect_insert = pg_insert if self.session.bind.dialect.name == "postgresql" else sqlite_insert
        statement = dialect_insert(orm.households).values(rows)
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=[orm.households.c.household_id],
                set_={
                    c: statement.excluded[c] for c in ("version", "region_code", "snapshot", "cadre_id", "updated_at")
                },
            )
        )
        await insert_many(
            self.session,
            orm.household_snapshots,
            [dict(household_id=h, version=v, snapshot=s, recorded_at=now) for h, v, _, s, _ in snapshots],
        )

    async def upsert(
        self, household_id: str, version: int, region_code: str, snapshot: dict, cadre_id: str | None, exists: bool
    ) -> None:
        values = dict(
            version=version, region_code=region_code, cadre_id=cadre_id, snapshot=snapshot, updated_at=self.clock()
        )
        if exists:
            await self.session.execute(
                update(orm.households).where(orm.households.c.household_id == household_id).values(**values)
            )
        else:
            await self.session.execute(insert(orm.households).values(household_id=household_id, **values))
        await self.session.execute(
            insert(orm.household_snapshots).values(
                household_id=household_id, version=version, snapshot=snapshot, recorded_at=values["updated_at"]
            )
        )

    async def snapshot_at(self, household_id: str, version: int) -> dict | None:
        return await self.session.scalar(
            select(orm.household_snapshots.c.snapshot).where(
                orm.household_snapshots.c.household_id == household_id, orm.household_snapshots.c.version == version
            )
        )

    async def save_results(
        self, results: Sequence[tuple[str, PriorState | dict[str, Any], list[dict[str, Any]]]]
    ) -> None:
        """After evaluations: each household's new entitlement state (a model or its JSON) and its
        decisions in force (`model.stored_current`), in one set-based statement."""
        if not results:
            return
        values = [
            (hid, state if isinstance(state, dict) else state.model_dump(mode="json"), current)
            for hid, state, current in results
        ]
        if self.session.bind.dialect.name == "postgresql":
            # One UPDATE over unnested arrays: an executemany would be one round of work per household.
            await self.session.execute(
                text(
                    "UPDATE households h SET state = v.state::json, current_decisions = v.current::json, "
                    "decision_sequence = h.decision_sequence + 1 "
                    "FROM unnest(CAST(:ids AS text[]), CAST(:states AS text[]), CAST(:currents AS text[])) "
                    "AS v(id, state, current) WHERE h.household_id = v.id"
                ),
                {
                    "ids": [hid for hid, _, _ in values],
                    "states": [_json(state) for _, state, _ in values],
                    "currents": [_json(current) for _, _, current in values],
                },
            )
            return
        await self.session.execute(
            update(orm.households)
            .where(orm.households.c.household_id == bindparam("hid"))
            .values(
                state=bindparam("new_state"),
                current_decisions=bindparam("new_current"),
                decision_sequence=orm.households.c.decision_sequence + 1,
            )
            .execution_options(synchronize_session=False),
            [{"hid": hid, "new_state": state, "new_current": current} for hid, state, current in values],
        )

    async def batch(self, prefix: str, after: tuple[str, str], limit: int) -> Sequence[Any]:
        """The next households under `prefix` after `after` = (region_code, household_id), in that order
        (the region index serves it). Not row-locked: the job holds its county's lock instead."""
        h = orm.households.c
        # A partition key shorter than a county is a household registered above county level: only that code.
        # The explicit range bounds the index scan whatever the column's collation: PostgreSQL turns
        # LIKE 'p%' into a range only under "C" (shared.db.Code), and without one each batch would read on
        # through the counties after this one.
        under = (
            h.region_code.like(prefix + "%") & (h.region_code >= prefix) & (h.region_code < _next_prefix(prefix))
            if len(prefix) >= COUNTY_DIGITS
            else h.region_code == prefix
        )
        return (
            await self.session.execute(
                select(orm.households)
                .where(under, tuple_(h.region_code, h.household_id) > tuple_(literal(after[0]), literal(after[1])))
                .order_by(h.region_code, h.household_id)
                .limit(limit)
            )
        ).all()

    async def lock_counties_shared(self, region_codes: Sequence[str]) -> None:
        """`lock_county(..., exclusive=False)` for several counties in one statement, in key order."""
        if self.session.bind.dialect.name != "postgresql" or not region_codes:
            return
        keys = sorted({county_lock_key(code) for code in region_codes})
        await self.session.execute(
            text("SELECT pg_advisory_xact_lock_shared(:space, k) FROM unnest(CAST(:keys AS int[])) AS k ORDER BY k"),
            {"space": COUNTY_LOCK_SPACE, "keys": keys},
        )

    async def lock_county(self, region_code: str, *, exclusive: bool) -> None:
        """Order a job's batch and registry events of one county (PostgreSQL advisory lock, held to the end
        of the transaction). A batch holds it exclusively, an event handler shared: an event for a
        household in a batch waits, then is evaluated on top of the job's result, never the other way
        round (which would leave a decision made on an older snapshot current). One lock per batch
        instead of a row lock per household: row locks write every row twice. SQLite runs one write
        transaction at a time anyway."""
        if self.session.bind.dialect.name != "postgresql":
            return
        function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
        await self.session.execute(
            text(f"SELECT {function}(:space, :key)"), {"space": COUNTY_LOCK_SPACE, "key": county_lock_key(region_code)}
        )

    async def partitions(self, prefix: str) -> list[tuple[str, int]]:
        """How a job under `prefix` splits: (partition key, households), one per county (or the prefix
        itself when it is finer than a county)."""
        if len(prefix) >= COUNTY_DIGITS:
            count = await self.session.scalar(
                select(func.count()).select_from(orm.households).where(orm.households.c.region_code.like(prefix + "%"))
            )
            return [(prefix, count)] if count else []
        county = func.substr(orm.households.c.region_code, 1, COUNTY_DIGITS)
        return [
            (r[0], r[1])
            for r in (
                await self.session.execute(
                    select(county, func.count())
                    .where(orm.households.c.region_code.like(prefix + "%"))
                    .group_by(county)
                    .order_by(county)
                )
            ).all()
        ]


class DecisionRepository:
    def __init__(self, session: AsyncSession, clock: Clock = utc_now):
        self.session, self.clock = session, clock

    async def current(self, household: Any) -> Sequence[Any]:
        """The decisions in force of a household (its read-model row, already read), with explanations."""
        ids = [d["id"] for d in household.current_decisions or ()]
        if not ids:
            return []
        return (
            await self.session.execute(
                select(orm.decisions)
                .where(orm.decisions.c.id.in_(ids))
                .order_by(orm.decisions.c.programme, orm.decisions.c.member_id)
            )
        ).all()

    async def history(self, household_id: str) -> Sequence[Any]:
        return (
            await self.session.execute(
                select(orm.decisions)
                .where(orm.decisions.c.household_id == household_id)
                .order_by(orm.decisions.c.created_at, orm.decisions.c.programme)
            )
        ).all()

    async def get(self, decision_id: str):
        return (await self.session.execute(select(orm.decisions).where(orm.decisions.c.id == decision_id))).first()

    async def add_many(
        self, added: list[dict], *, as_of: date, trigger: str, versions: dict[str, int], known_at: datetime | None
    ) -> None:
        """New decisions (the caller records them as in force on the household row). Each carries its
        inputs (prior state, standards known at); a decision without `explanation` (bulk runs) has it
        reproduced on request."""
        if not added:
            return
        now = self.clock()
        await insert_many(
            self.session,
            orm.decisions,
            [
                dict(
                    id=a["id"],
                    household_id=a["household_id"],
                    programme=str(d.programme),
                    member_id=d.member_id,
                    status=str(d.status),
                    scope=d.scope,
                    monthly_amount_fen=d.monthly_amount_fen,
                    valid_from=d.valid_from,
                    valid_until=d.valid_until,
                    change=a["change"],
                    household_version=versions.get(a["household_id"]),
                    as_of=as_of,
                    trigger=a.get("trigger", trigger),
                    explanation=getattr(d, "explanation", None),
                    prior_state=a["prior_state"],
                    known_at=known_at,
                    created_at=now,
                )
                for a in added
                for d in [a["decision"]]
            ],
        )


class SignalRepository:
    def __init__(self, session: AsyncSession, clock: Clock = utc_now):
        self.session, self.clock = session, clock

    async def add_many(self, signals: list[dict]) -> None:
        if signals:
            now = self.clock()
            await self.session.execute(insert(orm.signals), [{**s, "raised_at": now} for s in signals])

    async def for_household(self, household_id: str) -> Sequence[Any]:
        return (
            await self.session.execute(
                select(orm.signals).where(orm.signals.c.household_id == household_id).order_by(orm.signals.c.raised_at)
            )
        ).all()


class JobRepository:
    """Jobs and their partitions. A job's progress is the sum of its partitions'."""

    def __init__(self, session: AsyncSession, clock: Clock = utc_now):
        self.session, self.clock = session, clock

    async def exists(self, kind: str, as_of: date) -> bool:
        """A job of this kind was already created for this business day (scheduled runs happen once)."""
        found = await self.session.scalar(
            select(orm.jobs.c.id).where(orm.jobs.c.kind == kind, orm.jobs.c.as_of == as_of).limit(1)
        )
        return found is not None

    async def add(self, partitions: list[dict], **values) -> None:
        await self.session.execute(insert(orm.jobs).values(**values))
        if partitions:
            await self.session.execute(
                insert(orm.job_partitions),
                [
                    dict(
                        job_id=values["id"],
                        status="running",
                        processed=0,
                        changed=0,
                        updated_at=values["updated_at"],
                        **p,
                    )
                    for p in partitions
                ],
            )

    def _with_progress(self):
        p = orm.job_partitions.c
        progress = (
            select(p.job_id, func.sum(p.processed).label("processed"), func.sum(p.changed).label("changed"))
            .group_by(p.job_id)
            .subquery()
        )
        return select(
            orm.jobs,
            func.coalesce(progress.c.processed, 0).label("processed"),
            func.coalesce(progress.c.changed, 0).label("changed"),
        ).outerjoin(progress, progress.c.job_id == orm.jobs.c.id)

    async def get(self, job_id: str, *, with_progress: bool = True):
        """A job; with its progress summed over its partitions unless a worker only needs the job itself."""
        query = self._with_progress() if with_progress else select(orm.jobs)
        return (await self.session.execute(query.where(orm.jobs.c.id == job_id))).first()

    async def claim_partition(self, job_id: str):
        """A running partition of the job no other worker holds, locked until this transaction ends."""
        p = orm.job_partitions.c
        query = select(orm.job_partitions).where(p.job_id == job_id, p.status == "running").order_by(p.region_prefix)
        if self.session.bind.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        return (await self.session.execute(query.limit(1))).first()

    async def advance(
        self, job_id: str, region_prefix: str, *, after: tuple[str, str], processed: int, changed: int
    ) -> None:
        p = orm.job_partitions.c
        await self.session.execute(
            update(orm.job_partitions)
            .where(p.job_id == job_id, p.region_prefix == region_prefix)
            .values(
                cursor_region=after[0],
                cursor_household=after[1],
                processed=p.processed + processed,
                changed=p.changed + changed,
                updated_at=self.clock(),
            )
        )

    async def finish_partition(self, job_id: str, region_prefix: str) -> bool:
        """Mark a partition done; the worker finishing the last one marks the job done. Returns whether
        the job is done. The job row is locked first so two workers finishing its last two partitions
        at once cannot both see the other's still running."""
        p = orm.job_partitions.c
        await self.session.execute(select(orm.jobs.c.id).where(orm.jobs.c.id == job_id).with_for_update())
        now = self.clock()
        await self.session.execute(
            update(orm.job_partitions)
            .where(p.job_id == job_id, p.region_prefix == region_prefix)
            .values(status="done", updated_at=now)
        )
        others = await self.session.scalar(
            select(func.count()).select_from(orm.job_partitions).where(p.job_id == job_id, p.status != "done")
        )
        if others:
            return False
        await self.update(job_id, status="done")
        return True

    async def update(self, job_id: str, **values) -> None:
        await self.session.execute(
            update(orm.jobs).where(orm.jobs.c.id == job_id).values(updated_at=self.clock(), **values)
        )

    async def unfinished(self) -> Sequence[Any]:
        return (await self.session.execute(select(orm.jobs).where(orm.jobs.c.status != "done"))).all()

    async def recent(self, prefix: str, limit: int = 50) -> Sequence[Any]:
        return (
            await self.session.execute(
                self._with_progress()
                .where(orm.jobs.c.region_prefix.like(prefix + "%"))
                .order_by(orm.jobs.c.created_at.desc())
                .limit(limit)
            )
        ).all()
