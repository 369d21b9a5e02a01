"""Batch consumption on the in-process bus (the same interface as Kafka's): events come in order, in
batches; a poison event is isolated by splitting the batch and dead-lettered alone; every other event
is applied exactly once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from shared.bus import InProcessBus
from shared.events import Envelope


def envelope(subject: str, n: int) -> Envelope:
    return Envelope(
        id=str(uuid.uuid4()),
        source="/test",
        type="test.event",
        subject=subject,
        time=datetime.now(UTC),
        topic="t",
        data={"n": n},
        traceparent=f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01",
        correlation_id="c",
    )


async def test_batches_keep_order_and_a_poison_event_is_dead_lettered_alone():
    bus = InProcessBus(max_attempts=2, backoff_seconds=0.001)
    applied: list[int] = []
    batch_sizes: list[int] = []

    async def handle(batch):
        batch_sizes.append(len(batch))
        if any(e.subject == "poison" for e in batch):
            raise ValueError("cannot handle this one")
        applied.extend(e.data["n"] for e in batch)  # as a transaction would: all of the batch or nothing

    bus.subscribe_batch("g", ["t"], handle, max_batch=8)
    await bus.start()
    try:
        events = [envelope("poison" if n == 5 else f"h{n % 3}", n) for n in range(20)]
        await bus.publish(events)
        await bus.drain()
    finally:
        await bus.stop()
    assert applied == [n for n in range(20) if n != 5]  # each once, in order
    assert [d.envelope.data["n"] for d in bus.dead_letters] == [5]
    assert max(batch_sizes) == 8 and batch_sizes[0] == 8


async def test_single_event_subscriptions_still_get_one_event_at_a_time():
    bus = InProcessBus()
    seen: list[int] = []

    async def handle(one):
        seen.append(one.data["n"])

    bus.subscribe("g", ["t"], handle)
    await bus.start()
    try:
        await bus.publish([envelope("h", n) for n in range(5)])
        await bus.drain()
    finally:
        await bus.stop()
    assert seen == list(range(5))


def test_a_deployment_sharing_a_broker_keeps_consumer_groups_and_a_start_of_its_own():
    import pydantic
    import pytest

    from shared.bus import KafkaBus, make_bus
    from shared.config import PlatformSettings

    bus = make_bus(
        PlatformSettings(
            kafka_bootstrap_servers="127.0.0.1:1", kafka_group_suffix="-staging", kafka_auto_offset_reset="latest"
        ),
        client_id="x",
    )
    assert isinstance(bus, KafkaBus) and (bus.group_suffix, bus.auto_offset_reset) == ("-staging", "latest")
    default = make_bus(PlatformSettings(kafka_bootstrap_servers="127.0.0.1:1"), client_id="x")
    assert (default.group_suffix, default.auto_offset_reset) == ("", "earliest")
    with pytest.raises(pydantic.ValidationError):
        PlatformSettings(kafka_auto_offset_reset="middle")


async def test_a_partition_given_to_another_member_leaves_the_lag_gauge():
    """After a rebalance moves a partition away, this process no longer reports its lag (a stale value
    would stay on the gauge for good: alerts and drain checks would wait forever)."""
    from aiokafka.structs import TopicPartition
    from prometheus_client import REGISTRY

    from shared.bus import KafkaBus, Subscription

    class Consumer:
        def __init__(self, *partitions: int):
            self.partitions = {TopicPartition("t", p) for p in partitions}

        def assignment(self):
            return self.partitions

        def highwater(self, tp):
            return 10

        async def position(self, tp):
            return 4

    def lag(partition: int) -> float | None:
        return REGISTRY.get_sample_value(
            "consumer_lag", {"group": "lag-test", "topic": "t", "partition": str(partition)}
        )

    bus = KafkaBus("127.0.0.1:9", client_id="test")
    sub = Subscription("lag-test", ["t"])
    await bus._record_lag(sub, Consumer(0, 1))
    assert (lag(0), lag(1)) == (6, 6)
    await bus._record_lag(sub, Consumer(0))
    assert (lag(0), lag(1)) == (6, None)
