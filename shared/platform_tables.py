"""Tables every service's database has: the transactional outbox, the consumer inbox and the record
of idempotent requests. Each service adds them to its own metadata, and its Alembic migrations create them."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import JSON, BigInteger, Column, Integer, MetaData, String, Table, Text

from shared.db import Code, UtcDateTime

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")


@dataclass(frozen=True)
class PlatformTables:
    outbox: Table
    inbox: Table
    idempotency: Table


def add_platform_tables(metadata: MetaData) -> PlatformTables:
    # Holds the events not yet on the broker: the relay deletes a row once the broker has acknowledged
    # it. What happened stays in each service's own history tables and on the broker.
    outbox = Table(
        "outbox",
        metadata,
        # Commit order per aggregate follows this id: the aggregate row is written (and locked) before
        # the outbox row takes its id, so two changes of one household cannot interleave.
        Column("id", BigId, primary_key=True, autoincrement=True),
        Column("event_id", Code(64), nullable=False, unique=True),
        Column("topic", String(200), nullable=False),
        Column("key", Code(200), nullable=False),
        Column("event_type", String(200), nullable=False),
        Column("envelope", JSON, nullable=False),
        Column("created_at", UtcDateTime(), nullable=False),
        Column("attempts", Integer, nullable=False, server_default="0"),
        Column("last_error", Text),
    )
    inbox = Table(
        "inbox",
        metadata,
        Column("consumer", Code(100), primary_key=True),
        Column("event_id", Code(64), primary_key=True),
        Column("event_type", String(200), nullable=False),
        Column("processed_at", UtcDateTime(), nullable=False),
    )
    idempotency = Table(
        "idempotency_keys",
        metadata,
        Column("principal", Code(200), primary_key=True),
        Column("key", Code(200), primary_key=True),
        Column("request_hash", String(64), nullable=False),
        Column("status_code", Integer, nullable=False),
        Column("response", JSON, nullable=False),
        Column("created_at", UtcDateTime(), nullable=False),
    )
    return PlatformTables(outbox=outbox, inbox=inbox, idempotency=idempotency)
