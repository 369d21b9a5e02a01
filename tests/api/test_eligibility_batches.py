"""Eligibility consumes the registry stream in batches, set-based (one transaction per partition batch,
a few statements per wave of households): the same stream gives the same decisions, events and signals
as the per-event path applied one event at a time, and a batch delivered again changes nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from services.eligibility.adapters import orm as eorm
from services.eligibility.adapters.uow import EligibilityUnitOfWork
from services.eligibility.service_layer.handlers import CONSUMER, registry_consumer
from services.eligibility.service_layer.services import apply_household_facts
from shared.bus import InProcessBus
from shared.config import ServiceSettings
from shared.tracing import use_trace
from tests.conftest import auth, published, start_service
from tests.factories import household, id_number, member

NOW = datetime(2026, 7, 1, 1, 0, tzinfo=UTC)


async def _eligibility(databases):
    from services.eligibility import app as eligibility_app

    def runtime(settings, bus=None):
        rt = eligibility_app.build_runtime(settings, bus=bus)
        rt.clock = lambda: NOW
        return rt

    return await start_service(
        lambda rt: eligibility_app.create_app(rt, scheduler=False, manage_bus=False),
        runtime,
        ServiceSettings.load(
            "eligibility", database_url=await databases.create("eligibility"), kafka_bootstrap_servers=None
        ),
        bus=InProcessBus(),
    )


@pytest.fixture(scope="module")
async def stream(databases):
    """A registry event stream with repeated changes to the same households, across two counties."""
    from services.registry import app as registry_app

    registry, manager = await start_service(
        registry_app.create_app,
        registry_app.build_runtime,
        ServiceSettings.load("registry", database_url=await databases.create("registry"), kafka_bootstrap_servers=None),
        bus=InProcessBus(),
    )
    try:
        ids = []
        for i in range(24):
            county = "220122" if i % 2 else "220182"
            body = household(
                county,
                poverty_status="not_lifted" if i % 3 else "lifted",
                members=[
                    member(id_number=id_number(county)),
                    member(
                        "spouse",
                        id_number=id_number(county, sex="female"),
                        labour_capacity="none",
                        disability_grade=1 + i % 4,
                    ),
                ],
                incomes=[
                    {"type": "wages", "amount_fen": 20_000 * (i % 6), "period": "month", "effective_from": "2026-01-01"}
                ],
            )
            created = await registry.http.post("/v1/households", json=body, headers=auth("county_operator", county))
            ids.append((created.json()["id"], county, created.json()["incomes"][0]["id"]))
        for round_ in range(3):  # incomes move up and down: grants, revocations, gradual exits, signals
            for hid, county, income in ids[round_::2]:
                await registry.http.patch(
                    f"/v1/households/{hid}/incomes/{income}",
                    headers=auth("county_operator", county),
                    json={"amount_fen": [150_000, 0, 60_000][round_]},
                )
        events = await published(registry)
    finally:
        await registry.http.aclose()
        await manager.__aexit__(None, None, None)
    assert len(events) == len(ids) + sum(len(ids[r::2]) for r in range(3))  # every change was accepted
    return events


async def _outcome(service) -> tuple[list, list]:
    async with service.runtime.db.session() as s:
        decisions = (
            await s.execute(
                select(
                    eorm.decisions.c.household_id,
                    eorm.decisions.c.programme,
                    eorm.decisions.c.member_id,
                    eorm.decisions.c.status,
                    eorm.decisions.c.monthly_amount_fen,
                    eorm.decisions.c.valid_from,
                    eorm.decisions.c.valid_until,
                    eorm.decisions.c.change,
                    eorm.decisions.c.trigger,
                )
            )
        ).all()
    sealer = service.runtime.sealer
    # Ids are new per run and sealing is randomised: compare what the sealed part opens to.
    events = [
        (
            e.type,
            e.subject,
            {
                k: sealer.unseal(v) if k == "sealed_evidence" and v else v
                for k, v in e.data.items()
                if k not in ("decision_id", "signal_id")
            },
        )
        for e in await published(service)
    ]
    return sorted(map(tuple, decisions), key=str), events


async def test_batches_decide_exactly_what_one_event_at_a_time_decides(databases, stream):
    one, one_manager = await _eligibility(databases)
    batched, batched_manager = await _eligibility(databases)
    try:
        consume_batches = registry_consumer(batched.runtime)
        for envelope in stream:  # the reference: the per-event path (apply_household_facts), one transaction each
            async with EligibilityUnitOfWork(one.runtime) as uow:
                if await uow.seen_before(CONSUMER, envelope):
                    continue
                with use_trace(envelope.trace_for_consequences()):
                    await apply_household_facts(uow, envelope.payload().facts, uow.today(), trigger=envelope.id)
                await uow.commit()
        for start in range(0, len(stream), 25):
            await consume_batches(stream[start : start + 25])
        one_decisions, one_events = await _outcome(one)
        batch_decisions, batch_events = await _outcome(batched)
        assert len(one_decisions) > 24 and any(e[0].endswith("signal.raised.v1") for e in one_events)
        assert batch_decisions == one_decisions
        # Of one programme's decisions for one household, a later event always carries a higher sequence.
        last: dict[tuple, int] = {}
        for kind, subject, data in batch_events:
            if kind.endswith("decision.changed.v1"):
                key = (subject, data["programme"], data["member_id"])
                assert data["decision_sequence"] > last.get(key, 0), (key, data)
                last[key] = data["decision_sequence"]
        assert last and max(last.values()) > 1
        # Per household, the same events in the same order (the order Kafka keeps: key = household).
        assert sorted(batch_events, key=lambda e: e[1]) == sorted(one_events, key=lambda e: e[1])
        # The whole stream again, in other batch sizes (a redelivery): nothing new.
        for start in range(0, len(stream), 7):
            await consume_batches(stream[start : start + 7])
        after_decisions, after_events = await _outcome(batched)
        assert after_decisions == batch_decisions and after_events == batch_events  # nothing new published
    finally:
        for service, manager in ((one, one_manager), (batched, batched_manager)):
            await service.http.aclose()
            await manager.__aexit__(None, None, None)


async def test_the_standards_cache_sees_a_standard_recorded_here_or_elsewhere(databases):
    from services.eligibility.service_layer.services import new_standard, record_standard
    from services.eligibility.service_layer.stream import cached_standards

    service, manager = await _eligibility(databases)
    try:
        runtime = service.runtime
        async with EligibilityUnitOfWork(runtime) as uow:
            before, _ = await cached_standards(uow, NOW.date())
            again, _ = await cached_standards(uow, NOW.date())
            assert again is before  # nothing changed: the same index, no re-read
            standard = await record_standard(
                uow,
                new_standard(
                    {
                        "region_code": "220122",
                        "category": "income_drop_ratio",
                        "effective_from": date(2026, 1, 1),
                        "value": "0.25",
                        "legal_ref": "test",
                        "amount_fen": None,
                        "period": None,
                        "effective_to": None,
                    },
                    "tester",
                    NOW,
                ),
            )
            await uow.commit()
        async with EligibilityUnitOfWork(runtime) as uow:  # as another process would see it
            after, _ = await cached_standards(uow, NOW.date())
        assert after is not before
        assert standard.id in {s.id for s in after.candidates("income_drop_ratio", "220122")}
    finally:
        await service.http.aclose()
        await manager.__aexit__(None, None, None)
