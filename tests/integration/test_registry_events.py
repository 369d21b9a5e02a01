"""Registry events on the real Apache Kafka broker and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict

from sqlalchemy import text

from services.registry.adapters.uow import RegistryUnitOfWork
from shared.bus import KafkaBus, dead_letter_topic
from shared.contracts.registry import TOPIC
from shared.events import Envelope
from tests.conftest import auth
from tests.factories import household
from tests.integration.conftest import TopicReader, kafka_script

COUNTY = auth("county_operator", "220122")


async def test_change_over_http_arrives_as_cloudevent_with_the_request_trace(registry_on_kafka, kafka_bootstrap):
    trace_id = uuid.uuid4().hex
    traceparent = f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"
    async with TopicReader(kafka_bootstrap, TOPIC) as reader:
        created = await registry_on_kafka.http.post(
            "/v1/households", json=household(), headers=COUNTY | {"traceparent": traceparent}
        )
        assert created.status_code == 201
        assert created.headers["traceparent"].split("-")[1] == trace_id
        hid = created.json()["id"]
        events = await reader.collect_until(lambda es: any(e.subject == hid for e in es))
    raw = [e for e in events if e.subject == hid][0]
    assert raw.type == "cn.gov.jl.assistance.registry.household.registered.v1"
    assert raw.source == "/registry"
    assert raw.traceparent.split("-")[1] == trace_id
    assert raw.data["household_id"] == hid and raw.data["version"] == 1
    payload = raw.payload()
    assert payload.facts.members[0].labour_capacity == "full"


async def test_kafka_down_then_up_delivers_every_event_once_in_order(registry_on_kafka, kafka_bootstrap):
    http = registry_on_kafka.http
    households = []
    for _ in range(10):
        created = await http.post("/v1/households", json=household(), headers=COUNTY)
        households.append(created.json()["id"])
    await asyncio.sleep(1)  # let the registrations reach Kafka before it goes away
    async with TopicReader(kafka_bootstrap, TOPIC) as marker:
        offsets = marker.start_offsets  # read from here once Kafka is back: only this test's changes
    kafka_script("stop")
    try:
        not_ready = await http.get("/readyz")
        assert not_ready.status_code == 503
        assert not_ready.json()["checks"]["database"] == "ok"
        assert not_ready.json()["checks"]["broker"].startswith("unavailable")
        for round_ in range(10):
            for hid in households:
                response = await http.post(
                    f"/v1/households/{hid}/incomes",
                    headers=COUNTY,
                    json={
                        "type": "wages",
                        "amount_fen": 1000 * (round_ + 1),
                        "period": "month",
                        "effective_from": "2026-01-01",
                    },
                )
                assert response.status_code == 201, response.text  # accepted while Kafka is down
    finally:
        kafka_script("start")
    wanted = set(households)

    def all_arrived(envelopes):
        return sum(1 for e in envelopes if e.subject in wanted and e.type.endswith("income_recorded.v1")) >= 100

    async with TopicReader(kafka_bootstrap, TOPIC, start_offsets=offsets) as reader:
        await reader.collect_until(all_arrived, timeout=120)
        await asyncio.sleep(2)  # anything extra (a duplicate) would arrive now
        await reader.collect_until(lambda es: True, timeout=1)
    assert (await http.get("/readyz")).status_code == 200
    incomes = [e for e in reader.envelopes if e.subject in wanted and e.type.endswith("income_recorded.v1")]
    assert len(incomes) == 100
    assert len({e.id for e in incomes}) == 100
    by_household = defaultdict(list)
    for e in reader.envelopes:
        if e.subject in wanted:
            by_household[e.subject].append(e.data["version"])
    for versions in by_household.values():
        assert versions == list(range(2, 12))  # ten incomes (versions 2..11), in order


async def test_redelivered_event_has_no_second_effect_and_failures_go_to_the_dead_letter_topic(
    registry_on_kafka, kafka_bootstrap
):
    runtime = registry_on_kafka.runtime
    async with runtime.db.engine.begin() as conn:
        await conn.execute(text("CREATE TABLE IF NOT EXISTS test_effects (event_id text, subject text)"))
    topic = f"test.redelivery.{uuid.uuid4().hex[:8]}"
    bus = KafkaBus(kafka_bootstrap, client_id="test", max_attempts=2, backoff_seconds=0.05)
    deliveries: list[str] = []

    async def effect(envelope: Envelope) -> None:
        if envelope.subject == "poison":
            raise ValueError("cannot handle this one")
        deliveries.append(envelope.id)
        async with RegistryUnitOfWork(runtime) as uow:
            if await uow.seen_before("test-consumer", envelope):
                return
            await uow.session.execute(
                text("INSERT INTO test_effects VALUES (:id, :s)"), {"id": envelope.id, "s": envelope.subject}
            )
            await uow.commit()

    bus.subscribe("test-consumer", [topic], effect)
    await bus.start()
    try:
        await bus.wait_until_assigned()
        created = await registry_on_kafka.http.post("/v1/households", json=household(), headers=COUNTY)
        hid = created.json()["id"]
        async with runtime.db.session() as s:
            stored = (await s.execute(text("SELECT envelope FROM outbox WHERE key = :k"), {"k": hid})).scalar_one()
        original = Envelope.from_dict(stored if isinstance(stored, dict) else __import__("json").loads(stored))
        again = Envelope(**{**original.__dict__, "topic": topic})
        poison = Envelope(**{**original.__dict__, "topic": topic, "id": str(uuid.uuid4()), "subject": "poison"})
        await bus.publish([again, again, poison, again])  # the same event three times, as a relay retry would
        async with TopicReader(kafka_bootstrap, dead_letter_topic(topic), start_offsets={}) as dlq:
            dead = await dlq.collect_until(lambda es: len(es) >= 1)
        assert dead[0].subject == "poison"

        async def effects() -> int:
            async with runtime.db.session() as s:
                return (
                    await s.execute(text("SELECT count(*) FROM test_effects WHERE subject = :s"), {"s": hid})
                ).scalar()

        for _ in range(400):  # the poison event is on another partition: wait for all three deliveries
            if len(deliveries) >= 3:
                break
            await asyncio.sleep(0.05)
        assert deliveries == [original.id] * 3
        assert await effects() == 1
    finally:
        await bus.stop()


async def test_dead_letter_carries_the_error(registry_on_kafka, kafka_bootstrap):
    from aiokafka import AIOKafkaConsumer

    topic = f"test.dlq.{uuid.uuid4().hex[:8]}"
    bus = KafkaBus(kafka_bootstrap, client_id="test", max_attempts=2, backoff_seconds=0.01)

    async def always_fails(envelope):
        raise RuntimeError("rule table missing")

    bus.subscribe("failing-consumer", [topic], always_fails)
    await bus.start()
    try:
        await bus.wait_until_assigned()
        from shared.contracts.registry import HouseholdRegistered  # noqa: F401 - registers the type

        envelope = Envelope(
            id=str(uuid.uuid4()),
            source="/test",
            type="test.type",
            subject="h1",
            time=__import__("datetime").datetime.now(__import__("datetime").timezone.utc),
            topic=topic,
            data={"x": 1},
            traceparent=f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01",
            correlation_id="c1",
        )
        await bus.publish([envelope])
        consumer = AIOKafkaConsumer(
            dead_letter_topic(topic),
            bootstrap_servers=kafka_bootstrap,
            auto_offset_reset="earliest",
            group_id=f"t-{uuid.uuid4().hex}",
        )
        await consumer.start()
        try:
            message = await asyncio.wait_for(consumer.getone(), timeout=30)
        finally:
            await consumer.stop()
        headers = dict(message.headers)
        assert headers["dlq_error"].decode() == "RuntimeError: rule table missing"
        assert headers["dlq_consumer"] == b"failing-consumer"
        assert headers["ce_id"].decode() == envelope.id
    finally:
        await bus.stop()


async def test_batches_on_kafka_apply_once_and_isolate_a_poison_event(registry_on_kafka, kafka_bootstrap):
    """A batch subscription: one transaction and one inbox write per partition batch; a poison event is
    split out and dead-lettered alone; a batch delivered again (as after a crash before the offset
    commit) has no second effect."""
    runtime = registry_on_kafka.runtime
    async with runtime.db.engine.begin() as conn:
        await conn.execute(text("CREATE TABLE IF NOT EXISTS test_batch_effects (event_id text, subject text)"))
    topic = f"test.batches.{uuid.uuid4().hex[:8]}"
    bus = KafkaBus(kafka_bootstrap, client_id="test", max_attempts=2, backoff_seconds=0.01)
    batches: list[int] = []

    async def effect(envelopes) -> None:
        batches.append(len(envelopes))
        async with RegistryUnitOfWork(runtime) as uow:
            for envelope in await uow.first_seen("batch-consumer", envelopes):
                if envelope.subject == "poison":
                    raise ValueError("cannot handle this one")
                await uow.session.execute(
                    text("INSERT INTO test_batch_effects VALUES (:id, :s)"), {"id": envelope.id, "s": envelope.subject}
                )
            await uow.commit()

    bus.subscribe_batch("batch-consumer", [topic], effect, max_batch=100, max_wait_ms=200)
    await bus.start()
    try:
        await bus.wait_until_assigned()
        template = Envelope(
            id="x",
            source="/test",
            type="test.event",
            subject="s",
            time=__import__("datetime").datetime.now(__import__("datetime").timezone.utc),
            topic=topic,
            data={},
            traceparent=f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01",
            correlation_id="c",
        )
        events = [Envelope(**{**template.__dict__, "id": str(uuid.uuid4()), "subject": f"h{i % 4}"}) for i in range(60)]
        poison = Envelope(**{**template.__dict__, "id": str(uuid.uuid4()), "subject": "poison"})
        await bus.publish(events[:30] + [poison] + events[30:])
        await bus.publish(events[:10])  # delivered again: no second effect

        async def effects() -> list:
            async with runtime.db.session() as s:
                return (
                    await s.execute(text("SELECT event_id, count(*) FROM test_batch_effects GROUP BY event_id"))
                ).all()

        for _ in range(400):
            if len(await effects()) >= 60 and sum(batches) >= 71:
                break
            await asyncio.sleep(0.05)
        async with TopicReader(kafka_bootstrap, dead_letter_topic(topic), start_offsets={}) as dlq:
            dead = await dlq.collect_until(lambda es: len(es) >= 1)
        rows = await effects()
        assert {r[0] for r in rows} == {e.id for e in events} and all(r[1] == 1 for r in rows)
        assert [d.subject for d in dead] == ["poison"]
        assert max(batches) > 1  # it really consumed in batches
    finally:
        await bus.stop()


class _Killed(BaseException):
    """Stands for the process dying: not an error a handler's retry would catch."""


async def test_a_consumer_killed_after_its_commit_loses_nothing_and_doubles_nothing(registry_on_kafka, kafka_bootstrap):
    runtime = registry_on_kafka.runtime
    async with runtime.db.engine.begin() as conn:
        await conn.execute(text("CREATE TABLE IF NOT EXISTS test_kill_effects (event_id text)"))
    topic = f"test.kill.{uuid.uuid4().hex[:8]}"
    group = f"kill-consumer-{uuid.uuid4().hex[:6]}"
    kill_after_commit = {"armed": True}

    async def effect(envelopes) -> None:
        async with RegistryUnitOfWork(runtime) as uow:
            for envelope in await uow.first_seen(group, envelopes):
                await uow.session.execute(text("INSERT INTO test_kill_effects VALUES (:id)"), {"id": envelope.id})
            await uow.commit()
        if kill_after_commit["armed"]:  # dies between its transaction and the offset commit
            kill_after_commit["armed"] = False
            raise _Killed()

    from datetime import UTC, datetime

    events = [
        Envelope(
            id=str(uuid.uuid4()),
            source="/test",
            type="test.event",
            subject=f"h{i % 3}",
            time=datetime.now(UTC),
            topic=topic,
            data={},
            traceparent=f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01",
            correlation_id="c",
        )
        for i in range(30)
    ]
    first = KafkaBus(kafka_bootstrap, client_id="test", max_attempts=1)
    first.subscribe_batch(group, [topic], effect, max_batch=100, max_wait_ms=300)
    await first.start()
    try:
        await first.wait_until_assigned()
        await first.publish(events)
        for _ in range(200):
            if not kill_after_commit["armed"]:
                break
            await asyncio.sleep(0.05)
    finally:
        await first.stop()
    second = KafkaBus(kafka_bootstrap, client_id="test", max_attempts=1)  # the restarted process
    second.subscribe_batch(group, [topic], effect, max_batch=100, max_wait_ms=300)
    await second.start()
    try:
        await second.wait_until_assigned()

        async def applied() -> dict:
            async with runtime.db.session() as s:
                rows = (
                    await s.execute(text("SELECT event_id, count(*) FROM test_kill_effects GROUP BY event_id"))
                ).all()
            return dict(rows)

        for _ in range(200):
            if len(await applied()) == 30:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(1)  # a redelivery that doubled something would land now
        counts = await applied()
        assert set(counts) == {e.id for e in events} and set(counts.values()) == {1}
    finally:
        await second.stop()


async def test_two_consumers_of_a_group_share_the_partitions_and_one_leaving_loses_nothing(
    registry_on_kafka, kafka_bootstrap
):
    """Two processes of one service (one consumer group) split the topic's partitions; when one stops
    mid-stream the other takes its partitions over. Every event is applied exactly once, each key's
    events in order, and a partition given away leaves the lag the first one reported."""
    from datetime import UTC, datetime

    from prometheus_client import REGISTRY

    runtime = registry_on_kafka.runtime
    async with runtime.db.engine.begin() as conn:
        await conn.execute(
            text("CREATE TABLE IF NOT EXISTS test_shared_effects (seq bigserial, event_id text, subject text, n int)")
        )
    topic = f"test.shared.{uuid.uuid4().hex[:8]}"
    group = f"shared-consumer-{uuid.uuid4().hex[:6]}"

    def consumer() -> KafkaBus:
        async def effect(envelopes) -> None:
            async with RegistryUnitOfWork(runtime) as uow:
                for envelope in await uow.first_seen(group, envelopes):
                    await uow.session.execute(
                        text("INSERT INTO test_shared_effects (event_id, subject, n) VALUES (:id, :s, :n)"),
                        {"id": envelope.id, "s": envelope.subject, "n": envelope.data["n"]},
                    )
                await uow.commit()

        bus = KafkaBus(kafka_bootstrap, client_id="test", max_attempts=1, partitions=3)
        bus.subscribe_batch(group, [topic], effect, max_batch=20, max_wait_ms=100)
        return bus

    def envelopes(start: int, count: int) -> list[Envelope]:
        return [
            Envelope(
                id=str(uuid.uuid4()),
                source="/test",
                type="test.event",
                subject=f"h{n % 12}",
                time=datetime.now(UTC),
                topic=topic,
                data={"n": n},
                traceparent=f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01",
                correlation_id="c",
            )
            for n in range(start, start + count)
        ]

    async def applied() -> list:
        async with runtime.db.session() as s:
            return (await s.execute(text("SELECT event_id, subject, n FROM test_shared_effects ORDER BY seq"))).all()

    first, second = consumer(), consumer()
    await first.start()
    await first.wait_until_assigned()
    await second.start()
    try:
        for _ in range(200):  # the group rebalances: both end up holding partitions
            if first.consumers_assigned() and second.consumers_assigned():
                break
            await asyncio.sleep(0.1)
        assert first.consumers_assigned() and second.consumers_assigned()
        held = [len(next(iter(bus._consumers.values())).assignment()) for bus in (first, second)]
        assert sorted(held) == [1, 2]
        sent = envelopes(0, 120)
        await first.publish(sent[:60])
        for _ in range(200):
            if len(await applied()) >= 60:
                break
            await asyncio.sleep(0.05)
        await second.stop()  # one process leaves mid-stream: the other takes its partitions over
        await first.publish(sent[60:])
        for _ in range(400):
            if len(await applied()) >= 120:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # a redelivery that doubled something would land now
        rows = await applied()
        assert sorted(r.event_id for r in rows) == sorted(e.id for e in sent)  # each once
        by_key: dict[str, list[int]] = defaultdict(list)
        for row in rows:  # in the order applied
            by_key[row.subject].append(row.n)
        assert all(ns == sorted(ns) for ns in by_key.values()), by_key
        assert len(next(iter(first._consumers.values())).assignment()) == 3
        lag = [
            REGISTRY.get_sample_value("consumer_lag", {"group": group, "topic": topic, "partition": str(p)})
            for p in range(3)
        ]
        assert all(value == 0 for value in lag if value is not None)
    finally:
        await first.stop()
        await second.stop()
