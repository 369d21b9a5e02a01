"""Database engine and sessions: SQLAlchemy 2 async on PostgreSQL (asyncpg) or SQLite (aiosqlite)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import ARRAY, JSON, ColumnElement, DateTime, Dialect, String, Table, any_, event, insert, literal, text
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.types import TypeDecorator


class Database:
    def __init__(self, url: str, *, pool_size: int = 20):
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        # orjson: JSON columns (explanations, snapshots, outbox envelopes) are on every hot path.
        options: dict[str, Any] = {"json_serializer": _dumps, "json_deserializer": orjson.loads}
        if self.is_sqlite:
            # One connection: SQLite has one write lock per file, and every transaction here takes it at
            # its start, so transactions wait their turn in the pool's queue (in order, without a thread
            # each polling the lock) instead of inside SQLite's busy handler.
            options.update(pool_size=1, max_overflow=0, pool_timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
        else:
            # A fixed pool, no overflow: a request beyond it waits for a connection instead of opening one
            # that is closed again on return (under load that churned hundreds of sessions a minute).
            options.update(pool_size=pool_size, max_overflow=0, pool_timeout=30)
        self.engine: AsyncEngine = create_async_engine(url, **options)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            event.listen(self.engine.sync_engine, "begin", _sqlite_begin_immediate)
        else:
            event.listen(self.engine.sync_engine, "connect", _json_from_bytes)
            _ping_when_idle(self.engine)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

    def session(self) -> AsyncSession:
        return self.sessionmaker()

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


# A pooled connection unused this long is pinged before it is handed out; one in steady use is not.
IDLE_BEFORE_PING_SECONDS = 10.0


def _ping_when_idle(engine: AsyncEngine) -> None:
    """Pessimistic disconnect handling for idle connections only. `pool_pre_ping` pinged on every
    checkout: a round trip and a statement's CPU per transaction in every service, for connections
    used a moment before. A connection idle past the threshold (the database may have restarted or
    dropped it meanwhile) is pinged; a dead one is replaced before anyone uses it. A connection that dies
    while in steady use fails its statement instead: SQLAlchemy then invalidates the pool, the request
    answers 503 with Retry-After, and the next checkout gets a fresh connection."""

    def checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    def checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < IDLE_BEFORE_PING_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # any failure means: do not hand this connection out
            raise DisconnectionError(f"idle connection failed its ping: {exc}") from exc

    event.listen(engine.sync_engine, "checkin", checked_in)
    event.listen(engine.sync_engine, "checkout", checked_out)


def Code(length: int) -> String:
    """The column type of identifiers and codes (ids, region codes, event ids, keys): on PostgreSQL
    compared byte by byte (COLLATE "C"). They are ASCII, so byte order is their natural order, and a
    cluster initialised with a linguistic locale (C.UTF-8, zh_CN.UTF-8) would otherwise call strcoll
    for every index comparison (a province job spent a fifth of its PostgreSQL time there) and could
    not use an index for `LIKE 'prefix%'`."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp column that reads back timezone-aware on every database: SQLite keeps no zone and
    returns naive values, which the API would print without an offset (and Python would refuse to
    compare with aware ones). Values are written in UTC; the DDL is DateTime(timezone=True)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and dialect.name == "sqlite" and value.tzinfo is not None:
            return value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


# JSON columns take any mapping the service layer builds: a row read as a dict has SQLAlchemy's
# `quoted_name` (a str subclass) as its keys, which orjson refuses without OPT_NON_STR_KEYS (an
# idempotent response built from a row failed with "Dict key must be str").
JSON_OPTIONS = orjson.OPT_NON_STR_KEYS


def _dumps(value: Any) -> str:
    return orjson.dumps(value, default=str, option=JSON_OPTIONS).decode()


def _json_from_bytes(dbapi_connection: Any, _record: Any) -> None:
    # SQLAlchemy's asyncpg codec turns each JSON value into a str before parsing it; orjson parses the
    # bytes as they come (a province job reads ~1M JSON values: snapshots, states, outbox envelopes).
    dbapi_connection.run_async(
        lambda conn: conn.set_type_codec(
            "json", encoder=str.encode, decoder=orjson.loads, schema="pg_catalog", format="binary"
        )
    )


# How long a SQLite transaction waits for the database's one write lock before it gives up ("database is
# locked", answered 503 with Retry-After): longer than the longest step that holds it (an import chunk,
# a job batch), so the embedded default's background work waits its turn instead of failing.
SQLITE_BUSY_TIMEOUT_MS = 30_000


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers of the file go on beside a writer; foreign keys are off by default in SQLite.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()
    # The driver's own transaction handling begins a transaction only before the first write, so the
    # reads before it (a claim's SELECT, a uniqueness check) ran outside it: two requests or two workers
    # could both read "unclaimed" and both act. SQLAlchemy's BEGIN is emitted by `_sqlite_begin_immediate`.
    dbapi_connection.isolation_level = None


def _sqlite_begin_immediate(connection: Any) -> None:
    """Every transaction takes SQLite's write lock at its start. SQLite has no row locks: `FOR UPDATE`
    (and `SKIP LOCKED`) compile to nothing, so the claims and read-modify-writes that rely on them on
    PostgreSQL are serialised here by the database lock instead; a second claimer waits for the first to
    commit and then reads what it committed. Deferred transactions would instead fail at their first write
    whenever another transaction committed since their first read (SQLITE_BUSY_SNAPSHOT)."""
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def serialised_json(value: Any) -> orjson.Fragment:
    """A JSON column's value serialised now, for writing it to more than one row or table (a household's
    row and its version): a Fragment is written as the JSON it holds, by COPY and by SQLAlchemy alike."""
    return orjson.Fragment(orjson.dumps(value, default=str, option=JSON_OPTIONS))


def one_of(session: AsyncSession, column: ColumnElement[Any], values: Iterable[Any]) -> ColumnElement[bool]:
    """`column IN values`, written on PostgreSQL as `column = ANY($1)` with one array parameter: an IN
    list is one parameter per value, so every batch size is a new statement to render and prepare, and
    once PostgreSQL settles on a generic plan a long list is no longer hashed."""
    distinct = sorted(set(values))
    if session.bind.dialect.name == "postgresql":
        return column == any_(literal(distinct, ARRAY(column.type)))
    return column.in_(distinct)


# Below this many rows an INSERT is as fast as COPY and simpler to read in a query log.
COPY_THRESHOLD = 50


async def insert_many(session: AsyncSession, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert rows in the session's transaction. On PostgreSQL, many rows go through COPY (bulk jobs
    write hundreds of thousands of decisions and outbox rows; COPY is several times faster than a
    multi-row INSERT); JSON columns are serialised here because COPY bypasses SQLAlchemy's types."""
    if not rows:
        return
    if session.bind.dialect.name != "postgresql" or len(rows) < COPY_THRESHOLD:
        await session.execute(insert(table), rows)
        return
    columns = [c.name for c in table.columns if c.name in rows[0]]
    json_columns = {c.name for c in table.columns if isinstance(c.type, JSON)}
    records = [
        tuple(_dumps(row[c]) if c in json_columns and row[c] is not None else row[c] for c in columns) for row in rows
    ]
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection
    await driver.copy_records_to_table(table.name, records=records, columns=columns)
