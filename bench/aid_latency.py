"""Temporary aid, township approval → payment confirmed by the bank simulator (delay 0): the latency of
each of N applications, one after another, on the real stack (PostgreSQL, the simulator as its own
process, eligibility in process for the urban dibao standard).

    uv run --group bench python -m bench.aid_latency [--applications 1000]  → bench/results/aid_latency.json
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
from types import SimpleNamespace

import asyncpg
import httpx
import uvicorn
from asgi_lifespan import LifespanManager

from bench.payment_run import start_bank
from services.disbursement.adapters.standards import StandardsClient
from services.disbursement.config import ProviderSettings
from shared.auth import issue_token
from shared.bus import InProcessBus
from shared.config import PlatformSettings, ServiceSettings
from shared.migrations import upgrade_async
from tests.api.test_aid import application, register
from tests.conftest import free_port

RESULTS = Path(__file__).parent / "results"
PG = os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://assistance:assistance@127.0.0.1:55432/postgres")
TOWNSHIP = "220122101"


def headers(role: str, region: str, **claims: str) -> dict[str, str]:
    token = issue_token(PlatformSettings(), subject=f"bench-{role}", roles=[role], region=region, **claims)
    return {"Authorization": f"Bearer {token}"}


async def main(count: int) -> None:
    from services.disbursement import app as disbursement_app
    from services.eligibility import app as eligibility_app

    admin = await asyncpg.connect(PG.replace("postgresql+asyncpg://", "postgresql://"))
    names = {service: f"bench_aid_{service[:4]}_{uuid.uuid4().hex[:6]}" for service in ("disbursement", "eligibility")}
    urls = {}
    for service, name in names.items():
        await admin.execute(f'CREATE DATABASE "{name}"')
        urls[service] = PG.rsplit("/", 1)[0] + "/" + name
        await upgrade_async(service, urls[service])
    bank_port, port = free_port(), free_port()
    bank = start_bank(bank_port, Path(tempfile.mkdtemp()) / "bank.db")
    try:
        eligibility = eligibility_app.create_app(
            eligibility_app.build_runtime(
                ServiceSettings.load("eligibility", database_url=urls["eligibility"], kafka_bootstrap_servers=None),
                bus=InProcessBus(),
            ),
            scheduler=False,
        )
        runtime = disbursement_app.build_runtime(
            ServiceSettings.load("disbursement", database_url=urls["disbursement"], kafka_bootstrap_servers=None),
            bus=InProcessBus(),
        )
        runtime.caches["provider_settings"] = ProviderSettings(
            provider_url=f"http://127.0.0.1:{bank_port}",
            disbursement_callback_url=f"http://127.0.0.1:{port}/v1/provider/on-disburse",
            reserve_low_balance_fen=0,
        )
        async with LifespanManager(eligibility, startup_timeout=60):
            runtime.caches["standards"] = StandardsClient(
                "http://eligibility",
                issue_token(PlatformSettings(), subject="disbursement", roles=["service"], region="22"),
                transport=httpx.ASGITransport(app=eligibility),
            )
            app = disbursement_app.create_app(runtime)
            server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
            serving = asyncio.create_task(server.serve())
            while not server.started:
                if serving.done():
                    await serving
                await asyncio.sleep(0.05)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
                await http.post(
                    f"/v1/reserve-funds/{TOWNSHIP}/top-ups",
                    json={"amount_fen": 1_000_000_000},
                    headers=headers("province_operator", "22"),
                )
                reviewed = []
                for _ in range(count):
                    household_id = await register(SimpleNamespace(runtime=runtime), TOWNSHIP)
                    submitted = await http.post(
                        "/v1/aid-applications",
                        json=application(household_id, requested_amount_fen=50_000),
                        headers=headers("village_cadre", TOWNSHIP),
                    )
                    await http.post(
                        f"/v1/aid-applications/{submitted.json()['id']}/review",
                        json={"reason": "bench"},
                        headers=headers("village_cadre", TOWNSHIP),
                    )
                    reviewed.append(submitted.json()["id"])
                officer = headers("township_officer", TOWNSHIP)
                latencies = []
                for application_id in reviewed:
                    started = time.perf_counter()
                    approved = await http.post(
                        f"/v1/aid-applications/{application_id}/approve", json={"reason": "bench"}, headers=officer
                    )
                    assert approved.status_code == 200, approved.text
                    while True:
                        found = await http.get(f"/v1/aid-applications/{application_id}", headers=officer)
                        if found.json()["status"] == "paid":
                            break
                        await asyncio.sleep(0.002)
                    latencies.append(time.perf_counter() - started)
            server.should_exit = True
            await serving
        latencies.sort()
        result = {
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "applications": count,
            "p50_ms": round(statistics.median(latencies) * 1000, 1),
            "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 1),
            "max_ms": round(latencies[-1] * 1000, 1),
            "what": "township approval request sent → application paid (provider confirmed, reservation posted)",
        }
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "aid_latency.json").write_text(json.dumps(result, indent=2))
        print(json.dumps(result, indent=2))
    finally:
        bank.terminate()
        for name in names.values():
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--applications", type=int, default=1000)
    asyncio.run(main(parser.parse_args().applications))
