"""A monthly payment run over N entitlements of one county, end to end: payments persisted, submitted to
the bank simulator (its own process, delay 0), callbacks received, ledger postings, events relayed (to
Kafka when TEST_KAFKA_BOOTSTRAP is set), then the bank's statement reconciled. Real PostgreSQL.

    uv run --group bench python -m bench.payment_run [--entitlements 20000]
        [--batch 2000] → bench/results/payment_run_<N>.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import asyncpg
import httpx
import uvicorn

from bench import cpu
from services.disbursement.adapters.uow import DisbursementUnitOfWork
from services.disbursement.config import ProviderSettings
from services.disbursement.domain.entitlements import Entitlement, EntitlementStatus
from services.disbursement.domain.ledger import AccountCode
from services.disbursement.service_layer import funds
from shared.auth import issue_token
from shared.config import PlatformSettings, ServiceSettings
from shared.ids import new_record_id
from shared.migrations import upgrade_async
from tests.conftest import free_port

RESULTS = Path(__file__).parent / "results"
PG = os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://assistance:assistance@127.0.0.1:55432/postgres")
COUNTY = "229901"  # a county no other data uses (the service also consumes whatever the broker holds)
MONTH = "2026-11"


def process_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:13]) / os.sysconf("SC_CLK_TCK")


async def seed(runtime, count: int) -> int:
    total = 0
    for start in range(0, count, 10_000):
        batch = [
            Entitlement(
                id=new_record_id(),
                household_id=new_record_id(),
                region_code=f"{COUNTY}{(n % 20) + 100:03d}201",
                programme="dibao",
                member_id=None,
                status=EntitlementStatus.ACTIVE,
                monthly_amount_fen=20_000 + n % 30_000,
                valid_from=date(2026, 1, 1),
                valid_until=None,
                gradual_exit=False,
                decision_id=new_record_id(),
                decision_sequence=1,
                version=1,
            )
            for n in range(start, min(count, start + 10_000))
        ]
        total += sum(e.monthly_amount_fen for e in batch)
        async with DisbursementUnitOfWork(runtime) as uow:
            await uow.entitlements.save_many(batch)
            await uow.commit()
    return total


def start_bank(port: int, state: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "services.bank_simulator", "--port", str(port), "--state", str(state)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def main(count: int, batch: int) -> None:
    from services.disbursement import app as disbursement_app

    admin = await asyncpg.connect(PG.replace("postgresql+asyncpg://", "postgresql://"))
    name = f"bench_payrun_{uuid.uuid4().hex[:6]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = PG.rsplit("/", 1)[0] + "/" + name
    state = Path(tempfile.mkdtemp()) / "bank.db"
    bank_port, port = free_port(), free_port()
    bank = start_bank(bank_port, state)
    server = None
    try:
        await upgrade_async("disbursement", url)
        kafka = os.environ.get("TEST_KAFKA_BOOTSTRAP")
        settings = ServiceSettings.load("disbursement", database_url=url, kafka_bootstrap_servers=kafka)
        runtime = disbursement_app.build_runtime(settings)
        runtime.caches["provider_settings"] = ProviderSettings(
            provider_url=f"http://127.0.0.1:{bank_port}",
            disbursement_callback_url=f"http://127.0.0.1:{port}/v1/provider/on-disburse",
            payment_poll_seconds=0.2,
            status_query_after_seconds=30,
            provider_timeout_seconds=30,
            payment_batch_size=batch,
        )
        total = await seed(runtime, count)
        async with DisbursementUnitOfWork(runtime) as uow:
            await funds.top_up(uow, COUNTY, total, "bench", AccountCode.COUNTY_FUND)
            await uow.commit()
        app = disbursement_app.create_app(runtime)
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
        serving = asyncio.create_task(server.serve())
        while not server.started:
            if serving.done():
                await serving
            await asyncio.sleep(0.05)
        token = issue_token(PlatformSettings(), subject="bench", roles=["county_operator"], region=COUNTY)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"}, timeout=600
        ) as http:
            before, bank_before = cpu.snapshot(), process_cpu(bank.pid)
            run = (await http.post("/v1/payment-runs", json={"region_code": COUNTY, "month": MONTH})).json()
            while True:
                progress = (await http.get(f"/v1/payment-runs/{run['id']}")).json()
                if progress["status"] == "completed":
                    break
                if progress["status"] == "paused":
                    raise RuntimeError(f"the run paused: {progress['status_reason']}")
                await asyncio.sleep(0.5)
            run_seconds = time.perf_counter() - before["wall"]
            while await runtime.relay.publish_pending():  # every event handed to the bus
                pass
            relayed_seconds = time.perf_counter() - before["wall"]
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{bank_port}", timeout=600) as bank_http:
                statement = (await bank_http.get("/statement.csv")).content
            reconciled_at = time.perf_counter()
            report = await http.post(
                f"/v1/reconciliations?region_code={COUNTY}&month={MONTH}",
                content=statement,
                headers={"content-type": "text/csv"},
            )
            reconcile_seconds = time.perf_counter() - reconciled_at
            after, bank_after = cpu.snapshot(), process_cpu(bank.pid)
        result = {
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "entitlements": count,
            "batch_size": batch,
            "bus": "kafka" if kafka else "in-process",
            "paid": progress["counts"].get("paid", 0),
            "paid_fen": progress["paid_fen"],
            "run_seconds": round(run_seconds, 1),
            "events_relayed_seconds": round(relayed_seconds, 1),
            "reconcile_seconds": round(reconcile_seconds, 1),
            "reconciliation": report.json().get("counts") if report.status_code == 201 else report.text[:300],
            "total_seconds": round(run_seconds + reconcile_seconds, 1),
            "payments_per_second": round(count / run_seconds),
            "cpu_seconds": {
                "this_process": round(after["this_process"] - before["this_process"], 1),
                "bank_simulator": round(bank_after - bank_before, 1),
                "postgresql": round(after["postgresql"] - before["postgresql"], 1),
                "kafka": round(after["kafka"] - before["kafka"], 1),
            },
        }
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / f"payment_run_{count}.json").write_text(json.dumps(result, indent=2))
        print(json.dumps(result, indent=2))
        server.should_exit = True
        await serving
        server = None
    finally:
        if server is not None:
            server.should_exit = True
        bank.terminate()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--entitlements", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=2000, help="payments per DCI message (PAYMENT_BATCH_SIZE)")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.entitlements, arguments.batch))
