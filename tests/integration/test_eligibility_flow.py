"""Registry → eligibility on the real Apache Kafka and PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from services.eligibility.adapters import orm as eorm
from services.eligibility.adapters.uow import EligibilityUnitOfWork
from services.eligibility.api.schemas import StandardIn
from services.eligibility.service_layer import jobs
from services.eligibility.service_layer.services import new_standard, record_standard
from shared.bus import KafkaBus
from shared.config import ServiceSettings
from shared.contracts.eligibility import DECISIONS_TOPIC
from shared.contracts.registry import TOPIC as REGISTRY_TOPIC
from shared.events import Envelope
from shared.reference import jilin_counties
from tests.conftest import auth, start_service
from tests.factories import household, id_number, member
from tests.integration.conftest import TopicReader, kafka_script

NOW = datetime(2026, 6, 15, 2, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
async def system(databases, kafka_bootstrap):
    from services.eligibility import app as eligibility_app
    from services.registry import app as registry_app

    registry_settings = ServiceSettings.load(
        "registry", database_url=await databases.create("registry"), kafka_bootstrap_servers=kafka_bootstrap
    )
    # A consumer group of this module's own, from the topic's end: a developer's broker holds every event
    # earlier runs and benchmarks published, which a group starting from the beginning would work through.
    eligibility_settings = ServiceSettings.load(
        "eligibility",
        database_url=await databases.create("eligibility"),
        kafka_bootstrap_servers=kafka_bootstrap,
        kafka_group_suffix=f"-flow-{uuid.uuid4().hex[:8]}",
        kafka_auto_offset_reset="latest",
    )
    registry, registry_manager = await start_service(
        registry_app.create_app, registry_app.build_runtime, registry_settings
    )

    def eligibility_runtime(settings, bus=None):
        runtime = eligibility_app.build_runtime(settings, bus=bus)
        runtime.clock = lambda: NOW
        return runtime

    eligibility, eligibility_manager = await start_service(
        lambda runtime: eligibility_app.create_app(runtime, scheduler=False), eligibility_runtime, eligibility_settings
    )
    await eligibility.runtime.bus.wait_until_assigned(60)
    yield registry, eligibility
    for service, manager in ((eligibility, eligibility_manager), (registry, registry_manager)):
        await service.http.aclose()
        await manager.__aexit__(None, None, None)


async def eventually(probe, timeout=60):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)


async def read_model_version(eligibility, household_id):
    async with eligibility.runtime.db.session() as s:
        return await s.scalar(select(eorm.households.c.version).where(eorm.households.c.household_id == household_id))


async def test_income_drop_produces_a_grant_decision_event_with_the_same_trace(system, kafka_bootstrap):
    registry, eligibility = system
    county = auth("county_operator", "220122")
    created = await registry.http.post(
        "/v1/households",
        headers=county,
        json=household(
            members=[member(id_number=id_number(), labour_capacity="full")],
            poverty_status="lifted",
            incomes=[
                {
                    "member_id": "0",
                    "type": "wages",
                    "amount_fen": 100_000,
                    "period": "month",
                    "effective_from": "2026-01-01",
                }
            ],
        ),
    )
    hid = created.json()["id"]
    income_id = created.json()["incomes"][0]["id"]
    await eventually(lambda: _version_at_least(eligibility, hid, 1))
    first = (await eligibility.http.get(f"/v1/households/{hid}/decisions", headers=county)).json()["items"]
    assert [(d["programme"], d["status"]) for d in first] == [("dibao", "not_eligible")]

    trace_id = uuid.uuid4().hex
    async with TopicReader(kafka_bootstrap, DECISIONS_TOPIC) as reader:
        drop = await registry.http.patch(
            f"/v1/households/{hid}/incomes/{income_id}",
            json={"amount_fen": 10_000},
            headers=county | {"traceparent": f"00-{trace_id}-{'1' * 16}-01"},
        )
        assert drop.status_code == 200
        ours = lambda es: [e for e in es if e.subject == hid and e.traceparent.split("-")[1] == trace_id]  # noqa: E731
        await reader.collect_until(lambda es: ours(es))
        await asyncio.sleep(0.5)
        events = await reader.collect_until(lambda es: True, timeout=1)
    # Registered with its wages: assessed, no event; the drop grants, in this request's trace.
    assert [e.data["change"] for e in events if e.subject == hid] == ["granted"]
    [granted] = ours(events)
    assert granted.data["change"] == "granted" and granted.data["programme"] == "dibao"
    assert granted.data["monthly_amount_fen"] == (420_000 - 120_000 + 6) // 12
    assert granted.causation_id  # caused by the registry's income_corrected event
    decision = (await eligibility.http.get(f"/v1/decisions/{granted.data['decision_id']}", headers=county)).json()
    assert decision["explanation"]["household_version"] == 2
    assert any(r["rule"] == "dibao.income_test" and r["outcome"] is True for r in decision["explanation"]["rules"])
    signals = (await eligibility.http.get(f"/v1/households/{hid}/signals", headers=county)).json()["items"]
    assert "income_drop" in [s["kind"] for s in signals]


async def _version_at_least(eligibility, hid, version):
    found = await read_model_version(eligibility, hid)
    return found is not None and found >= version


async def test_a_replayed_registry_event_changes_nothing(system, kafka_bootstrap):
    registry, eligibility = system
    county = auth("county_operator", "220122")
    async with TopicReader(kafka_bootstrap, REGISTRY_TOPIC) as registry_events:
        created = await registry.http.post(
            "/v1/households",
            headers=county,
            json=household(members=[member(id_number=id_number())], poverty_status="not_lifted"),
        )
        hid = created.json()["id"]
        original = [
            e
            for e in await registry_events.collect_until(lambda es: any(e.subject == hid for e in es))
            if e.subject == hid
        ][0]
    original = Envelope(**{**original.__dict__, "topic": REGISTRY_TOPIC})
    await eventually(lambda: _version_at_least(eligibility, hid, 1))
    copy_with_new_id = Envelope(**{**original.__dict__, "id": str(uuid.uuid4())})

    async def snapshot():
        async with eligibility.runtime.db.session() as s:
            household_row = (
                await s.execute(select(eorm.households).where(eorm.households.c.household_id == hid))
            ).one()
            return (
                await s.scalar(
                    select(func.count()).select_from(eorm.decisions).where(eorm.decisions.c.household_id == hid)
                ),
                household_row.version,
                household_row.state,
                household_row.current_decisions,
            )

    before = await snapshot()
    async with TopicReader(kafka_bootstrap, DECISIONS_TOPIC) as decision_events:
        bus = KafkaBus(kafka_bootstrap, client_id="replayer")
        try:
            await bus.publish([original, copy_with_new_id, original])
        finally:
            await bus.stop()

        async def replay_seen():
            async with eligibility.runtime.db.session() as s:
                return await s.scalar(
                    select(eorm.platform.inbox.c.event_id).where(eorm.platform.inbox.c.event_id == copy_with_new_id.id)
                )

        await eventually(replay_seen)
        await asyncio.sleep(1)
        assert await snapshot() == before
        await eligibility.runtime.relay.publish_pending()
        batches = await decision_events.consumer.getmany(timeout_ms=2000)
        assert not [m for messages in batches.values() for m in messages if m.key == hid.encode()]


async def test_standard_change_reevaluates_the_county_and_a_crash_mid_job_resumes_to_the_same_result(
    system, kafka_bootstrap, monkeypatch
):
    registry, eligibility = system
    code = jilin_counties()[-1]["code"]
    operator = auth("county_operator", code)
    ids = []
    for i in range(7):  # incomes straddling the new standard
        created = await registry.http.post(
            "/v1/households",
            headers=operator,
            json=household(
                code,
                members=[member(id_number=id_number(code))],
                poverty_status="none",
                incomes=[
                    {
                        "type": "agriculture",
                        "amount_fen": 410_000 + i * 20_000,
                        "period": "year",
                        "effective_from": "2026-01-01",
                    }
                ],
            ),
        )
        ids.append(created.json()["id"])
    for hid in ids:
        await eventually(lambda hid=hid: _version_at_least(eligibility, hid, 1))
    runtime = eligibility.runtime
    factory = lambda: EligibilityUnitOfWork(runtime)  # noqa: E731
    async with factory() as uow:
        await record_standard(
            uow,
            new_standard(
                StandardIn.model_validate(
                    {
                        "region_code": code,
                        "category": "rural_dibao",
                        "effective_from": "2026-06-01",
                        "amount_fen": 500_000,
                        "period": "year",
                        "legal_ref": "test raise",
                    }
                ).model_dump(),
                "tester",
                NOW,
            ),
        )
        job = await jobs.create_job(
            uow,
            kind="standard_changed",
            region_prefix=code,
            as_of=NOW.date(),
            reason="test",
            traceparent=f"00-{'c' * 32}-{'d' * 16}-01",
        )
        await uow.commit()
    monkeypatch.setattr(jobs, "BATCH_SIZE", 3)
    reader = await TopicReader(kafka_bootstrap, DECISIONS_TOPIC).__aenter__()
    batches = 0

    async def crash_after_first_batch():
        nonlocal batches
        batches += 1
        if batches == 1:
            raise RuntimeError("process killed")

    with pytest.raises(RuntimeError):
        await jobs.run_job(factory, job["id"], after_batch=crash_after_first_batch)
    async with factory() as uow:
        halfway = await uow.jobs.get(job["id"])
    assert (halfway.status, halfway.processed) == ("running", 3)
    await jobs.run_job(factory, job["id"])
    async with factory() as uow:
        done = await uow.jobs.get(job["id"])
        current = {
            hid: [
                (d.programme, d.status, d.monthly_amount_fen)
                for d in await uow.decisions.current(await uow.households.get(hid))
            ]
            for hid in ids
        }
    assert (done.status, done.processed, done.total) == ("done", 7, 7)
    # Same result as deciding each household afresh: eligible below 5,000 yuan, the difference paid.
    for i, hid in enumerate(ids):
        income = 410_000 + i * 20_000
        expected = (
            (
                "dibao",
                "eligible",
                (500_000 - income) * 2 // 24 if (500_000 - income) % 12 < 6 else (500_000 - income) // 12 + 1,
            )
            if income < 500_000
            else ("dibao", "not_eligible", 0)
        )
        assert current[hid] == [expected], (i, current[hid])
    assert done.changed == sum(1 for i in range(7) if 410_000 + i * 20_000 < 500_000)
    async with reader:
        from_job = lambda es: [e for e in es if e.subject in ids and e.traceparent.split("-")[1] == "c" * 32]  # noqa: E731
        await reader.collect_until(lambda es: len(from_job(es)) >= done.changed)
        await asyncio.sleep(1)
        await reader.collect_until(lambda es: True, timeout=1)
    changes = from_job(reader.envelopes)
    # One event per changed household although the job crashed halfway: nothing redone, nothing lost.
    assert len(changes) == done.changed and len({e.subject for e in changes}) == done.changed


async def test_a_broker_outage_is_logged_once_not_per_retry(system, kafka_bootstrap, caplog):
    """Consumers, producers and the relay of two services retry through an outage; the log says when it
    started and when it ended, not every failed connection (a peer wrote 11 000 lines a second)."""
    registry, _ = system
    county = auth("county_operator", "220122")
    caplog.clear()
    with caplog.at_level(logging.INFO):
        kafka_script("stop")
        try:
            for _ in range(3):  # work keeps being accepted and waits in the outbox
                created = await registry.http.post("/v1/households", headers=county, json=household())
                assert created.status_code == 201
            await asyncio.sleep(15)
        finally:
            kafka_script("start")
        await eventually(lambda: _logged(caplog, "available again"), timeout=60)
    lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) <= 40, Counter(f"{r.name}: {r.msg}" for r in lines).most_common(10)
    kafka_lines = [r.getMessage() for r in lines if r.getMessage().startswith("Kafka at")]
    assert sum("unavailable" in m for m in kafka_lines) == 2, kafka_lines  # once per service
    assert sum("available again" in m for m in kafka_lines) == 2, kafka_lines


async def _logged(caplog, text: str) -> bool:
    return sum(text in r.getMessage() and r.getMessage().startswith("Kafka at") for r in caplog.records) >= 2
