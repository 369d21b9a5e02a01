"""Disbursement and notifications as their own processes, consuming a job's decisions on Kafka, for
`bench.job --consumers`: how long after the job's end each has caught up (its consumer group's lag on
`eligibility.decisions` back to zero), and what it made of them (entitlements; notices and operator digests).

The processes use consumer groups of their own (KAFKA_GROUP_SUFFIX) starting at the topics' end
(KAFKA_AUTO_OFFSET_RESET=latest): a broker that ran tests and other benchmarks holds history they must not
read. Their /readyz answers 200 only once the groups hold their partitions."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.migrations import upgrade_async
from tests.conftest import free_port

SERVICES = ("disbursement", "notifications")
GROUP_WAIT_SECONDS = 5
TOPIC = "eligibility.decisions"


class Downstream:
    def __init__(self, pg: str, kafka: str):
        self.pg, self.kafka = pg, kafka
        self.suffix = f"-bench-{uuid.uuid4().hex[:6]}"
        self.names = {s: f"bench_{s[:5]}_{uuid.uuid4().hex[:6]}" for s in SERVICES}
        self.urls = {s: pg.rsplit("/", 1)[0] + "/" + name for s, name in self.names.items()}
        self.ports = {s: free_port() for s in SERVICES}
        self.processes: list[subprocess.Popen[bytes]] = []

    async def start(self) -> None:
        admin = await asyncpg.connect(self.pg.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            for name in self.names.values():
                await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        for service, url in self.urls.items():
            await upgrade_async(service, url)
        env = (
            {k: v for k, v in os.environ.items() if not k.endswith("_DATABASE_URL")}
            | {
                "KAFKA_BOOTSTRAP_SERVERS": self.kafka,
                "KAFKA_GROUP_SUFFIX": self.suffix,
                "KAFKA_AUTO_OFFSET_RESET": "latest",
                "LOG_LEVEL": "WARNING",
                "DATA_DIR": tempfile.mkdtemp(),
                "PROVIDER_URL": "http://127.0.0.1:9",
                "NOTIFICATIONS_SMS_GATEWAY_URL": "http://127.0.0.1:9",
            }
            | {f"{s.upper()}_DATABASE_URL": url for s, url in self.urls.items()}
        )
        self.processes = [self._launch(service, env) for service in SERVICES]
        async with httpx.AsyncClient() as client:
            for port in self.ports.values():
                for _ in range(600):
                    try:
                        if (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    await asyncio.sleep(0.1)

    def _launch(self, service: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", f"services.{service}", "serve", "--port", str(self.ports[service])]
        return subprocess.Popen(command, env=env)

    async def lag(self) -> dict[str, int]:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.kafka)
        admin = AIOKafkaAdminClient(bootstrap_servers=self.kafka)
        await consumer.start()
        await admin.start()
        try:
            partitions = [TopicPartition(TOPIC, p) for p in sorted(consumer.partitions_for_topic(TOPIC) or [])]
            ends = await consumer.end_offsets(partitions)
            lags = {}
            for service in SERVICES:
                committed = await admin.list_consumer_group_offsets(service + self.suffix, partitions=partitions)
                lags[service] = sum(ends[tp] - (committed[tp].offset if tp in committed else 0) for tp in partitions)
            return lags
        finally:
            await consumer.stop()
            await admin.close()

    async def caught_up(self, job_ended: float, timeout: float = 600) -> dict[str, float | None]:
        """Seconds after `job_ended` (perf_counter) at which each group's lag was first zero."""
        done: dict[str, float | None] = dict.fromkeys(SERVICES)
        deadline = time.perf_counter() + timeout
        while None in done.values() and time.perf_counter() < deadline:
            lags = await self.lag()
            now = time.perf_counter()
            for service, lag in lags.items():
                if lag == 0 and done[service] is None:
                    done[service] = round(max(0.0, now - job_ended), 1)
            await asyncio.sleep(0.5)
        return done

    async def made(self) -> dict[str, int]:
        """What the consumers made; operator digests once the group wait has passed."""
        await asyncio.sleep(GROUP_WAIT_SECONDS + 3)
        counts = {}
        queries = {
            "entitlements": ("disbursement", "SELECT count(*) FROM entitlements"),
            "notices": ("notifications", "SELECT count(*) FROM notifications"),
            "operator_digests": ("notifications", "SELECT count(*) FROM notifications WHERE count > 1"),
            "alerts": ("notifications", "SELECT count(*) FROM alerts"),
        }
        for what, (service, sql) in queries.items():
            conn = await asyncpg.connect(self.urls[service].replace("postgresql+asyncpg://", "postgresql://"))
            try:
                counts[what] = await conn.fetchval(sql)
            finally:
                await conn.close()
        return counts

    async def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            await asyncio.to_thread(process.wait, 30)
        admin = await asyncpg.connect(self.pg.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            for name in self.names.values():
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
