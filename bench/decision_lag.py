"""Decision lag under a sustained stream of income changes (issue 10): the registry and eligibility as their
own processes on PostgreSQL and Kafka, changes sent over REST at a fixed rate (open loop). A change's lag is
eligibility's decision time minus the registry's recording of the change (`household_versions.recorded_at`
→ `decisions.created_at` for that household version; both stamped by the services on this one host). Each
change sets a new amount, so each one makes a decision. A few seconds at the same rate come first and are
not measured (a service in use has its code paths and statements warm). Per-10-second windows show
whether the lag grows; CPU seconds per process say what the stream costs.

    uv run --group bench python -m bench.decision_lag [--households 300] [--rate 75] [--seconds 60] [--warm-up 5]
        → bench/results/decision_lag_rate_<rate>.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime

import asyncpg
import httpx

from bench import cpu
from bench.deployment import create_databases, drop_databases, wage_earners
from bench.notification_latency import KAFKA, PG, RESULTS, bearer, percentile
from bench.pipeline import Meter, drained, eligibility_urls
from tests.integration.test_mission import System

SERVICES = ("registry", "eligibility")
COUNTY = "220122"


async def main(households: int, rate: float, seconds: int, warm_up_seconds: int) -> dict:
    admin = await asyncpg.connect(PG.replace("postgresql+asyncpg://", "postgresql://"))
    urls = await create_databases(admin, PG, f"bench_dl_{uuid.uuid4().hex[:6]}", SERVICES)
    speed = cpu.machine_speed_seconds()
    system = System(urls, KAFKA, "http://127.0.0.1:9", tempfile.mkdtemp(), services=SERVICES)
    system.launch()
    county = bearer("county_operator")
    dsn = {s: u.replace("postgresql+asyncpg://", "postgresql://") for s, u in urls.items()}
    registry_db, eligibility_db = await asyncpg.connect(dsn["registry"]), await asyncpg.connect(dsn["eligibility"])
    changes = int(rate * seconds)
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            await system.ready(http)
            registry = system.urls["registry"]
            incomes = await wage_earners(http, registry, county, households, COUNTY)
            await asyncio.sleep(5)  # the registrations' own decisions settle first
            meter = Meter(system)
            sent: dict[tuple[str, int], float] = {}  # (household, version) -> seconds after the start

            async def change(i: int) -> None:
                household_id, income_id = incomes[i % households]
                sent_at = time.perf_counter() - started
                amount = 100 * ((i // households) % 200 + 1)  # a new dibao amount each round, always eligible
                response = await http.patch(
                    f"{registry}/v1/households/{household_id}/incomes/{income_id}",
                    headers=county,
                    json={"amount_fen": amount},
                )
                response.raise_for_status()
                sent[(household_id, response.json()["version"])] = sent_at

            async def send(first: int, count: int) -> float:
                nonlocal started
                started, tasks = time.perf_counter(), []
                for i in range(first, first + count):
                    await asyncio.sleep(max(0.0, started + (i - first) / rate - time.perf_counter()))
                    tasks.append(asyncio.create_task(change(i)))
                await asyncio.gather(*tasks)
                return time.perf_counter() - started

            started = 0.0
            warm = int(rate * warm_up_seconds)  # as a service in use: its code paths and statements warm
            await send(0, warm)
            warm_keys = set(sent)
            await asyncio.sleep(2)
            before = meter.read()
            sent_seconds = await send(warm, changes)
            for key in warm_keys:
                sent.pop(key)
            for _ in range(240):
                if await drained(http, eligibility_urls(system), registry_db):
                    break
                await asyncio.sleep(0.5)
            spent = Meter.spent(before, meter.read())
        recorded = {
            (r["household_id"], r["version"]): r["recorded_at"]
            for r in await registry_db.fetch(
                "SELECT household_id, version, recorded_at FROM household_versions WHERE change = 'income_corrected'"
            )
        }
        decided: dict[tuple[str, int], datetime] = {}
        for r in await eligibility_db.fetch(
            "SELECT household_id, household_version, min(created_at) AS at FROM decisions "
            "WHERE household_version IS NOT NULL GROUP BY household_id, household_version"
        ):
            decided[(r["household_id"], r["household_version"])] = r["at"]
    finally:
        system.stop()
        await registry_db.close()
        await eligibility_db.close()
        await drop_databases(admin, urls)
        await admin.close()
    lags, windows, missing = [], {}, 0
    for key, sent_at in sent.items():
        if key not in decided or key not in recorded:
            missing += 1
            continue
        lag = (decided[key] - recorded[key]).total_seconds() * 1000
        lags.append(lag)
        windows.setdefault(int(sent_at // 10) * 10, []).append(lag)
    return {
        "bench": "decision_lag",
        "what": "registry income correction recorded -> eligibility decision created, service times",
        "services": list(SERVICES),
        "households": households,
        "changes": changes,
        "warm_up_seconds": warm_up_seconds,
        "rate_per_second": rate,
        "sent_in_seconds": round(sent_seconds, 2),
        "measured": len(lags),
        "missing": missing,
        "p50_ms": round(statistics.median(lags), 1),
        "p90_ms": round(percentile(lags, 0.90), 1),
        "p99_ms": round(percentile(lags, 0.99), 1),
        "max_ms": round(max(lags), 1),
        "p99_ms_per_10s_window": {f"{w}s": round(percentile(v, 0.99), 1) for w, v in sorted(windows.items())},
        "target_p99_ms": 100,
        "cpu_seconds": spent,
        "machine_speed_seconds": speed,
        "note": "the load generator is this process; PostgreSQL, Kafka and both services share the host's cores",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--households", type=int, default=300)
    parser.add_argument("--rate", type=float, default=75.0)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--warm-up", type=int, default=5, help="seconds at the same rate first, not measured")
    args = parser.parse_args()
    outcome = asyncio.run(main(args.households, args.rate, args.seconds, args.warm_up))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"decision_lag_rate_{args.rate:g}.json").write_text(json.dumps(outcome, indent=1))
    print(json.dumps(outcome, indent=1))
