"""Database engine and sessions: SQLAlchemy 2 async on PostgreSQL (asyncpg) or SQLite (aiosqlite)."""
from __future__ import annotations

import orjson
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


class Database:
    def __init__(self, url: str, *, pool_size: int = 10):
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        # orjson: JSON columns (explanations, snapshots, outbox envelopes) are on every hot path.
        options: dict = {"pool_pre_ping": True, "json_serializer": _dumps, "json_deserializer": orjson.loads}
        if not self.is_sqlite:
            options.update(pool_size=pool_size, max_overflow=pool_size)
        self.engine: AsyncEngine = create_async_engine(url, **options)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

    def session(self) -> AsyncSession:
        return self.sessionmaker()

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


def _dumps(value) -> str:
    return orjson.dumps(value, default=str).decode()


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL lets the outbox relay read while a request writes; foreign keys are off by default in SQLite.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()
