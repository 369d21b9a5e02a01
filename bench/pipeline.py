"""A province's data flowing through, end to end (issue 10): the registry and eligibility as their own
processes on PostgreSQL and Kafka, driven over REST as an integrating provincial system would.

1. **Import**: N households (JSON Lines from the registry's generator, spread over the province's
   counties) posted to `POST /v1/imports` in files of at most `--file-rows` rows, one after another.
   Measured: when every file's job is done (the import's rate), and when eligibility holds a decision
   for every imported household (the whole pipeline: relay → Kafka → eligibility's batch consumer).
2. **Monthly comparison as a file**: R income restatements (`POST /v1/imports?kind=restatements`,
   one per household) in files of at most `--file-rows`. Measured: the import's rate and when every
   restated household's decision is current in eligibility.
3. **Monthly comparison over the API**: M income corrections (`PATCH …/incomes/{id}`, one per household)
   sent by C concurrent clients as fast as the registry answers. Measured: the API's rate and when
   every correction's decision is current in eligibility.

"Decided" is read from eligibility's read model: its row of a household carries the registry version it
last evaluated, written in the same transaction as the decisions. CPU seconds per process (registry,
eligibility, PostgreSQL, Kafka) say what bounded each phase.

    uv run --group bench python -m bench.pipeline [--households 20000] [--restatements 5000] [--corrections 5000]
        [--clients 32]
        → bench/results/pipeline_<households>.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import aiohttp
import asyncpg
import httpx

from bench import cpu
from bench.deployment import create_databases, drop_databases
from services.registry.demo import demo_households
from shared.auth import issue_token
from shared.config import PlatformSettings
from tests.integration.test_mission import System

RESULTS = Path(__file__).parent / "results"
PG = os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://assistance:assistance@127.0.0.1:55432/postgres")
KAFKA = os.environ.get("TEST_KAFKA_BOOTSTRAP", "127.0.0.1:19092")
SERVICES = ("registry", "eligibility")


def _iso(value: object) -> object:
    return value.isoformat() if isinstance(value, date) else value


def in_files(rows: list[dict], file_rows: int) -> list[bytes]:
    lines = [json.dumps(row, ensure_ascii=False, default=_iso) for row in rows]
    return ["\n".join(lines[i : i + file_rows]).encode() for i in range(0, len(lines), file_rows)]


def generated(households: int, tag: str) -> list[dict]:
    return [
        {**household, "external_ref": f"{tag}-{n}", "members": members, "incomes": incomes}
        for n, (household, members, incomes) in enumerate(demo_households(households, seed=430))
    ]


def restatements(rows: list[dict], count: int, effective_from: date) -> list[dict]:
    """A monthly comparison: for `count` households, their first income restated from `effective_from`
    with a new amount (always a change: the generator's amounts are whole yuan, these are not)."""
    return [
        {
            "external_ref": row["external_ref"],
            "incomes": [
                {
                    "type": row["incomes"][0]["type"],
                    "amount_fen": 5_001 + (n % 90) * 10_000,
                    "period": "month",
                    "effective_from": effective_from,
                }
            ],
            "reason": "月度比对",
        }
        for n, row in enumerate(rows[:count])
    ]


def process_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Meter:
    """CPU seconds of each service process, PostgreSQL and Kafka between two readings."""

    def __init__(self, system: System):
        self.pids = {name: p.pid for name, p in zip(system.ports, system.processes, strict=True)}

    def read(self) -> dict[str, float]:
        machine = cpu.snapshot()
        return {
            **{name: process_cpu_seconds(pid) for name, pid in self.pids.items()},
            "postgresql": machine["postgresql"],
            "kafka": machine["kafka"],
            "wall": machine["wall"],
        }

    @staticmethod
    def spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        return {k: round(after[k] - before[k], 1) for k in before}


async def table_scans(db: asyncpg.Connection) -> dict[str, tuple[int, int]]:
    """{table: (sequential scans, rows they read)}: a plan that scans a table per request shows here."""
    rows = await db.fetch("SELECT relname, seq_scan, seq_tup_read FROM pg_stat_user_tables")
    return {r["relname"]: (r["seq_scan"], r["seq_tup_read"]) for r in rows}


def scans_between(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> dict[str, list[int]]:
    return {
        name: [after[name][0] - before.get(name, (0, 0))[0], after[name][1] - before.get(name, (0, 0))[1]]
        for name in after
        if after[name][1] - before.get(name, (0, 0))[1] > 0
    }


async def drained(http: httpx.AsyncClient, eligibility_urls: list[str], registry_db: asyncpg.Connection) -> bool:
    """Nothing in flight: the registry's outbox is empty and eligibility's consumers (every process's) have
    no lag. Cheap to ask twice a second, unlike counting a province's read model, which would load
    PostgreSQL itself."""
    if await registry_db.fetchval("SELECT EXISTS (SELECT 1 FROM outbox)"):
        return False
    for url in eligibility_urls:
        text = (await http.get(f"{url}/metrics")).text
        if sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("consumer_lag{")):
            return False
    return True


def eligibility_urls(system: System) -> list[str]:
    return [url for name, url in system.urls.items() if name.split("~")[0] == "eligibility"]


async def wait_until(done, in_flight_drained, timeout: float):
    """Poll `in_flight_drained` twice a second; when it says so, check `done` (the exact, costlier count)."""
    deadline = time.perf_counter() + timeout
    while True:
        if await in_flight_drained():
            outcome, finished = await done()
            if finished:
                return outcome
        if time.perf_counter() > deadline:
            return (await done())[0]
        await asyncio.sleep(0.5)


async def main(
    households: int,
    file_rows: int,
    restated: int,
    corrections: int,
    clients: int,
    processes: int,
    backlog: bool,
    registry_processes: int = 1,
) -> dict:
    admin = await asyncpg.connect(PG.replace("postgresql+asyncpg://", "postgresql://"))
    urls = await create_databases(admin, PG, f"bench_pl_{uuid.uuid4().hex[:6]}", SERVICES)
    rows = generated(households, uuid.uuid4().hex[:6])
    files = in_files(rows, file_rows)
    comparison = in_files(restatements(rows, restated, date.today().replace(day=1)), file_rows)
    del rows
    speed = cpu.machine_speed_seconds()  # before the services start: their start-up would slow the loop
    system = System(
        urls,
        KAFKA,
        "http://127.0.0.1:9",
        tempfile.mkdtemp(),
        services=SERVICES,
        replicas={"eligibility": processes, "registry": registry_processes},
    )
    system.env["MAX_UPLOAD_BYTES"] = str(max(len(f) for f in files) + (1 << 20))
    system.launch()
    token = issue_token(PlatformSettings(), subject="bench-province", roles=["provincial_system"], region="22")
    headers = {"Authorization": f"Bearer {token}"}
    registry_db = await asyncpg.connect(urls["registry"].replace("postgresql+asyncpg://", "postgresql://"))
    eligibility_db = await asyncpg.connect(urls["eligibility"].replace("postgresql+asyncpg://", "postgresql://"))
    result: dict = {
        "bench": "pipeline",
        "households": households,
        "file_rows": file_rows,
        "files": len(files),
        "machine_speed_seconds": speed,
    }
    try:
        async with httpx.AsyncClient(timeout=600, headers=headers) as http:
            await system.ready(http)
            meter = Meter(system)
            registry = system.urls["registry"]

            async def import_files(contents: list[bytes], kind: str) -> tuple[int, int]:
                """Post the files one after another, each once the previous job is done: (applied, failed)."""
                applied = refused = 0
                for content in contents:
                    response = await http.post(
                        f"{registry}/v1/imports",
                        params={"kind": kind},
                        content=content,
                        headers={"content-type": "application/x-ndjson"},
                    )
                    response.raise_for_status()
                    job_id = response.json()["id"]
                    while True:
                        job = (await http.get(f"{registry}/v1/imports/{job_id}")).json()
                        if job["status"] == "done":
                            applied, refused = applied + job["imported"], refused + job["failed"]
                            break
                        await asyncio.sleep(0.25)
                return applied, refused

            # 1. The import, file after file, then until every household is decided.
            before, started = meter.read(), time.perf_counter()
            imported, failed = await import_files(files, "households")
            import_seconds = time.perf_counter() - started
            at_import_end = meter.read()

            async def all_decided() -> tuple[int, bool]:
                decided = await eligibility_db.fetchval("SELECT count(*) FROM households WHERE state IS NOT NULL")
                return decided, decided >= imported

            def quiet():
                return drained(http, eligibility_urls(system), registry_db)

            decided = await wait_until(all_decided, quiet, timeout=1800)
            decided_seconds = time.perf_counter() - started
            after = meter.read()
            result["import"] = {
                "imported": imported,
                "failed": failed,
                "import_seconds": round(import_seconds, 1),
                "households_per_second": round(households / import_seconds),
                "all_decided_seconds": round(decided_seconds, 1),
                "decided": decided,
                "decided_after_import_end_seconds": round(decided_seconds - import_seconds, 1),
                "target_seconds_for_430000": 300,
                "cpu_seconds_until_import_end": Meter.spent(before, at_import_end),
                "cpu_seconds_until_all_decided": Meter.spent(before, after),
            }
            print(json.dumps(result["import"], indent=1), flush=True)

            # 2. A monthly comparison as a file: restatements imported, then until every one is decided.
            async def versions_of_restated() -> dict[str, int]:
                rows = await registry_db.fetch(
                    "SELECT household_id AS id, max(version) AS version FROM household_versions "
                    "WHERE change = 'restated' GROUP BY household_id"
                )
                return {r["id"]: r["version"] for r in rows}

            consumers = [p for name, p in zip(system.ports, system.processes, strict=True) if "eligibility" in name]
            paused_import_seconds = 0.0
            if backlog:  # eligibility paused: the comparison's events wait on Kafka, then are consumed alone
                for process in consumers:
                    process.send_signal(signal.SIGSTOP)
            before, started = meter.read(), time.perf_counter()
            applied, refused = await import_files(comparison, "restatements")
            restate_seconds = time.perf_counter() - started
            at_restated = meter.read()
            wanted = await versions_of_restated()
            if backlog:
                for process in consumers:
                    process.send_signal(signal.SIGCONT)
                paused_import_seconds = restate_seconds
                before, started = meter.read(), time.perf_counter()
                restate_seconds = 0.0

            async def restated_current() -> tuple[int, bool]:
                rows = await eligibility_db.fetch(
                    "SELECT household_id, version FROM households WHERE household_id = ANY($1::text[])",
                    list(wanted),
                )
                current = sum(1 for r in rows if r["version"] >= wanted[r["household_id"]])
                return current, current >= len(wanted)

            current = await wait_until(restated_current, quiet, timeout=1800)
            current_seconds = time.perf_counter() - started
            result["comparison_by_import"] = {
                "eligibility_processes": processes,
                "measured": "the backlog consumed by eligibility alone (paused during the import)"
                if backlog
                else "import and consumption together",
                # With eligibility paused, every event waited on Kafka: its rate consuming them alone.
                "backlog_events_per_second": round(current / current_seconds) if backlog else None,
                "restatements": restated,
                "applied": applied,
                "failed": refused,
                "import_seconds": round(restate_seconds, 1),
                "restatements_per_second": round(restated / restate_seconds) if restate_seconds else None,
                "import_seconds_while_eligibility_paused": round(paused_import_seconds, 1) if backlog else None,
                "all_current_seconds": round(current_seconds, 1),
                "current": current,
                "current_after_import_end_seconds": round(current_seconds - restate_seconds, 1),
                "target_seconds_for_100000": 120,
                "cpu_seconds_until_import_end": Meter.spent(before, at_restated),
                "cpu_seconds_until_all_current": Meter.spent(before, meter.read()),
            }
            print(json.dumps(result["comparison_by_import"], indent=1), flush=True)

            # 3. Income corrections over the API, C clients in a closed loop, then until all are decided.
            targets = [
                (row["id"], row["income_id"], row["version"])
                for row in await registry_db.fetch(
                    "SELECT id, version, document->'incomes'->0->>'id' AS income_id FROM households "
                    "WHERE json_array_length(document->'incomes') > 0 ORDER BY id LIMIT $1",
                    corrections,
                )
            ]
            queue = list(enumerate(targets))
            latencies: list[float] = []
            errors = 0

            # The corrections are spread over every registry process, as a load balancer would.
            registries = [url for name, url in system.urls.items() if name.split("~")[0] == "registry"]

            # aiohttp for the load: httpx's connection pool spends much of a core of its own at this
            # concurrency, on the cores the services share (see bench/rest.py).
            load = aiohttp.ClientSession(
                headers=headers, connector=aiohttp.TCPConnector(limit=clients + 10), timeout=aiohttp.ClientTimeout(60)
            )

            async def client(n: int) -> None:
                registry = registries[n % len(registries)]
                nonlocal errors
                while queue:
                    n, (household_id, income_id, _) = queue.pop()
                    sent = time.perf_counter()
                    async with load.patch(
                        f"{registry}/v1/households/{household_id}/incomes/{income_id}",
                        json={"amount_fen": 10_000 + (n % 50) * 1_000, "reason": "月度比对更正"},
                    ) as response:
                        await response.read()
                    latencies.append(time.perf_counter() - sent)
                    errors += response.status != 200

            scans_before = await table_scans(registry_db)
            before, started = meter.read(), time.perf_counter()
            try:
                await asyncio.gather(*(client(n) for n in range(clients)))
            finally:
                await load.close()
            sent_seconds = time.perf_counter() - started
            at_sent = meter.read()
            await asyncio.sleep(1)  # statistics reach pg_stat_user_tables within a second
            registry_scans = scans_between(scans_before, await table_scans(registry_db))
            # Every corrected household is one version further; count those decided at that version.
            corrected_versions = {hid: version + 1 for hid, _, version in targets}

            async def all_current() -> tuple[int, bool]:
                rows = await eligibility_db.fetch(
                    "SELECT household_id, version FROM households WHERE household_id = ANY($1::text[])",
                    list(corrected_versions),
                )
                current = sum(1 for r in rows if r["version"] >= corrected_versions[r["household_id"]])
                return current, current >= len(targets) - errors

            current = await wait_until(all_current, quiet, timeout=1800)
            current_seconds = time.perf_counter() - started
            latencies.sort()
            result["corrections_over_api"] = {
                "corrections": len(targets),
                "clients": clients,
                "errors": errors,
                "sent_seconds": round(sent_seconds, 1),
                "requests_per_second": round(len(targets) / sent_seconds),
                "request_p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
                "request_p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 1),
                "all_current_seconds": round(current_seconds, 1),
                "current": current,
                "current_after_last_sent_seconds": round(current_seconds - sent_seconds, 1),
                "target_seconds_for_100000": 120,
                "cpu_seconds_until_sent": Meter.spent(before, at_sent),
                "registry_sequential_scans_while_sending": registry_scans,
                "cpu_seconds_until_all_current": Meter.spent(before, meter.read()),
            }
            print(json.dumps(result["corrections_over_api"], indent=1), flush=True)
    finally:
        system.stop()
        await registry_db.close()
        await eligibility_db.close()
        await drop_databases(admin, urls)
        await admin.close()
    result["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--households", type=int, default=20_000)
    parser.add_argument("--file-rows", type=int, default=40_000)
    parser.add_argument("--restatements", type=int, default=5_000)
    parser.add_argument("--corrections", type=int, default=5_000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--eligibility-processes", type=int, default=1)
    parser.add_argument("--registry-processes", type=int, default=1)
    parser.add_argument("--backlog", action="store_true", help="pause eligibility during the comparison's import")
    args = parser.parse_args()
    outcome = asyncio.run(
        main(
            args.households,
            args.file_rows,
            args.restatements,
            args.corrections,
            args.clients,
            args.eligibility_processes,
            args.backlog,
            args.registry_processes,
        )
    )
    RESULTS.mkdir(exist_ok=True)
    variant = (
        (f"_{args.registry_processes}_registry" if args.registry_processes > 1 else "")
        + (f"_{args.eligibility_processes}_eligibility" if args.eligibility_processes > 1 else "")
        + ("_backlog" if args.backlog else "")
    )
    (RESULTS / f"pipeline_{args.households}{variant}.json").write_text(json.dumps(outcome, indent=1))
    print(json.dumps(outcome, indent=1))
