"""Eligibility's stream path: how many registry events a second the consumer applies, in batches
(one transaction per batch, as the Kafka consumer delivers a partition's events) and one at a time.
The handler runs on the real PostgreSQL; events are generated in memory (registrations, then an income
correction of each household), so the figure is the handler's own rate, without broker transport.

    uv run --group bench python -m bench.stream [--households 10000] [--batch 500]   → bench/results/stream.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import asyncpg
from asgi_lifespan import LifespanManager

from bench import cpu
from services.registry.demo import demo_households
from services.registry.domain.model import Household, Income
from services.registry.service_layer.services import facts_of, new_member
from shared.bus import InProcessBus
from shared.config import ServiceSettings
from shared.contracts.registry import HouseholdRegistered, IncomeCorrected
from shared.events import Envelope
from shared.migrations import upgrade_async

RESULTS = Path(__file__).parent / "results"
PG = os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://assistance:assistance@127.0.0.1:55432/postgres")
TODAY = date(2026, 6, 15)
NOW = datetime(2026, 6, 15, 2, 0, tzinfo=UTC)


def registry_stream(households: int, sealer) -> list[Envelope]:
    """Each household's registration, then (after all registrations) a correction of its first income."""
    registered, corrected = [], []
    for data, members, incomes in demo_households(households, seed=7):
        household = Household(**data)
        for fields in members:
            household.add_member(new_member(fields, TODAY))
        for fields in incomes:
            household.record_income(Income(**fields))
        household.version = 1
        common = dict(household_id=household.id, region_code=household.region_code, occurred_at=NOW, actor="bench")
        registered.append(
            Envelope.wrap(
                HouseholdRegistered(**common, version=1, facts=facts_of(household, sealer)),
                source="/registry",
                subject=household.id,
            )
        )
        income = household.incomes[0]
        previous = income.annual_amount_fen
        income.amount_fen = 0 if income.amount_fen else 200_000
        household.version = 2
        corrected.append(
            Envelope.wrap(
                IncomeCorrected(
                    **common,
                    version=2,
                    facts=facts_of(household, sealer),
                    income_id=income.id,
                    income_type=income.type.value,
                    previous_annual_amount_fen=previous,
                    annual_amount_fen=income.annual_amount_fen,
                ),
                source="/registry",
                subject=household.id,
            )
        )
    return registered + corrected


async def run(admin, events: list[Envelope], batch: int) -> dict:
    from services.eligibility import app as eligibility_app
    from services.eligibility.service_layer.handlers import registry_consumer

    name = f"bench_stream_{uuid.uuid4().hex[:6]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = PG.rsplit("/", 1)[0] + "/" + name
    try:
        await upgrade_async("eligibility", url)
        runtime = eligibility_app.build_runtime(
            ServiceSettings.load("eligibility", database_url=url, kafka_bootstrap_servers=None), bus=InProcessBus()
        )
        runtime.clock = lambda: NOW
        app = eligibility_app.create_app(runtime, scheduler=False, manage_bus=False)
        async with LifespanManager(app, startup_timeout=60, shutdown_timeout=60):
            consume = registry_consumer(runtime)
            started, cpu_before = time.perf_counter(), cpu.snapshot()
            for start in range(0, len(events), batch):
                await consume(events[start : start + batch])
            seconds = time.perf_counter() - started
            spent = cpu.spent(cpu_before, cpu.snapshot())
            await runtime.db.dispose()
        return {
            "batch": batch,
            "events": len(events),
            "seconds": round(seconds, 2),
            "events_per_second": round(len(events) / seconds),
            # This process applies the events and relays the decisions to the in-process bus.
            "cpu_microseconds_per_event": {
                k: round(v * 1e6 / len(events)) for k, v in spent.items() if k in ("this_process", "postgresql")
            },
        }
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def main(households: int, batch: int) -> None:
    from shared.config import PlatformSettings
    from shared.sealing import Sealer

    events = registry_stream(households, Sealer(PlatformSettings().pii_key))
    admin = await asyncpg.connect(PG.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        batched = await run(admin, events, batch)
        # One at a time on a slice of the same stream (the whole stream would take minutes).
        sample = events[: min(len(events), 2000)]
        single = await run(admin, sample, 1)
    finally:
        await admin.close()
    result = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "households": households,
        "machine_speed_seconds": cpu.machine_speed_seconds(),
        "batched": batched,
        "one_at_a_time": single,
        "note": "handler rate on PostgreSQL, no broker transport; the sealer key is the development key",
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "stream.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--households", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    asyncio.run(main(args.households, args.batch))
