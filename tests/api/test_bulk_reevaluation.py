"""A province-style re-evaluation decided by the vectorised path stores the same decisions, states,
signals and events as deciding every household with the scalar path, and the explanations it left out
are reproduced on request exactly as the scalar path would have written them (PostgreSQL)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from services.eligibility.adapters import orm
from services.eligibility.adapters.uow import EligibilityUnitOfWork
from services.eligibility.app import build_runtime, seed_standards_once
from services.eligibility.domain.parameters import Category, Standard
from services.eligibility.service_layer import jobs
from services.eligibility.service_layer.services import explanation_of
from shared.bus import InProcessBus
from shared.config import ServiceSettings
from shared.db import insert_many

REGIONS = ["220122", "220182", "220581"]
FIRST, SECOND = date(2021, 1, 15), date(2021, 8, 15)
STANDARD = 480_000  # around the seeded 2021 standards, so every branch is common
RAISED_AT = datetime(2021, 7, 20, tzinfo=UTC)  # the same in both databases: explanations compare whole


def population(count: int, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    households = []
    for i in range(count):
        size = rng.choice([1, 1, 2, 2, 3, 4])
        members = [
            {
                "id": f"m{j}",
                "birth_date": f"{rng.randint(1935, 2015)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}",
                "labour_capacity": rng.choice(["full", "full", "partial", "none"]),
                "disability_grade": rng.choice([None] * 8 + [1, 2, 3, 4]),
                "serious_illness": rng.random() < 0.08,
                "self_care": rng.choice(["full", "partial", "none"]),
                "has_legal_supporter": rng.random() < 0.93,
            }
            for j in range(size)
        ]
        incomes = [
            {
                "member_id": rng.choice(members)["id"],
                "type": rng.choice(["wages", "agriculture", "basic_pension", "poverty_project_guaranteed"]),
                "annual_amount_fen": int(STANDARD * size * rng.uniform(0.2, 1.6) / 2),
                "from": "2020-01-01",
                "to": None,
            }
            for _ in range(rng.randint(1, 3))
        ]
        if rng.random() < 0.3:  # incomes that end or start between the two runs
            incomes.append(
                {
                    "member_id": None,
                    "type": "wages",
                    "annual_amount_fen": rng.randint(50_000, 600_000),
                    "from": rng.choice(["2020-01-01", "2021-05-01"]),
                    "to": rng.choice([None, "2021-04-30"]),
                }
            )
        expenses = (
            [
                {
                    "type": "medical_self_paid",
                    "annual_amount_fen": rng.randint(10_000, 900_000),
                    "from": "2020-01-01",
                    "to": None,
                }
            ]
            if rng.random() < 0.3
            else []
        )
        households.append(
            {
                "id": f"hh-{i:05d}",
                "version": 1,
                "region_code": rng.choice(REGIONS),
                "registered_poor_status": rng.choice(["not_lifted", "lifted", "returned", "none"]),
                "members": members,
                "incomes": incomes,
                "expenses": expenses,
                "assets_meet_local_rule": rng.random() < 0.9,
            }
        )
    return households


async def prepare(databases, snapshots: list[dict]):
    """A database whose households were decided once at FIRST, then a standard raise at SECOND."""
    runtime = build_runtime(
        ServiceSettings.load(
            "eligibility", database_url=await databases.create("eligibility"), kafka_bootstrap_servers=None
        ),
        bus=InProcessBus(),
    )
    await seed_standards_once(runtime)
    now = datetime.now(UTC)
    factory = lambda: EligibilityUnitOfWork(runtime)  # noqa: E731
    async with factory() as uow:
        await insert_many(
            uow.session,
            orm.households,
            [
                dict(
                    household_id=s["id"],
                    version=1,
                    region_code=s["region_code"],
                    cadre_id="cadre-1",
                    snapshot=s,
                    state=None,
                    updated_at=now,
                )
                for s in snapshots
            ],
        )
        await insert_many(
            uow.session,
            orm.household_snapshots,
            [dict(household_id=s["id"], version=1, snapshot=s, recorded_at=now) for s in snapshots],
        )
        job = await jobs.create_job(
            uow,
            kind="monthly_comparison",
            region_prefix="22",
            as_of=FIRST,
            reason="first",
            traceparent=f"00-{'a' * 32}-{'b' * 16}-01",
        )
        await uow.commit()
    await jobs.run_job(factory, job["id"])
    async with factory() as uow:
        for code in REGIONS:
            await uow.standards.add(
                Standard(
                    region_code=code,
                    category=Category.RURAL_DIBAO,
                    effective_from=date(2021, 8, 1),
                    value=Decimal(STANDARD + 30_000),
                    period="year",
                    legal_ref="raise",
                    recorded_at=RAISED_AT,
                    recorded_by="test",
                )
            )
        await uow.session.execute(orm.platform.outbox.delete())
        await uow.commit()
    return runtime, factory


async def in_force(session) -> list:
    """The decisions in force: those the households' read-model rows point at."""
    ids = {
        d["id"]
        for (stored,) in (await session.execute(select(orm.households.c.current_decisions))).all()
        for d in stored or ()
    }
    return [d for d in (await session.execute(select(orm.decisions))).all() if d.id in ids]


async def outcome(factory) -> dict:
    async with factory() as uow:
        s = uow.session
        decisions = await in_force(s)
        return {
            "decisions": sorted(
                (
                    d.household_id,
                    d.programme,
                    d.member_id or "",
                    d.status,
                    d.monthly_amount_fen,
                    d.valid_from,
                    d.valid_until,
                    d.change,
                )
                for d in decisions
            ),
            "states": {r.household_id: r.state for r in (await s.execute(select(orm.households))).all()},
            "signals": sorted((r.household_id, r.kind) for r in (await s.execute(select(orm.signals))).all()),
            "events": sorted(
                (
                    r.key,
                    r.event_type,
                    tuple(
                        sorted(
                            (k, str(v)) for k, v in r.envelope["data"].items() if k not in ("decision_id", "signal_id")
                        )
                    ),
                )
                for r in (await s.execute(select(orm.platform.outbox))).all()
            ),
        }


@pytest.fixture(scope="module")
async def two_runs(databases):
    snapshots = population(600)
    runs = {}
    for kind in ("standard_changed", "monthly_comparison"):  # vectorised screening vs scalar for everyone
        runtime, factory = await prepare(databases, snapshots)
        async with factory() as uow:
            job = await jobs.create_job(
                uow,
                kind=kind,
                region_prefix="22",
                as_of=SECOND,
                reason="raise",
                traceparent=f"00-{'c' * 32}-{'d' * 16}-01",
            )
            await uow.commit()
        await jobs.run_job(factory, job["id"])
        runs[kind] = (runtime, factory)
    yield runs
    for runtime, _ in runs.values():
        await runtime.db.dispose()


async def test_workers_sharing_a_job_store_what_one_worker_stores(two_runs, databases, monkeypatch):
    """Three workers run one job at once (as separate worker processes would): they split it by county
    and batch, and the result is the single worker's, with every household counted once."""
    import asyncio

    monkeypatch.setattr(jobs, "BATCH_SIZE", 40)
    runtime, factory = await prepare(databases, population(600))
    try:
        async with factory() as uow:
            job = await jobs.create_job(
                uow,
                kind="standard_changed",
                region_prefix="22",
                as_of=SECOND,
                reason="raise",
                traceparent=f"00-{'c' * 32}-{'d' * 16}-01",
            )
            await uow.commit()
        batches = [0, 0, 0]

        def counter(worker: int):
            async def after_batch():
                batches[worker] += 1
                await asyncio.sleep(0)  # let the others claim

            return after_batch

        await asyncio.gather(*(jobs.run_job(factory, job["id"], after_batch=counter(w)) for w in range(3)))
        async with factory() as uow:
            done = await uow.jobs.get(job["id"])
        assert (done.status, done.processed, done.total) == ("done", 600, 600)
        if factory().db.is_sqlite:
            # SQLite has one write lock: the workers take turns, and whoever holds it may keep it.
            assert sum(batches) >= 600 // 40, batches
        else:
            assert sum(1 for b in batches if b) >= 2, batches  # the work was shared
        shared_run, single_run = await outcome(factory), await outcome(two_runs["standard_changed"][1])
        assert shared_run == single_run
        assert done.changed == len(shared_run["events"]) - sum(
            1 for e in shared_run["events"] if "signal.raised" in e[1]
        )
    finally:
        await runtime.db.dispose()


async def test_vectorised_run_stores_what_the_scalar_path_stores(two_runs):
    bulk = await outcome(two_runs["standard_changed"][1])
    scalar = await outcome(two_runs["monthly_comparison"][1])
    assert len(scalar["events"]) > 200  # the raise changed many decisions: the comparison means something
    assert bulk["decisions"] == scalar["decisions"]
    assert bulk["states"] == scalar["states"]
    assert bulk["signals"] == scalar["signals"]
    assert bulk["events"] == scalar["events"]


async def test_explanations_left_out_by_the_bulk_path_are_reproduced_exactly(two_runs):
    _, bulk_factory = two_runs["standard_changed"]
    _, scalar_factory = two_runs["monthly_comparison"]
    async with bulk_factory() as bulk, scalar_factory() as scalar:
        left_out = [d for d in await in_force(bulk.session) if d.explanation is None]
        assert len(left_out) > 100  # most changes of a standard raise are settled by the vectorised path
        scalar_in_force = {(d.household_id, d.programme): d for d in await in_force(scalar.session)}
        for decision in left_out[:60]:
            stored = scalar_in_force[(decision.household_id, decision.programme)].explanation
            reproduced = await explanation_of(bulk, decision)
            assert reproduced.pop("reproduced") is True
            assert reproduced == stored


async def test_a_registry_event_waits_for_the_job_batch_holding_its_county(two_runs, backend):
    """A job batch holds its county's lock; a registry event for a household there waits for the batch's
    commit and is then applied on top of it. Households of other counties are not held up."""
    import asyncio

    if backend == "sqlite":
        pytest.skip("county locks are PostgreSQL's: SQLite's one write lock holds up every county alike")

    from services.eligibility.service_layer.stream import apply_household_batch
    from shared.contracts.registry import HouseholdFacts, MemberFacts
    from shared.tracing import new_trace

    runtime, factory = two_runs["standard_changed"]

    def facts_of(row) -> HouseholdFacts:
        return HouseholdFacts(
            household_id=row.household_id,
            version=row.version + 1,
            region_code=row.region_code,
            poverty_status="none",
            flags=[],
            assets_meet_local_rule=True,
            cadre_id=None,
            members=[
                MemberFacts(
                    member_id="m0",
                    relation="head",
                    labour_capacity="full",
                    self_care="full",
                    left_behind="none",
                    has_legal_supporter=True,
                    active=True,
                )
            ],
            incomes=[],
            expenses=[],
            sealed=runtime.sealer.seal(
                {"m0": {"birth_date": "1980-01-01", "sex": "male", "disability_grade": None, "serious_illness": False}}
            ),
        )

    async def apply(facts):  # the consumer's path: a batch (here of one) from the registry stream
        async with factory() as uow:
            await apply_household_batch(uow, [(facts, "test-event", new_trace())], SECOND)
            await uow.commit()

    async with factory() as job_uow:
        await job_uow.households.lock_county(REGIONS[0], exclusive=True)
        rows = await job_uow.households.batch(REGIONS[0], ("", ""), 5)
        async with factory() as uow:
            elsewhere = (await uow.households.batch(REGIONS[1], ("", ""), 1))[0]
        held = asyncio.create_task(apply(facts_of(rows[0])))
        await asyncio.wait_for(apply(facts_of(elsewhere)), 10)  # another county goes through
        await asyncio.sleep(0.5)
        assert not held.done()  # blocked behind the job's batch
        await job_uow.commit()
    await asyncio.wait_for(held, 10)
    async with factory() as uow:
        assert (await uow.households.get(rows[0].household_id)).version == rows[0].version + 1


async def test_a_worker_process_finishes_a_job(databases):
    """`python -m services.eligibility work --until-idle` (the deployment's extra job workers) claims a
    job's partitions from the database, works them to the end and exits."""
    import asyncio
    import os
    import sys

    runtime, factory = await prepare(databases, population(120, seed=11))
    try:
        async with factory() as uow:
            job = await jobs.create_job(
                uow,
                kind="standard_changed",
                region_prefix="22",
                as_of=SECOND,
                reason="raise",
                traceparent=f"00-{'c' * 32}-{'d' * 16}-01",
            )
            await uow.commit()
        env = {**os.environ, "ELIGIBILITY_DATABASE_URL": runtime.settings.resolved_database_url, "LOG_LEVEL": "WARNING"}
        env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
        worker = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services.eligibility", "work", "--until-idle", env=env
        )
        assert await asyncio.wait_for(worker.wait(), 120) == 0
        async with factory() as uow:
            done = await uow.jobs.get(job["id"])
            events = await uow.session.scalar(select(func.count()).select_from(orm.platform.outbox))
        assert (done.status, done.processed) == ("done", 120)
        assert done.changed > 10 and events >= done.changed  # its decisions' events wait in the outbox
    finally:
        await runtime.db.dispose()
