"""Alembic, configured in code: each service keeps its migrations in `services/<name>/migrations`,
and `upgrade(service, url)` applies them (the service CLI, the embedded runner and the tests)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import Connection, MetaData, pool
from sqlalchemy.ext.asyncio import create_async_engine

SERVICES_DIR = Path(__file__).resolve().parent.parent / "services"


def alembic_config(service: str, url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SERVICES_DIR / service / "migrations"))
    config.set_main_option("sqlalchemy.url", url)
    config.attributes["service"] = service
    return config


def upgrade(service: str, url: str, revision: str = "head") -> None:
    """Blocking; call from a thread when an event loop is running (`asyncio.to_thread`)."""
    command.upgrade(alembic_config(service, url), revision)


async def upgrade_async(service: str, url: str) -> None:
    await asyncio.to_thread(upgrade, service, url)


def run_migrations(metadata: MetaData) -> None:
    """Body of every service's migrations/env.py."""
    url = context.config.get_main_option("sqlalchemy.url") or ""
    batch = url.startswith("sqlite")
    if context.is_offline_mode():
        context.configure(
            url=url, literal_binds=True, target_metadata=metadata, render_as_batch=batch, compare_type=True
        )
        with context.begin_transaction():
            context.run_migrations()
        return

    def do_run(connection: Connection) -> None:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=batch, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()

    async def run_async() -> None:
        engine = create_async_engine(url, poolclass=pool.NullPool)
        async with engine.connect() as connection:
            await connection.run_sync(do_run)
        await engine.dispose()

    asyncio.run(run_async())


def collate_bytewise(columns: dict[str, dict[str, int]], collation: str = "C") -> None:
    """Migration step: give existing identifier columns ({table: {column: length}}) the byte order of
    `shared.db.Code` on PostgreSQL (their indexes are rebuilt); `collation="default"` undoes it.
    SQLite compares bytes already."""
    if context.get_bind().dialect.name != "postgresql":
        return
    from alembic import op

    for table, lengths in columns.items():
        for column, length in lengths.items():
            op.execute(f'ALTER TABLE {table} ALTER COLUMN {column} TYPE varchar({length}) COLLATE "{collation}"')


def outbox_holds_unpublished_only() -> None:
    """Migration step (every service's platform tables): the relay deletes published rows instead of
    marking them, so the rows already published go and so do the column and index that marked them."""
    from alembic import op

    op.execute("DELETE FROM outbox WHERE published_at IS NOT NULL")
    op.drop_index("ix_outbox_unpublished", table_name="outbox")
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.drop_column("published_at")


def outbox_marks_published_rows() -> None:
    """Undoes `outbox_holds_unpublished_only` (the rows it deleted are not brought back)."""
    import sqlalchemy as sa
    from alembic import op

    with op.batch_alter_table("outbox") as batch_op:
        batch_op.add_column(sa.Column("published_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_outbox_unpublished",
        "outbox",
        ["id"],
        postgresql_where=sa.text("published_at IS NULL"),
        sqlite_where=sa.text("published_at IS NULL"),
    )


# --- the platform tables, frozen per version ---------------------------------------------------------
# A service's first migration calls `create_platform_tables_v1()`. The function is frozen: a later change
# to the platform tables is a new step (as `outbox_holds_unpublished_only` was), so a migration applied
# once applies the same DDL for ever, whatever `shared.platform_tables` becomes.


def create_platform_tables_v1() -> None:
    """Outbox, inbox and idempotency records as `shared.platform_tables` defines them at v1."""
    import sqlalchemy as sa
    from alembic import op

    def code(length: int) -> sa.types.TypeEngine[str]:
        return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")

    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("event_id", code(64), nullable=False),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("key", code(200), nullable=False),
        sa.Column("event_type", sa.String(200), nullable=False),
        sa.Column("envelope", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id"),
    )
    op.create_table(
        "inbox",
        sa.Column("consumer", code(100), nullable=False),
        sa.Column("event_id", code(64), nullable=False),
        sa.Column("event_type", sa.String(200), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "event_id"),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("principal", code(200), nullable=False),
        sa.Column("key", code(200), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("principal", "key"),
    )


def drop_platform_tables_v1() -> None:
    from alembic import op

    for table in ("idempotency_keys", "inbox", "outbox"):
        op.drop_table(table)
