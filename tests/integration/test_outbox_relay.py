"""The outbox relay on PostgreSQL: competing relays, late commits, broker outages."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import UTC, datetime

from sqlalchemy import func, insert, select

from services.registry.adapters import orm
from shared.bus import InProcessBus
from shared.contracts.registry import HouseholdRegistered  # noqa: F401 - registers event types
from shared.db import Database
from shared.events import Envelope
from shared.outbox import OutboxRelay
from shared.tracing import new_trace


def envelope(subject: str, n: int) -> Envelope:
    return Envelope(
        id=f"{subject}-{n}",
        source="/test",
        type="test.event",
        subject=subject,
        time=datetime.now(UTC),
        topic="test.topic",
        data={"n": n},
        traceparent=new_trace().traceparent,
        correlation_id="c",
    )


def row(e: Envelope) -> dict:
    return {
        "event_id": e.id,
        "topic": e.topic,
        "key": e.subject,
        "event_type": e.type,
        "envelope": e.to_dict(),
        "created_at": datetime.now(UTC),
    }


class SlowBus(InProcessBus):
    """Publishing takes time, so two relays overlap."""

    async def publish(self, envelopes):
        await asyncio.sleep(0.01)
        await super().publish(envelopes)


class FlakyBus(InProcessBus):
    def __init__(self):
        super().__init__()
        self.down = True

    async def publish(self, envelopes):
        if self.down:
            raise ConnectionError("broker unavailable")
        await super().publish(envelopes)


async def test_two_relays_never_double_publish_and_keep_order(databases):
    url = await databases.create("registry")
    db = Database(url)
    try:
        async with db.session() as s, s.begin():
            await s.execute(
                insert(orm.platform.outbox), [row(envelope(f"h{k}", n)) for n in range(60) for k in range(5)]
            )
        bus = SlowBus()
        relays = [OutboxRelay(db, orm.platform, bus, service="registry", batch_size=7) for _ in range(2)]

        async def drain(relay):
            while True:
                published = await relay.publish_pending()
                if published == 0:
                    async with db.session() as s:
                        left = await s.scalar(select(func.count()).select_from(orm.platform.outbox))
                    if left == 0:
                        return
                    await asyncio.sleep(0.005)

        await asyncio.gather(*(drain(r) for r in relays))
        ids = [e.id for e in bus.published]
        assert len(ids) == 300 and len(set(ids)) == 300
        per_key = defaultdict(list)
        for e in bus.published:
            per_key[e.subject].append(e.data["n"])
        assert all(v == list(range(60)) for v in per_key.values())
    finally:
        await db.dispose()


async def test_row_committed_late_is_not_skipped(databases):
    url = await databases.create("registry")
    db = Database(url)
    try:
        bus = InProcessBus()
        relay = OutboxRelay(db, orm.platform, bus, service="registry")
        slow = db.session()
        await slow.begin()
        await slow.execute(insert(orm.platform.outbox), [row(envelope("a", 0))])  # takes the lower id, commits later
        async with db.session() as s, s.begin():
            await s.execute(insert(orm.platform.outbox), [row(envelope("b", 0))])
        assert await relay.publish_pending() == 1
        await slow.commit()
        await slow.close()
        assert await relay.publish_pending() == 1
        assert [e.id for e in bus.published] == ["b-0", "a-0"]
    finally:
        await db.dispose()


async def test_relay_keeps_rows_while_the_broker_is_down(databases):
    url = await databases.create("registry")
    db = Database(url)
    try:
        async with db.session() as s, s.begin():
            await s.execute(insert(orm.platform.outbox), [row(envelope("h", n)) for n in range(3)])
        bus = FlakyBus()
        relay = OutboxRelay(db, orm.platform, bus, service="registry")
        for _ in range(3):
            try:
                await relay.publish_pending()
            except ConnectionError:
                pass
        assert await relay.backlog() == 3
        async with db.session() as s:
            attempts = await s.scalar(
                select(orm.platform.outbox.c.attempts).order_by(orm.platform.outbox.c.id).limit(1)
            )
        assert attempts == 3
        bus.down = False
        assert await relay.publish_pending() == 3
        assert [e.data["n"] for e in bus.published] == [0, 1, 2]
        assert await relay.backlog() == 0
    finally:
        await db.dispose()
