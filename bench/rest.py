"""The REST API under concurrent clients, as an integrator would call it: the registry and eligibility as
their own processes on PostgreSQL and Kafka; N clients (closed loop) each repeat one operation for S seconds:
list households, get one, create one, correct an income, read decisions. Reports requests a second,
p50/p99, errors, and the PostgreSQL sessions opened meanwhile (pg_stat_database.sessions: a pool that
churns opens hundreds). The load is sent with aiohttp: httpx's connection pool spends a core of its own at
50 connections on this 2-core machine and halved what the services seemed to serve.

    uv run --group bench python -m bench.rest [--clients 10 50] [--seconds 15]  → bench/results/rest.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import asyncpg
import httpx

from bench import cpu
from shared.auth import issue_token
from shared.config import PlatformSettings
from shared.migrations import upgrade_async
from tests.factories import household, id_number, member
from tests.integration.test_mission import System

RESULTS = Path(__file__).parent / "results"
PG = os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://assistance:assistance@127.0.0.1:55432/postgres")
KAFKA = os.environ.get("TEST_KAFKA_BOOTSTRAP", "127.0.0.1:19092")
COUNTY = "220122"
SERVICES = ("registry", "eligibility")


class RestSystem(System):
    def __init__(self, urls: dict[str, str]):
        super().__init__(urls, KAFKA, "http://127.0.0.1:9", tempfile.mkdtemp())
        self.ports = {name: port for name, port in self.ports.items() if name in SERVICES}
        self.urls = {name: url for name, url in self.urls.items() if name in SERVICES}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def sessions(admin: asyncpg.Connection, names: list[str]) -> int:
    return await admin.fetchval(
        "SELECT coalesce(sum(sessions), 0) FROM pg_stat_database WHERE datname = any($1)", names
    )


async def loop(call, stop: float) -> tuple[list[float], int]:
    """One client: the operation again and again until `stop`; its latencies (ms) and errors."""
    latencies, errors = [], 0
    while time.perf_counter() < stop:
        started = time.perf_counter()
        status = await call()
        latencies.append((time.perf_counter() - started) * 1000)
        errors += status >= 400
    return latencies, errors


async def main(clients: list[int], seconds: float) -> dict:
    admin = await asyncpg.connect(PG.replace("postgresql+asyncpg://", "postgresql://"))
    names = {service: f"bench_rest_{service[:4]}_{uuid.uuid4().hex[:6]}" for service in SERVICES}
    urls = {}
    for service, name in names.items():
        await admin.execute(f'CREATE DATABASE "{name}"')
        urls[service] = PG.rsplit("/", 1)[0] + "/" + name
        await upgrade_async(service, urls[service])
    speed = cpu.machine_speed_seconds()  # this shared machine's speed moves ~2.5x: read results beside it
    system = RestSystem(urls)
    system.launch()
    token = issue_token(PlatformSettings(), subject="bench-rest", roles=["county_operator"], region=COUNTY)
    headers = {"Authorization": f"Bearer {token}"}
    results: dict = {}
    try:
        limits = httpx.Limits(max_connections=max(clients) + 10, max_keepalive_connections=max(clients) + 10)
        async with httpx.AsyncClient(timeout=60, limits=limits, headers=headers) as http:
            await system.ready(http)
            registry, eligibility = system.urls["registry"], system.urls["eligibility"]
            seeded = []
            for _ in range(200):
                body = household(COUNTY, members=[member(), member("spouse", id_number=id_number(sex="female"))])
                body["incomes"] = [
                    {"type": "wages", "amount_fen": 10_000, "period": "month", "effective_from": "2026-01-01"}
                ]
                created = (await http.post(f"{registry}/v1/households", json=body)).json()
                seeded.append((created["id"], created["incomes"][0]["id"]))
            await asyncio.sleep(3)
            counter = {"n": 0}
            load = aiohttp.ClientSession(headers=headers, connector=aiohttp.TCPConnector(limit=max(clients) + 10))

            async def status(method: str, url: str, **kwargs) -> int:
                async with load.request(method, url, **kwargs) as response:
                    await response.read()
                    return response.status

            def operation(kind: str):
                async def call() -> int:
                    counter["n"] += 1
                    household_id, income_id = seeded[counter["n"] % len(seeded)]
                    if kind == "list":
                        return await status(
                            "GET", f"{registry}/v1/households", params={"region_code": COUNTY, "limit": 50}
                        )
                    if kind == "get":
                        return await status("GET", f"{registry}/v1/households/{household_id}")
                    if kind == "create":
                        return await status(
                            "POST", f"{registry}/v1/households", json=household(COUNTY, members=[member()])
                        )
                    if kind == "income_change":
                        url = f"{registry}/v1/households/{household_id}/incomes/{income_id}"
                        return await status("PATCH", url, json={"amount_fen": 10_000 + counter["n"] % 5_000})
                    return await status("GET", f"{eligibility}/v1/households/{household_id}/decisions")

                return call

            async def settled() -> None:
                """Writes leave events behind (eligibility decides them): the next phase starts when they are done."""
                await asyncio.sleep(2)
                for _ in range(600):
                    async with load.get(f"{eligibility}/metrics") as response:
                        text = await response.text()
                    lag = sum(
                        float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("consumer_lag{")
                    )
                    if lag == 0:
                        return
                    await asyncio.sleep(0.5)

            for n in clients:
                for kind in ("list", "get", "create", "income_change", "decisions"):
                    call = operation(kind)
                    before = await sessions(admin, list(names.values()))
                    started = time.perf_counter()
                    measured = await asyncio.gather(*(loop(call, started + seconds) for _ in range(n)))
                    elapsed = time.perf_counter() - started
                    latencies = [ms for one, _ in measured for ms in one]
                    errors = sum(failed for _, failed in measured)
                    after = await sessions(admin, list(names.values()))
                    results[f"{kind}@{n}"] = {
                        "requests_per_second": round(len(latencies) / elapsed, 1),
                        "p50_ms": round(statistics.median(latencies), 1),
                        "p99_ms": round(percentile(latencies, 0.99), 1),
                        "errors": errors,
                        "requests": len(latencies),
                        "postgres_sessions_opened": int(after - before),
                    }
                    print(kind, n, results[f"{kind}@{n}"], flush=True)
                    await settled()
            await load.close()
    finally:
        system.stop()
        for name in names.values():
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    return {
        "bench": "rest",
        "what": "closed loop: N clients each repeating one operation; registry and eligibility as processes on "
        "PostgreSQL + Kafka",
        "seconds_per_operation": seconds,
        "results": results,
        "machine_speed_seconds": speed,
        "measured_at": datetime.now(UTC).isoformat(),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, nargs="+", default=[10, 50])
    parser.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args()
    outcome = asyncio.run(main(args.clients, args.seconds))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "rest.json").write_text(json.dumps(outcome, indent=1))
    print(json.dumps(outcome, indent=1))
