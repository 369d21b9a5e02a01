"""How fast notifications consumes a province's decision events: N `eligibility.decision.changed` events
(amount changes after a standard raise, spread over the townships of a county), handed to its batch
consumer 500 at a time as the bus would, on PostgreSQL, then the operators' digests. Reports events a
second, the notices and digests made, and the CPU of this process and of PostgreSQL.

    uv run python -m bench.notifications_stream [--events 50000] [--profile FILE]
        → bench/results/notifications_stream.json
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg
from asgi_lifespan import LifespanManager
from sqlalchemy import func, select

from bench import cpu
from services.notifications.adapters import orm
from services.notifications.adapters.uow import NotificationsUnitOfWork
from services.notifications.config import NotificationSettings
from services.notifications.service_layer.handlers import events_consumer
from services.notifications.service_layer.notices import flush_groups
from shared.bus import InProcessBus
from shared.config import ServiceSettings
from shared.contracts.eligibility import DecisionChanged
from shared.events import Envelope
from shared.ids import new_record_id
from shared.migrations import upgrade_async
from shared.tracing import new_trace, use_trace

RESULTS = Path(__file__).parent / "results"
PG = os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://assistance:assistance@127.0.0.1:55432/postgres")


def decisions(count: int) -> list[Envelope]:
    out = []
    for n in range(count):
        household_id = new_record_id()
        with use_trace(new_trace()):
            out.append(
                Envelope.wrap(
                    DecisionChanged(
                        decision_id=new_record_id(),
                        household_id=household_id,
                        region_code=f"220122{n % 20:03d}{n % 7:03d}",
                        cadre_id=f"cadre-{n % 900}",
                        programme="dibao",
                        member_id=None,
                        change="amount_changed",
                        status="eligible",
                        previous_status="eligible",
                        monthly_amount_fen=30_000 + n % 5000,
                        previous_monthly_amount_fen=28_000,
                        valid_from=date(2027, 1, 1),
                        valid_until=None,
                        household_version=3,
                        as_of=date(2027, 1, 1),
                        decision_sequence=4,
                    ),
                    source="/eligibility",
                    subject=household_id,
                )
            )
    return out


async def main(count: int, profile: str | None) -> dict:
    from services.notifications import app as notifications_app

    admin = await asyncpg.connect(PG.replace("postgresql+asyncpg://", "postgresql://"))
    name = f"bench_nstream_{uuid.uuid4().hex[:8]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = PG.rsplit("/", 1)[0] + "/" + name
    await upgrade_async("notifications", url)
    runtime = notifications_app.build_runtime(
        ServiceSettings.load("notifications", database_url=url, kafka_bootstrap_servers=None), bus=InProcessBus()
    )
    app = notifications_app.create_app(runtime, watch=False)
    events = decisions(count)
    try:
        async with LifespanManager(app, startup_timeout=60):
            consume = events_consumer(runtime)
            before = cpu.snapshot()
            profiler = cProfile.Profile() if profile else None
            started = time.perf_counter()
            if profiler:
                profiler.enable()
            for first in range(0, count, 500):
                await consume(events[first : first + 500])
            if profiler:
                profiler.disable()
                profiler.dump_stats(profile)
            consumed = time.perf_counter() - started
            flush_started = time.perf_counter()
            async with NotificationsUnitOfWork(runtime) as uow:
                digests = await flush_groups(
                    uow, datetime.now(UTC) + timedelta(hours=1), NotificationSettings().group_timing
                )
                await uow.commit()
            flushed = time.perf_counter() - flush_started
            spent = cpu.spent(before, cpu.snapshot())
            async with runtime.db.session() as session:
                notices = await session.scalar(select(func.count()).select_from(orm.notifications))
                indexed = await session.scalar(select(func.count()).select_from(orm.trace_events))
    finally:
        await runtime.db.dispose()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    return {
        "bench": "notifications_stream",
        "events": count,
        "consume_seconds": round(consumed, 2),
        "events_per_second": round(count / consumed, 1),
        "notices": notices,
        "operator_digests": digests,
        "digest_seconds": round(flushed, 2),
        "trace_rows": indexed,
        "cpu_seconds": {k: round(v, 2) for k, v in spent.items()},
        "measured_at": datetime.now(UTC).isoformat(),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--profile")
    args = parser.parse_args()
    outcome = asyncio.run(main(args.events, args.profile))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "notifications_stream.json").write_text(json.dumps(outcome, indent=1))
    print(json.dumps(outcome, indent=1))
