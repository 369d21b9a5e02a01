"""Transactional outbox relay.

Rows are written by the unit of work in the same transaction as the state change. The relay
publishes them in id order (commit order per aggregate) and deletes them in the same transaction that
claimed them, once the broker has acknowledged them, and keeps retrying while the broker is down. The
table holds only what is not yet published, so each pass reads it from its first row: a row whose
transaction committed late (a lower id than rows already published) is never skipped. On PostgreSQL a
transaction-scoped advisory lock makes one relay instance at a time the publisher, so two instances
never double-claim rows or reorder a household's events. A crash between the broker's acknowledgement
and the commit publishes those rows again: consumers are idempotent (their inbox).

Published rows are deleted, not marked: marking rewrote each ~1 KB row with new index entries (ten
times the PostgreSQL time of a delete), and the table grew by every event ever sent. The history of what
happened is in each service's own tables (household versions, decisions) and on the broker.

A deleted row leaves a dead entry in the primary-key index until VACUUM removes it, and every pass
walks those entries from the start of the index: during a province job (hundreds of thousands of events
in a minute) each pass grew to tens of milliseconds of PostgreSQL time. Autovacuum looks at a table at
most once a minute, so the relay vacuums the outbox itself after every `vacuum_every` rows it publishes.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections import Counter

from sqlalchemy import ARRAY, BigInteger, any_, delete, func, literal, select, text, update

from shared import metrics
from shared.bus import EventBus
from shared.db import Database
from shared.errors import describe_error
from shared.events import Envelope
from shared.outages import OutageLog
from shared.platform_tables import PlatformTables

log = logging.getLogger(__name__)


class OutboxRelay:
    def __init__(
        self,
        db: Database,
        tables: PlatformTables,
        bus: EventBus,
        *,
        service: str,
        poll_seconds: float = 0.2,
        batch_size: int = 500,
        vacuum_every: int = 20_000,
    ):
        self.db, self.table, self.bus, self.service = db, tables.outbox, bus, service
        self.poll_seconds, self.batch_size, self.vacuum_every = poll_seconds, batch_size, vacuum_every
        self._published_since_vacuum = 0
        self.outage = OutageLog(f"outbox relay of {service} (publishing to the broker)")
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lock_key = zlib.crc32(f"outbox:{service}".encode())
        # SQLite has no advisory locks: passes of this process never overlap (PostgreSQL also locks across processes).
        self._pass_lock = asyncio.Lock()

    def notify(self) -> None:
        """Called after a commit that wrote outbox rows: publish now rather than at the next poll."""
        self._wake.set()

    async def publish_pending(self) -> int:
        """One pass: publish up to a batch of rows. Returns how many were published."""
        async with self._pass_lock:
            published = await self._publish_pending()
            self._published_since_vacuum += published
            if self._published_since_vacuum >= self.vacuum_every and not self.db.is_sqlite:
                self._published_since_vacuum = 0
                await self._vacuum()
            return published

    async def _vacuum(self) -> None:
        try:
            async with self.db.engine.connect() as conn:
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")  # VACUUM runs outside transactions
                await conn.execute(text(f"VACUUM {self.table.name}"))
        except Exception as exc:  # noqa: BLE001 - only slower passes until the next try or autovacuum
            log.warning("vacuuming the outbox of %s failed: %s", self.service, describe_error(exc))

    async def _publish_pending(self) -> int:
        async with self.db.session() as session, session.begin():
            if not self.db.is_sqlite:
                # Its own statement, before the read: a read taking the lock in a subquery has its snapshot
                # from before the lock, so it can still see rows the previous holder published and deleted
                # as it released the lock (tried: two relays published some events twice).
                got_lock = await session.scalar(select(func.pg_try_advisory_xact_lock(self._lock_key)))
                if not got_lock:
                    return 0  # another relay instance is publishing
            rows = (
                await session.execute(
                    select(self.table.c.id, self.table.c.envelope).order_by(self.table.c.id).limit(self.batch_size)
                )
            ).all()
            if not rows:
                return 0
            envelopes = [Envelope.from_dict(row.envelope) for row in rows]
            ids = [row.id for row in rows]
            failure: Exception | None = None
            try:
                await self.bus.publish(envelopes)
            except Exception as exc:  # noqa: BLE001 - broker down: keep the rows, note the error
                failure = exc
                await session.execute(
                    update(self.table)
                    .where(self.table.c.id == ids[0])
                    .values(attempts=self.table.c.attempts + 1, last_error=describe_error(exc)[:1000])
                )
            else:
                # Exactly the rows published (not an id range: a transaction committing late may have
                # added an unpublished row inside the range since the SELECT).
                published = (
                    self.table.c.id.in_(ids)
                    if self.db.is_sqlite
                    else self.table.c.id == any_(literal(ids, ARRAY(BigInteger)))
                )
                await session.execute(delete(self.table).where(published))
        if failure is not None:
            raise failure
        for topic, count in Counter(envelope.topic for envelope in envelopes).items():
            metrics.EVENTS_PUBLISHED.labels(self.service, topic).inc(count)
        return len(rows)

    async def backlog(self) -> int:
        async with self.db.session() as session:
            count = await session.scalar(select(func.count()).select_from(self.table))
        metrics.OUTBOX_BACKLOG.labels(self.service).set(count or 0)
        return count or 0

    async def run_forever(self) -> None:
        delay = self.poll_seconds
        while True:
            try:
                while await self.publish_pending() == self.batch_size:
                    pass  # a full batch: more are waiting
                delay = self.poll_seconds
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - retry with backoff, never give up
                self.outage.failed(describe_error(exc))
                delay = min(max(delay * 2, 0.5), 10.0)
            else:
                self.outage.succeeded()
            self._wake.clear()
            # asyncio.timeout, not wait_for: Python 3.11's wait_for swallows a cancellation that arrives as
            # the wake-up does, and the relay then never stopped (an app's shutdown hung until its timeout).
            try:
                async with asyncio.timeout(delay):
                    await self._wake.wait()
            except TimeoutError:
                pass

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run_forever(), name=f"outbox:{self.service}")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
