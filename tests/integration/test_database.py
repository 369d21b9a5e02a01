"""The shared database engine on the real PostgreSQL: connections in steady use are not pinged; one left
idle is pinged before it is handed out, and one the server dropped meanwhile is replaced unseen."""

from __future__ import annotations

from sqlalchemy import text

from shared import db as shared_db
from shared.db import Database


async def test_an_idle_connection_dropped_by_the_server_is_replaced_before_use(databases, monkeypatch):
    database = Database(await databases.create("registry"), pool_size=1)
    pings = []
    ping = database.engine.dialect.do_ping

    def counted_ping(connection):
        pings.append(1)
        return ping(connection)

    monkeypatch.setattr(database.engine.dialect, "do_ping", counted_ping)
    try:
        async with database.engine.connect() as conn:
            first_pid = await conn.scalar(text("SELECT pg_backend_pid()"))
        for _ in range(3):  # in steady use: no ping
            async with database.engine.connect() as conn:
                assert await conn.scalar(text("SELECT pg_backend_pid()")) == first_pid
        assert pings == []

        # The server drops the pooled connection (a restart, an idle timeout) while it sits idle.
        admin = Database(databases.admin_url)
        async with admin.engine.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first_pid})
        await admin.dispose()
        monkeypatch.setattr(shared_db, "IDLE_BEFORE_PING_SECONDS", 0.0)
        async with database.engine.connect() as conn:  # pinged, found dead, replaced: the query just works
            second_pid = await conn.scalar(text("SELECT pg_backend_pid()"))
        assert pings and second_pid != first_pid
    finally:
        await database.dispose()
