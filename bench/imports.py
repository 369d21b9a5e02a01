"""Registry bulk import: households a second for a JSON Lines file posted to `POST /v1/imports`, on the
real PostgreSQL (in-process bus: the figure is the registry's, events wait in the outbox for the relay).

    uv run --group bench python -m bench.imports [--rows 20000] [--cold]   → bench/results/imports[_<rows>].json
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
import httpx
from asgi_lifespan import LifespanManager

from bench import cpu
from services.registry.demo import demo_households
from shared.auth import issue_token
from shared.bus import InProcessBus
from shared.config import PlatformSettings, ServiceSettings
from shared.migrations import upgrade_async

RESULTS = Path(__file__).parent / "results"
PG = os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://assistance:assistance@127.0.0.1:55432/postgres")


def jsonl(rows: int, tag: str) -> bytes:
    lines = []
    for n, (household, members, incomes) in enumerate(demo_households(rows, seed=11)):
        body = {**household, "external_ref": f"{tag}-{n}", "members": members, "incomes": incomes}
        lines.append(
            json.dumps(body, ensure_ascii=False, default=lambda v: v.isoformat() if isinstance(v, date) else v)
        )
    return "\n".join(lines).encode()


async def main(rows: int, warm: bool) -> None:
    from services.registry import app as registry_app

    admin = await asyncpg.connect(PG.replace("postgresql+asyncpg://", "postgresql://"))
    name = f"bench_import_{uuid.uuid4().hex[:6]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = PG.rsplit("/", 1)[0] + "/" + name
    try:
        await upgrade_async("registry", url)
        content = jsonl(rows, uuid.uuid4().hex[:6])
        settings = ServiceSettings.load(
            "registry", database_url=url, kafka_bootstrap_servers=None, max_upload_bytes=len(content) + (1 << 20)
        )
        runtime = registry_app.build_runtime(settings, bus=InProcessBus())
        app = registry_app.create_app(runtime)
        token = issue_token(PlatformSettings(), subject="bench", roles=["provincial_system"], region="22")
        async with LifespanManager(app, startup_timeout=60, shutdown_timeout=120):
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://bench",
                headers={"Authorization": f"Bearer {token}"},
                timeout=600,
            ) as http:

                async def run_import(body: bytes) -> dict:
                    job = (
                        await http.post("/v1/imports", content=body, headers={"content-type": "application/x-ndjson"})
                    ).json()
                    while True:
                        state = (await http.get(f"/v1/imports/{job['id']}")).json()
                        if state["status"] == "done":
                            return state
                        await asyncio.sleep(0.02)

                if warm:  # a running registry: its statements prepared, its code paths warm, as in service
                    await run_import(jsonl(200, "warm-" + uuid.uuid4().hex[:6]))
                speed = cpu.machine_speed_seconds()
                started, cpu_before = time.perf_counter(), cpu.snapshot()
                state = await run_import(content)
                seconds = time.perf_counter() - started
                # The job's own times (accepted → done), free of the client's request and polling.
                at = datetime.fromisoformat
                job_seconds = (at(state["updated_at"]) - at(state["created_at"])).total_seconds()
                spent = cpu.spent(cpu_before, cpu.snapshot())
        result = {
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "rows": rows,
            "process": "warm (a 200-row file imported first)" if warm else "cold (its first import)",
            "imported": state["imported"],
            "failed": state["failed"],
            "seconds": round(seconds, 2),
            "households_per_second": round(rows / seconds),
            "job_seconds": round(job_seconds, 3),
            "households_per_second_by_job_times": round(rows / job_seconds),
            # The registry (this process: API, import job, outbox relay to the in-process bus) and PostgreSQL.
            "cpu_seconds": spent,
            "cpu_microseconds_per_household": {k: round(v * 1e6 / rows) for k, v in spent.items() if k != "wall"},
            "machine_speed_seconds": speed,
        }
        RESULTS.mkdir(exist_ok=True)
        result_file = "imports" + ("" if rows == 20_000 else f"_{rows}") + ("" if warm else "_cold") + ".json"
        (RESULTS / result_file).write_text(json.dumps(result, indent=2))
        print(json.dumps(result, indent=2))
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--cold", action="store_true", help="measure the process's first import")
    args = parser.parse_args()
    asyncio.run(main(args.rows, not args.cold))
