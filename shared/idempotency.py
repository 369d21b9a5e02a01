"""The record of idempotent requests (`Idempotency-Key`), as a repository of the platform table.

A request first *claims* its key in a transaction of its own; the claim is completed with the response
in the same transaction as the state change, or released if the change fails. A concurrent request
with the same key therefore never runs the change a second time: it waits for the first to finish and
replays its response, or is told the first is still in progress (409 with Retry-After).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import Database
from shared.platform_tables import PlatformTables

IN_PROGRESS = 0  # status_code of a claimed key whose request has not finished
# A claim older than this belongs to a process that died mid-request: the key may be taken over.
ABANDONED_AFTER = timedelta(seconds=60)


@dataclass(frozen=True)
class StoredResponse:
    request_hash: str
    status_code: int
    response: Any
    claimed_at: datetime

    @property
    def in_progress(self) -> bool:
        return self.status_code == IN_PROGRESS


class IdempotencyRecords:
    def __init__(self, db: Database, tables: PlatformTables):
        self.db, self.table = db, tables.idempotency

    async def claim(self, principal: str, key: str, request_hash: str, now: datetime) -> StoredResponse | None:
        """Claim the key for this request (None) or return what is already recorded under it."""
        async with self.db.session() as session:
            try:
                await session.execute(
                    insert(self.table).values(
                        principal=principal,
                        key=key,
                        request_hash=request_hash,
                        status_code=IN_PROGRESS,
                        response={},
                        created_at=now,
                    )
                )
                await session.commit()
                return None
            except IntegrityError:
                await session.rollback()
            found = await self.get(session, principal, key)
            if found is None:  # released between our insert and our read: try once more
                return await self.claim(principal, key, request_hash, now)
            if (
                found.in_progress
                and found.request_hash == request_hash
                and now - _aware(found.claimed_at) > ABANDONED_AFTER
            ):
                taken = await session.execute(
                    update(self.table)
                    .where(
                        self.table.c.principal == principal,
                        self.table.c.key == key,
                        self.table.c.status_code == IN_PROGRESS,
                        self.table.c.created_at == found.claimed_at,
                    )
                    .values(created_at=now)
                )
                await session.commit()
                if getattr(taken, "rowcount", 0) == 1:
                    return None
            return found

    async def read(self, principal: str, key: str) -> StoredResponse | None:
        async with self.db.session() as session:
            return await self.get(session, principal, key)

    @staticmethod
    async def complete(
        session: AsyncSession, table: Table, principal: str, key: str, status_code: int, response: Any
    ) -> None:
        """Inside the request's own transaction: the response commits with the change it describes."""
        await session.execute(
            update(table)
            .where(table.c.principal == principal, table.c.key == key)
            .values(status_code=status_code, response=response)
        )

    async def release(self, principal: str, key: str) -> None:
        async with self.db.session() as session:
            await session.execute(
                delete(self.table).where(
                    self.table.c.principal == principal,
                    self.table.c.key == key,
                    self.table.c.status_code == IN_PROGRESS,
                )
            )
            await session.commit()

    async def get(self, session: AsyncSession, principal: str, key: str) -> StoredResponse | None:
        row = (
            await session.execute(
                select(self.table).where(self.table.c.principal == principal, self.table.c.key == key)
            )
        ).first()
        if row is None:
            return None
        return StoredResponse(row.request_hash, row.status_code, row.response, row.created_at)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
