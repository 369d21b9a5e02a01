from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer

from shared.config import ServiceSettings
from shared.events import Envelope
from tests.conftest import start_service

REPO = Path(__file__).resolve().parents[2]


def kafka_script(action: str) -> None:
    subprocess.run([str(REPO / "deploy" / "kafka.sh"), action], check=True, capture_output=True, timeout=180)


class TopicReader:
    """Reads a topic from given offsets (default: its current end, so only what happens next is seen,
    whatever history the broker holds) and collects envelopes, for assertions."""

    def __init__(self, bootstrap: str, topic: str, start_offsets: dict | None = None):
        self.topic = topic
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        self.start_offsets = start_offsets
        self.envelopes: list[Envelope] = []

    async def __aenter__(self):
        from aiokafka import TopicPartition

        if self.consumer.assignment():
            return self  # opened earlier, before the action it watches
        await self.consumer.start()
        partitions = None
        for _ in range(100):  # a topic created a moment ago may not be in the metadata yet
            partitions = self.consumer.partitions_for_topic(self.topic)
            if partitions:
                break
            await self.consumer._client.force_metadata_update()
            await asyncio.sleep(0.1)
        assigned = [TopicPartition(self.topic, p) for p in sorted(partitions or [])]
        self.consumer.assign(assigned)
        if self.start_offsets is None:
            await self.consumer.seek_to_end(*assigned)
            self.start_offsets = {tp.partition: await self.consumer.position(tp) for tp in assigned}
        else:
            for tp in assigned:
                self.consumer.seek(tp, self.start_offsets.get(tp.partition, 0))
        return self

    async def __aexit__(self, *exc):
        await self.consumer.stop()

    async def collect_until(self, predicate, timeout: float = 60) -> list[Envelope]:
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate(self.envelopes):
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out; {len(self.envelopes)} events seen")
            batches = await self.consumer.getmany(timeout_ms=500)
            for messages in batches.values():
                for m in messages:
                    self.envelopes.append(Envelope.from_kafka(m.topic, m.key, m.value, m.headers))
        return self.envelopes


@pytest.fixture(scope="module")
async def registry_on_kafka(databases, kafka_bootstrap):
    from services.registry.app import build_runtime, create_app

    url = await databases.create("registry")
    settings = ServiceSettings.load("registry", database_url=url, kafka_bootstrap_servers=kafka_bootstrap)
    service, manager = await start_service(create_app, build_runtime, settings)
    yield service
    await service.http.aclose()
    await manager.__aexit__(None, None, None)
