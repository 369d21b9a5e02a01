"""Webhook deliveries to a local receiver that fails a share of requests: every event delivered, none
accepted twice (by webhook-id), signatures checked by the Standard Webhooks reference library on a sample,
throughput reported. The notifications service runs in this process on PostgreSQL; the receiver is its own
process; the clock jumps to the next retry when only retries are left, so the schedule's minutes do not
have to be waited out (the real time of every pass is what is measured).

    uv run python -m bench.webhooks [--deliveries 10000] [--failure-rate 0.05]  → bench/results/webhooks.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
from asgi_lifespan import LifespanManager
from sqlalchemy import func, select

from services.notifications.adapters import orm
from services.notifications.adapters.uow import NotificationsUnitOfWork
from services.notifications.adapters.webhook_sender import WebhookSender
from services.notifications.config import NotificationSettings
from services.notifications.service_layer import webhooks
from services.notifications.service_layer.handlers import events_consumer
from shared.auth import issue_token
from shared.bus import InProcessBus
from shared.config import PlatformSettings, ServiceSettings
from shared.contracts.disbursement import PaymentPaid
from shared.events import Envelope
from shared.ids import new_record_id
from shared.migrations import upgrade_async
from tests.conftest import free_port

RESULTS = Path(__file__).parent / "results"
PG = os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://assistance:assistance@127.0.0.1:55432/postgres")
RECEIVER = """
import random, sys, uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
rate, seen, accepted, samples = float(sys.argv[2]), [], {}, []
async def hook(request):
    body = await request.body()
    seen.append(request.headers["webhook-id"])
    if random.random() < rate:
        return Response(status_code=500)
    accepted[request.headers["webhook-id"]] = accepted.get(request.headers["webhook-id"], 0) + 1
    if len(samples) < 50:
        samples.append({"headers": dict(request.headers), "body": body.decode()})
    return Response(status_code=204)
async def stats(request):
    return JSONResponse({"requests": len(seen), "accepted": len(accepted),
                         "accepted_twice": sum(1 for n in accepted.values() if n > 1), "samples": samples})
app = Starlette(routes=[Route("/hooks", hook, methods=["POST"]), Route("/stats", stats)])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", ws="none")
"""


def start_receiver(port: int, failure_rate: float) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", RECEIVER, str(port), str(failure_rate)])


async def main(count: int, failure_rate: float) -> dict:
    from services.notifications import app as notifications_app

    admin = await asyncpg.connect(PG.replace("postgresql+asyncpg://", "postgresql://"))
    name = f"bench_hooks_{uuid.uuid4().hex[:8]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = PG.rsplit("/", 1)[0] + "/" + name
    await upgrade_async("notifications", url)
    port = free_port()
    receiver = start_receiver(port, failure_rate)
    runtime = notifications_app.build_runtime(
        ServiceSettings.load("notifications", database_url=url, kafka_bootstrap_servers=None), bus=InProcessBus()
    )
    clock = {"now": datetime.now(UTC)}
    runtime.clock = lambda: clock["now"]
    app = notifications_app.create_app(runtime, watch=False)
    try:
        async with (
            LifespanManager(app, startup_timeout=60),
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as rx,
        ):
            for _ in range(100):
                try:
                    await rx.get("/stats")
                    break
                except httpx.HTTPError:
                    await asyncio.sleep(0.1)
            token = issue_token(PlatformSettings(), subject="bench", roles=["provincial_system"], region="22")
            client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://notifications")
            created = await client.post(
                "/v1/subscriptions",
                headers={"Authorization": f"Bearer {token}"},
                json={
                    "url": f"http://127.0.0.1:{port}/hooks",
                    "event_types": ["disbursement.payment.paid"],
                    "region_code": "22",
                },
            )
            secret = created.json()["secret"]
            # The events: one per household, consumed in batches of 500 as the bus would hand them over.
            consume = events_consumer(runtime)
            started = time.perf_counter()
            for first in range(0, count, 500):
                envelopes = [
                    Envelope.wrap(
                        PaymentPaid(
                            payment_id=new_record_id(),
                            household_id=(household := new_record_id()),
                            region_code="220122101201",
                            programme="dibao",
                            month="2026-12",
                            kind="regular",
                            amount_fen=30_000,
                            status="paid",
                            attempt=1,
                            reference_id=new_record_id(),
                            run_id=None,
                        ),
                        source="/disbursement",
                        subject=household,
                    )
                    for _ in range(min(500, count - first))
                ]
                await consume(envelopes)
            consumed = time.perf_counter() - started
            sender = WebhookSender(timeout_seconds=10)
            settings = NotificationSettings()
            passes, jumps = 0, 0
            cpu_before = time.process_time()
            started = time.perf_counter()
            while True:
                async with NotificationsUnitOfWork(runtime) as uow:
                    sent = await webhooks.deliver_due(uow, sender, clock["now"], settings.delivery_batch)
                    await uow.commit()
                passes += 1
                if sent:
                    continue
                async with runtime.db.session() as session:
                    d = orm.deliveries.c
                    pending, next_at = (
                        await session.execute(
                            select(func.count(), func.min(d.next_attempt_at)).where(d.status == "pending")
                        )
                    ).one()
                if not pending:
                    break
                clock["now"] = max(clock["now"], next_at)  # only retries are left: go to the next one
                jumps += 1
            delivering = time.perf_counter() - started
            cpu = time.process_time() - cpu_before
            await sender.close()
            stats = (await rx.get("/stats")).json()
            async with runtime.db.session() as session:
                d = orm.deliveries.c
                by_status = dict((await session.execute(select(d.status, func.count()).group_by(d.status))).all())
                attempts = await session.scalar(select(func.sum(d.attempts)))
            from standardwebhooks.webhooks import Webhook

            for sample in stats["samples"]:  # signatures as the reference library sees them (timestamps fresh)
                Webhook(secret).verify(sample["body"], sample["headers"])
            result = {
                "bench": "webhooks",
                "deliveries": count,
                "failure_rate": failure_rate,
                "consume_seconds": round(consumed, 2),
                "deliver_seconds": round(delivering, 2),
                "deliveries_per_second": round(count / delivering, 1),
                "requests_received": stats["requests"],
                "accepted_unique": stats["accepted"],
                "accepted_twice": stats["accepted_twice"],
                "attempts_recorded": attempts,
                "by_status": by_status,
                "passes": passes,
                "clock_jumps_to_retries": jumps,
                "signatures_verified": len(stats["samples"]),
                "cpu_seconds_this_process": round(cpu, 2),
                "measured_at": datetime.now(UTC).isoformat(),
            }
            await client.aclose()
    finally:
        receiver.terminate()
        await runtime.db.dispose()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    assert result["accepted_unique"] == count and result["accepted_twice"] == 0, result
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--deliveries", type=int, default=10_000)
    parser.add_argument("--failure-rate", type=float, default=0.05)
    args = parser.parse_args()
    outcome = asyncio.run(main(args.deliveries, args.failure_rate))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "webhooks.json").write_text(json.dumps(outcome, indent=1))
    print(json.dumps(outcome, indent=1))
