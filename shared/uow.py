"""Unit of work: one database transaction that holds a state change, the events it raises (written
to the outbox), the inbox record of the event that caused it, and the stored response of an
idempotent request. Either all of it commits or none of it does.

Services subclass it to attach their repositories (see `services/<name>/adapters/uow.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import date, datetime
from typing import Any, Self

from sqlalchemy import bindparam, insert, select, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.clock import Clock, business_day, utc_now
from shared.db import Database, UtcDateTime, insert_many
from shared.events import Envelope, EventPayload
from shared.idempotency import IdempotencyRecords
from shared.platform_tables import PlatformTables

_FIRST_SEEN_POSTGRESQL = text(
    "INSERT INTO inbox (consumer, event_id, event_type, processed_at) "
    "SELECT :consumer, e, t, :now FROM unnest(CAST(:ids AS text[]), CAST(:types AS text[])) AS x(e, t) "
    "ON CONFLICT (consumer, event_id) DO NOTHING RETURNING event_id"
).bindparams(bindparam("now", type_=UtcDateTime()))


class UnitOfWork:
    def __init__(
        self,
        db: Database,
        tables: PlatformTables,
        *,
        source: str,
        after_commit: Callable[[], None] | None = None,
        clock: Clock = utc_now,
    ):
        self.db, self.tables, self.source, self.clock = db, tables, source, clock
        self._after_commit = after_commit
        self.session: AsyncSession
        self.events: list[Envelope] = []
        self._committed = False

    async def __aenter__(self) -> Self:
        self.session = self.db.session()
        self.events = []
        self._committed = False
        self._bind_repositories()
        return self

    async def __aexit__(self, exc_type: object, exc: object, tb: object) -> None:
        # Shielded: a task cancelled mid-transaction (a shutdown, a stopped loop) still ends its transaction
        # and hands the connection back. Left open, it would hold its row locks on PostgreSQL until the
        # connection is collected, and on SQLite the database's one write lock, stopping every writer.
        await asyncio.shield(self._end())

    async def _end(self) -> None:
        try:
            if not self._committed:
                await self.session.rollback()
        finally:
            await self.session.close()

    def now(self) -> datetime:
        return self.clock()

    def today(self) -> date:
        """The business day (Asia/Shanghai)."""
        return business_day(self.clock())

    def _bind_repositories(self) -> None:
        """Subclasses create their repositories on `self.session` here."""

    def emit(self, payload: EventPayload, *, subject: str) -> Envelope:
        envelope = Envelope.wrap(payload, source=self.source, subject=subject)
        self.events.append(envelope)
        return envelope

    async def commit(self) -> None:
        # Outbox rows are flushed last: the aggregate rows above them are already written and locked,
        # so a household's events take ids in the order its changes commit.
        await self.session.flush()
        if self.events:
            now = self.clock()
            await insert_many(
                self.session,
                self.tables.outbox,
                [
                    {
                        "event_id": e.id,
                        "topic": e.topic,
                        "key": e.subject,
                        "event_type": e.type,
                        "envelope": e.to_dict(),
                        "created_at": now,
                    }
                    for e in self.events
                ],
            )
        await self.session.commit()
        self._committed = True
        if self.events and self._after_commit:
            self._after_commit()

    @contextlib.asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """A part of this transaction that a failure undoes alone, its events included (SAVEPOINT, on
        PostgreSQL and on SQLite alike: shared.db hands SQLite's transactions to SQLAlchemy, whose
        savepoints the driver's own transaction handling used to break)."""
        emitted = len(self.events)
        try:
            async with self.session.begin_nested():
                yield
        except BaseException:
            del self.events[emitted:]
            raise

    async def rollback(self) -> None:
        """Undo everything of this transaction, its events included; the unit of work stays usable."""
        await self.session.rollback()
        self.events = []

    # --- inbox: consumers' exactly-once effect ------------------------------------------------
    async def seen_before(self, consumer: str, envelope: Envelope) -> bool:
        """True if this consumer already processed the event; otherwise records it in this transaction."""
        table = self.tables.inbox
        found = await self.session.scalar(
            select(table.c.event_id).where(table.c.consumer == consumer, table.c.event_id == envelope.id)
        )
        if found:
            return True
        await self.session.execute(
            insert(table).values(
                consumer=consumer, event_id=envelope.id, event_type=envelope.type, processed_at=self.clock()
            )
        )
        return False

    async def first_seen(self, consumer: str, envelopes: Sequence[Envelope]) -> list[Envelope]:
        """The events of a batch this consumer has not processed before, in order; records them in this
        transaction with one statement (a batch repeated in part or whole applies once). The insert skips
        what the unique key already holds and returns what it wrote: a lookup of the batch's ids first was
        planned by PostgreSQL, once it switched to a generic plan, as a scan of the whole inbox comparing
        each row with every id, so consumption slowed as the inbox grew."""
        table = self.tables.inbox
        first: dict[str, Envelope] = {}
        for envelope in envelopes:
            first.setdefault(envelope.id, envelope)
        if not first:
            return []
        now = self.clock()
        if self.session.bind.dialect.name == "postgresql":
            # One statement over arrays, written out: SQLAlchemy's PostgreSQL INSERT construct is compiled
            # anew on every execution (it opts out of the statement cache), once per consumed batch.
            result = await self.session.execute(
                _FIRST_SEEN_POSTGRESQL,
                {
                    "consumer": consumer,
                    "now": now,
                    "ids": list(first),
                    "types": [e.type for e in first.values()],
                },
            )
        else:
            result = await self.session.execute(
                sqlite_insert(table)
                .on_conflict_do_nothing(index_elements=[table.c.consumer, table.c.event_id])
                .returning(table.c.event_id),
                [
                    {"consumer": consumer, "event_id": e.id, "event_type": e.type, "processed_at": now}
                    for e in first.values()
                ],
            )
        written = set(result.scalars())
        return [envelope for event_id, envelope in first.items() if event_id in written]

    async def complete_idempotent_request(self, principal: str, key: str, status_code: int, response: Any) -> None:
        """Stores the response of an idempotent request with the change it made (see shared.idempotency)."""
        await IdempotencyRecords.complete(self.session, self.tables.idempotency, principal, key, status_code, response)
