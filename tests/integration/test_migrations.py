"""Migrations that move data: applied to a database holding rows, on PostgreSQL and SQLite, up and down."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, date, datetime

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from shared.migrations import alembic_config, upgrade_async

NOW = datetime(2021, 6, 1, tzinfo=UTC)


async def _migrate(url: str, direction: str, revision: str, service: str = "eligibility") -> None:
    await asyncio.to_thread(getattr(command, direction), alembic_config(service, url), revision)


async def _rows(url: str, sql: str) -> list:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(text(sql))).all()
    finally:
        await engine.dispose()


async def _seed_at_0004(url: str) -> None:
    """Two households: one with a dibao decision replaced once and a subsidy in force, one with none."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            for household in ("h1", "h2"):
                await conn.execute(
                    text(
                        "INSERT INTO households (household_id, version, region_code, snapshot, updated_at) "
                        "VALUES (:h, 1, '220122', :s, :t)"
                    ),
                    {"h": household, "s": json.dumps({"id": household}), "t": NOW},
                )
            for decision_id, programme, member, status, amount, until, current in (
                ("d-old", "dibao", None, "eligible", 30000, None, False),
                ("d-new", "dibao", None, "gradual_exit", 25000, date(2022, 12, 31), True),
                ("d-sub", "disability_living_subsidy", "m1", "eligible", 10000, None, True),
            ):
                await conn.execute(
                    text(
                        "INSERT INTO decisions (id, household_id, programme, member_id, status, scope, "
                        "monthly_amount_fen, valid_from, valid_until, change, current, as_of, trigger, created_at) "
                        "VALUES (:id, 'h1', :p, :m, :st, 'household', :a, :f, :u, 'granted', :c, :f, 'test', :t)"
                    ),
                    {
                        "id": decision_id,
                        "p": programme,
                        "m": member,
                        "st": status,
                        "a": amount,
                        "f": date(2021, 1, 1),
                        "u": until,
                        "c": current,
                        "t": NOW,
                    },
                )
    finally:
        await engine.dispose()


@pytest.fixture(params=["postgresql", "sqlite"])
async def eligibility_database(request, tmp_path, databases):
    """An eligibility database at head."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'eligibility.db'}"
        await upgrade_async("eligibility", url)
        return url
    return await databases.create("eligibility")


@pytest.fixture
async def database_at_0004(eligibility_database):
    await _migrate(eligibility_database, "downgrade", "0004")
    await _seed_at_0004(eligibility_database)
    return eligibility_database


async def test_decisions_in_force_move_to_the_household_and_back(database_at_0004):
    url = database_at_0004
    await _migrate(url, "upgrade", "head")
    stored = {
        h: (json.loads(c) if isinstance(c, str) else c)
        for h, c in await _rows(url, "SELECT household_id, current_decisions FROM households")
    }
    assert stored["h2"] is None
    assert stored["h1"] == [
        {
            "id": "d-new",
            "programme": "dibao",
            "member_id": None,
            "status": "gradual_exit",
            "monthly_amount_fen": 25000,
            "valid_from": "2021-01-01",
            "valid_until": "2022-12-31",
        },
        {
            "id": "d-sub",
            "programme": "disability_living_subsidy",
            "member_id": "m1",
            "status": "eligible",
            "monthly_amount_fen": 10000,
            "valid_from": "2021-01-01",
            "valid_until": None,
        },
    ]
    assert len(await _rows(url, "SELECT id FROM decisions")) == 3  # the history is kept whole

    await _migrate(url, "downgrade", "0004")
    assert {(i, bool(c)) for i, c in await _rows(url, "SELECT id, current FROM decisions")} == {
        ("d-old", False),
        ("d-new", True),
        ("d-sub", True),
    }


async def test_published_outbox_rows_go_and_unpublished_ones_stay(eligibility_database):
    url = eligibility_database
    await _migrate(url, "downgrade", "0006")
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            for event_id, published_at in (("sent", NOW), ("waiting", None)):
                await conn.execute(
                    text(
                        "INSERT INTO outbox (event_id, topic, key, event_type, envelope, created_at, published_at) "
                        "VALUES (:e, 't', 'h1', 'x', '{}', :t, :p)"
                    ),
                    {"e": event_id, "t": NOW, "p": published_at},
                )
    finally:
        await engine.dispose()
    await _migrate(url, "upgrade", "head")
    assert [r[0] for r in await _rows(url, "SELECT event_id FROM outbox")] == ["waiting"]
    await _migrate(url, "downgrade", "0006")
    assert [tuple(r) for r in await _rows(url, "SELECT event_id, published_at FROM outbox")] == [("waiting", None)]


@pytest.mark.parametrize("dialect", ["postgresql", "sqlite"])
async def test_the_platform_tables_step_creates_what_the_platform_defines(databases, dialect, tmp_path):
    """A new service's first migration calls `create_platform_tables_v1()`: it must build exactly the
    tables `shared.platform_tables` describes (Alembic's own comparison finds no difference)."""
    from alembic.migration import MigrationContext
    from alembic.operations import Operations
    from sqlalchemy import MetaData

    from shared.migrations import create_platform_tables_v1, drop_platform_tables_v1
    from shared.platform_tables import add_platform_tables

    if dialect == "postgresql":
        url = (await databases.create("registry")).rsplit("/", 1)[0] + "/postgres"
        name = f"t_platform_{uuid.uuid4().hex[:8]}"
        admin = create_async_engine(url, isolation_level="AUTOCOMMIT")
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        await admin.dispose()
        url = url.rsplit("/", 1)[0] + "/" + name
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'platform.db'}"
    metadata = MetaData()
    add_platform_tables(metadata)

    def build_and_compare(connection):
        from alembic.autogenerate import compare_metadata

        context = MigrationContext.configure(connection, opts={"compare_type": True})
        with Operations.context(context):
            create_platform_tables_v1()
        differences = compare_metadata(context, metadata)
        with Operations.context(context):
            drop_platform_tables_v1()
        return differences

    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            assert await conn.run_sync(build_and_compare) == []
    finally:
        await engine.dispose()


@pytest.mark.parametrize("dialect", ["postgresql", "sqlite"])
async def test_import_errors_move_to_their_own_table_and_back(databases, dialect, tmp_path):
    if dialect == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'registry.db'}"
        await upgrade_async("registry", url)
    else:
        url = await databases.create("registry")
    await _migrate(url, "downgrade", "0003", "registry")
    errors = [
        {"line": 3, "external_ref": "r3", "error": "region: unknown"},
        {"line": 7, "external_ref": None, "error": "not valid JSON"},
    ]
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO import_jobs (id, actor, traceparent, format, content_sha256, content, status, total, "
                    "processed, imported, unchanged, failed, errors, created_at, updated_at) VALUES ('j1', '{}', "
                    "'00-x', 'jsonl', 'h', '', 'done', 8, 8, 6, 0, 2, :e, :t, :t)"
                ),
                {"e": json.dumps(errors), "t": NOW},
            )
    finally:
        await engine.dispose()
    await _migrate(url, "upgrade", "0004", "registry")
    moved = await _rows(url, "SELECT job_id, line, external_ref, error FROM import_job_errors ORDER BY line")
    assert [tuple(r) for r in moved] == [("j1", 3, "r3", "region: unknown"), ("j1", 7, None, "not valid JSON")]
    await _migrate(url, "downgrade", "0003", "registry")
    (restored,) = await _rows(url, "SELECT errors FROM import_jobs WHERE id = 'j1'")
    value = restored[0]
    assert (json.loads(value) if isinstance(value, str) else value) == errors


@pytest.mark.parametrize("service", ["registry", "eligibility", "disbursement", "notifications"])
async def test_migrations_at_head_build_what_the_orm_describes(databases, service):
    """A service's migrations and its ORM tables agree (Alembic's own comparison, types included): a column
    added to one and forgotten in the other fails here."""
    import importlib

    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    metadata = importlib.import_module(f"services.{service}.adapters.orm").metadata
    engine = create_async_engine(await databases.create(service))

    def differences(connection):
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return [
            d
            for d in compare_metadata(context, metadata)
            if not (isinstance(d, tuple) and d[0] == "remove_table" and d[1].name == "alembic_version")
        ]

    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(differences) == []
    finally:
        await engine.dispose()
