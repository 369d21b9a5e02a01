"""The event bus: one interface, two transports.

- `KafkaBus` (aiokafka): idempotent producer with acks=all; one consumer group per subscription with
  manual commits made only after the handler (whose database transaction records the event in the
  inbox) has returned; bounded retries with backoff, then the event goes to `<topic>.dlq` with the error.
- `InProcessBus`: the same semantics inside one process, for the embedded mode and unit tests.
"""

from __future__ import annotations

import abc
import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka.partitioner import DefaultPartitioner

from shared import metrics
from shared.config import PlatformSettings
from shared.errors import describe_error
from shared.events import Envelope
from shared.outages import OutageLog, limit_library_logs
from shared.tracing import use_trace

log = logging.getLogger(__name__)
Handler = Callable[[Envelope], Awaitable[None]]
# Takes the events of one partition, in order, and applies them in one transaction (one inbox write).
BatchHandler = Callable[[Sequence[Envelope]], Awaitable[None]]


def dead_letter_topic(topic: str) -> str:
    return f"{topic}.dlq"


@dataclass
class Subscription:
    group: str
    topics: list[str]
    handler: Handler | None = None
    batch_handler: BatchHandler | None = None
    max_batch: int = 1
    max_wait_ms: int = 500


@dataclass
class DeadLetter:
    envelope: Envelope
    group: str
    error: str
    attempts: int


class EventBus(abc.ABC):
    def __init__(self, *, max_attempts: int = 3, backoff_seconds: float = 0.2):
        self.subscriptions: list[Subscription] = []
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds

    # Partitions per topic whose lag is reported from the start (Kafka: the configured count).
    partitions = 1

    def subscribe(self, group: str, topics: Sequence[str], handler: Handler) -> None:
        self._add(Subscription(group, list(topics), handler=handler))

    def subscribe_batch(
        self, group: str, topics: Sequence[str], handler: BatchHandler, *, max_batch: int = 500, max_wait_ms: int = 50
    ) -> None:
        """Deliver events in batches: per partition, in order, up to `max_batch` events or what arrived
        within `max_wait_ms`. Offsets are committed after the handler's transaction; a batch that fails is
        split until the event that fails alone is dead-lettered and the rest is applied once."""
        self._add(
            Subscription(group, list(topics), batch_handler=handler, max_batch=max_batch, max_wait_ms=max_wait_ms)
        )

    def _add(self, sub: Subscription) -> None:
        self.subscriptions.append(sub)
        # Zero samples from the start, so dashboards and alerts see the series before anything happens.
        for topic in sub.topics:
            metrics.DEAD_LETTERS.labels(sub.group, topic).inc(0)
            for partition in range(self.partitions):
                metrics.CONSUMER_LAG.labels(sub.group, topic, str(partition)).set(0)

    @abc.abstractmethod
    async def publish(self, envelopes: Sequence[Envelope]) -> None:
        """Deliver all envelopes durably, in order, or raise."""

    @abc.abstractmethod
    async def start(self) -> None:
        """Start consuming the subscriptions."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Stop consuming and release connections."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise if the broker cannot be reached."""

    def consumers_assigned(self) -> bool:
        """Every subscription is consuming (readiness: a consumer group that starts at the topics' end must
        hold its partitions before what it is to see is published)."""
        return True

    async def _handle_batch(self, sub: Subscription, envelopes: Sequence[Envelope]) -> list[DeadLetter]:
        """Apply a batch; if it fails, split it in halves (in order) and apply each, down to the single
        event that fails on its own, which gets the single-event retries and then the dead-letter topic.
        Events before and after a poison event are applied exactly once."""
        if not envelopes:
            return []
        if len(envelopes) == 1:
            dead = await self._handle(sub, envelopes[0])
            return [dead] if dead else []
        assert sub.batch_handler is not None
        try:
            with use_trace(envelopes[0].trace_for_consequences()):
                await sub.batch_handler(envelopes)
            for envelope in envelopes:
                metrics.EVENTS_CONSUMED.labels(sub.group, envelope.type).inc()
            return []
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - isolate the failing event by splitting
            log.warning(
                "handler %s failed on a batch of %d events (%s); splitting it",
                sub.group,
                len(envelopes),
                describe_error(exc),
            )
        middle = len(envelopes) // 2
        return await self._handle_batch(sub, envelopes[:middle]) + await self._handle_batch(sub, envelopes[middle:])

    async def _handle(self, sub: Subscription, envelope: Envelope) -> DeadLetter | None:
        """Run a handler with bounded retries and exponential backoff; a dead letter if all fail."""
        error = ""
        for attempt in range(1, self.max_attempts + 1):
            try:
                with use_trace(envelope.trace_for_consequences()):
                    if sub.handler is not None:
                        await sub.handler(envelope)
                    else:
                        assert sub.batch_handler is not None
                        await sub.batch_handler([envelope])
                metrics.EVENTS_CONSUMED.labels(sub.group, envelope.type).inc()
                return None
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure is retried, then dead-lettered
                error = describe_error(exc)
                log.warning(
                    "handler %s failed on event %s (attempt %d/%d): %s",
                    sub.group,
                    envelope.id,
                    attempt,
                    self.max_attempts,
                    error,
                )
                if attempt < self.max_attempts:
                    await asyncio.sleep(self.backoff_seconds * 2 ** (attempt - 1))
        metrics.DEAD_LETTERS.labels(sub.group, envelope.topic).inc()
        return DeadLetter(envelope, sub.group, error, self.max_attempts)


class InProcessBus(EventBus):
    """Queues per subscription, one worker each: in order, at least once, with a dead-letter list."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.published: list[Envelope] = []
        self.dead_letters: list[DeadLetter] = []
        self._queues: dict[int, asyncio.Queue[Envelope]] = {}
        self._workers: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        for index, sub in enumerate(self.subscriptions):
            if index in self._queues:
                continue
            self._queues[index] = asyncio.Queue()
            self._workers.append(asyncio.create_task(self._work(index, sub), name=f"bus:{sub.group}"))

    async def stop(self) -> None:
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers.clear()
        self._queues.clear()

    async def ping(self) -> None:
        """In the process: always reachable."""

    async def publish(self, envelopes: Sequence[Envelope]) -> None:
        for envelope in envelopes:
            self.published.append(envelope)
            for index, sub in enumerate(self.subscriptions):
                if envelope.topic in sub.topics and index in self._queues:
                    self._queues[index].put_nowait(envelope)

    async def drain(self) -> None:
        """Wait until every delivered event has been handled (tests, demo loading)."""
        await asyncio.gather(*(q.join() for q in self._queues.values()))

    async def _work(self, index: int, sub: Subscription) -> None:
        queue = self._queues[index]
        while True:
            batch = [await queue.get()]
            # A batch subscription takes what is already queued, up to its size (no waiting in process).
            while sub.batch_handler is not None and len(batch) < sub.max_batch and not queue.empty():
                batch.append(queue.get_nowait())
            try:
                if sub.batch_handler is not None:
                    self.dead_letters.extend(await self._handle_batch(sub, batch))
                elif dead := await self._handle(sub, batch[0]):
                    self.dead_letters.append(dead)
            finally:
                for _ in batch:
                    queue.task_done()


class KafkaBus(EventBus):
    def __init__(
        self,
        bootstrap_servers: str,
        *,
        client_id: str,
        partitions: int = 3,
        request_timeout_ms: int = 15000,
        group_suffix: str = "",
        auto_offset_reset: str = "earliest",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.bootstrap_servers = bootstrap_servers
        self.group_suffix, self.auto_offset_reset = group_suffix, auto_offset_reset
        self.client_id = client_id
        self.partitions = partitions
        self.request_timeout_ms = request_timeout_ms
        self._producer: Any = None
        self._producer_lock = asyncio.Lock()
        self._partition_cache: dict[str, list[int]] = {}
        self._lag_recorded: dict[str, set[Any]] = {}  # per group, the partitions on the lag gauge
        self._partitioner = DefaultPartitioner()
        self._consumer_tasks: list[asyncio.Task[None]] = []
        self._consumers: dict[str, Any] = {}
        # Per group, the partitions whose fetch position is known. A partition assigned without a committed
        # offset gets its position from `auto_offset_reset` a moment later: with "latest", an event
        # published before that moment is skipped, so readiness waits for it.
        self._positioned: dict[str, frozenset[Any]] = {}
        # aiokafka retries quietly (its own logs are limited): this is the one place an outage is told.
        self.outage = OutageLog(f"Kafka at {bootstrap_servers}")
        self._watch: asyncio.Task[None] | None = None
        self._stopping = False
        import aiokafka.admin
        import aiokafka.consumer.group_coordinator  # noqa: F401

        limit_library_logs("aiokafka")

    # --- producing --------------------------------------------------------------------------
    async def _ensure_producer(self) -> Any:
        from aiokafka import AIOKafkaProducer

        async with self._producer_lock:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self.bootstrap_servers,
                    client_id=self.client_id,
                    # Batches up to 1 MiB: the 16 KiB default holds ~25 events and made the relay wait on
                    # one request per 25 events (bench: 117 → 33 µs per event).
                    acks="all",
                    enable_idempotence=True,
                    linger_ms=5,
                    max_batch_size=1 << 20,
                    request_timeout_ms=self.request_timeout_ms,
                )
                try:
                    await producer.start()
                except BaseException:  # a cancelled start too: stop its connection attempts
                    await asyncio.shield(producer.stop())
                    raise
                self._producer = producer
            return self._producer

    async def publish(self, envelopes: Sequence[Envelope]) -> None:
        """Publish in order per key, waiting until the broker acknowledged every event.

        Events are grouped into one record batch per partition (the partition the default partitioner
        gives the key, as `send()` would); a relay publishing thousands of events spends most of its
        time in per-message `send()` bookkeeping otherwise (bench: ~50 → ~10 µs per event)."""
        producer = await self._ensure_producer()
        try:
            batches: dict[tuple[str, int], list[Any]] = {}
            futures = []
            for envelope in envelopes:
                message = envelope.to_kafka()
                partitions = await self._partitions(producer, envelope.topic)
                key = (envelope.topic, self._partitioner(message.key, partitions, partitions))
                open_batches = batches.get(key)
                if open_batches is None:
                    open_batches = batches[key] = [producer.create_batch()]
                headers = list(message.headers.items())
                if (
                    open_batches[-1].append(key=message.key, value=message.value, timestamp=None, headers=headers)
                    is None
                ):
                    open_batches.append(producer.create_batch())  # full: start the next batch for this partition
                    if (
                        open_batches[-1].append(key=message.key, value=message.value, timestamp=None, headers=headers)
                        is None
                    ):
                        raise ValueError(f"event {envelope.id} is larger than a producer batch")
            for (topic, partition), builders in batches.items():
                for builder in builders:
                    futures.append(await producer.send_batch(builder, topic, partition=partition))
            await asyncio.gather(*futures)
        except Exception:
            # A producer that failed may hold a poisoned state; start a fresh one next time.
            await self._reset_producer()
            raise

    async def _partitions(self, producer: Any, topic: str) -> list[int]:
        if topic not in self._partition_cache:
            self._partition_cache[topic] = sorted(await producer.partitions_for(topic))
        return self._partition_cache[topic]

    async def _reset_producer(self) -> None:
        self._partition_cache.clear()
        async with self._producer_lock:
            if self._producer is not None:
                try:
                    await self._producer.stop()
                except Exception:  # noqa: BLE001 - already broken
                    pass
                self._producer = None

    async def ensure_topics(self, topics: Sequence[str]) -> None:
        from aiokafka.admin import AIOKafkaAdminClient, NewTopic
        from aiokafka.errors import TopicAlreadyExistsError

        admin = AIOKafkaAdminClient(
            bootstrap_servers=self.bootstrap_servers, request_timeout_ms=self.request_timeout_ms
        )
        await admin.start()
        try:
            existing = set(await admin.list_topics())
            missing = [t for t in dict.fromkeys(topics) if t not in existing]
            if missing:
                try:
                    await admin.create_topics([NewTopic(t, self.partitions, 1) for t in missing])
                except TopicAlreadyExistsError:
                    pass
        finally:
            await admin.close()

    async def ping(self) -> None:
        producer = await self._ensure_producer()
        await producer.client.fetch_all_metadata()

    # --- consuming --------------------------------------------------------------------------
    async def start(self) -> None:
        self._stopping = False
        topics = [t for sub in self.subscriptions for t in sub.topics]
        if topics:
            try:
                await self.ensure_topics(topics + [dead_letter_topic(t) for t in topics])
            except Exception as exc:  # noqa: BLE001 - consumers retry until Kafka is there
                log.warning("could not create topics yet: %s", exc)
        for sub in self.subscriptions:
            self._consumer_tasks.append(asyncio.create_task(self._consume(sub), name=f"kafka:{sub.group}"))
        self._watch = asyncio.create_task(self._watch_broker(), name="kafka:watch")

    async def _watch_broker(self, every_seconds: float = 5.0) -> None:
        """Probe the broker so its outage is logged once when it starts and once when it ends, whether
        or not anything is being published or consumed."""
        while not self._stopping:
            try:
                await asyncio.wait_for(self.ping(), timeout=every_seconds)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - an outage to report, not a crash
                await self._reset_producer()
                self.outage.failed(describe_error(exc) if str(exc) else type(exc).__name__)
            else:
                self.outage.succeeded()
            await asyncio.sleep(every_seconds)

    async def stop(self) -> None:
        self._stopping = True
        tasks = self._consumer_tasks + ([self._watch] if self._watch else [])
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._consumer_tasks.clear()
        self._watch = None
        await self._reset_producer()

    def consumers_assigned(self) -> bool:
        # A group with more members than partitions leaves some without any: scale consumers up to the
        # topics' partition count (kafka_topic_partitions), no further, or those stay "not ready".
        return len(self._consumers) == len(self.subscriptions) and all(
            consumer.assignment() and self._positioned.get(group) == consumer.assignment()
            for group, consumer in self._consumers.items()
        )

    async def _resolve_positions(self, group: str, consumer: Any) -> None:
        """Wait until every assigned partition has its fetch position (committed or reset), then count the
        group as positioned: from then on, nothing published is missed."""
        from aiokafka.errors import IllegalStateError

        assignment = frozenset(consumer.assignment())
        if self._positioned.get(group) != assignment:
            try:
                for tp in assignment:
                    await consumer.position(tp)
            except IllegalStateError:
                return  # a rebalance took a partition meanwhile: the next poll tries the new assignment
            self._positioned[group] = assignment

    async def wait_until_assigned(self, timeout: float = 30) -> None:
        """Block until every subscription's consumer has partitions (tests, startup)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            if self.consumers_assigned():
                return
            await asyncio.sleep(0.1)
        raise TimeoutError("consumers did not get partitions in time")

    async def _consume(self, sub: Subscription) -> None:
        from aiokafka import AIOKafkaConsumer

        delay = 0.5
        while not self._stopping:
            consumer = AIOKafkaConsumer(
                *sub.topics,
                bootstrap_servers=self.bootstrap_servers,
                group_id=sub.group + self.group_suffix,
                client_id=f"{self.client_id}:{sub.group}",
                enable_auto_commit=False,
                auto_offset_reset=self.auto_offset_reset,
                isolation_level="read_committed",
                request_timeout_ms=self.request_timeout_ms,
            )
            try:
                await consumer.start()
                self._consumers[sub.group] = consumer
                delay = 0.5
                while True:
                    await self._resolve_positions(sub.group, consumer)
                    if sub.batch_handler is not None:
                        await self._consume_batches(sub, consumer)
                        continue
                    batches = await consumer.getmany(timeout_ms=500, max_records=200)
                    for tp, messages in batches.items():
                        for message in messages:
                            envelope = Envelope.from_kafka(message.topic, message.key, message.value, message.headers)
                            dead = await self._handle(sub, envelope)
                            if dead:
                                await self._dead_letter(dead, message)
                        # The handlers committed their own transactions (inbox included): only now
                        # is the offset moved past them. A crash before this line redelivers, and the
                        # inbox turns the redelivery into a no-op.
                        await consumer.commit({tp: messages[-1].offset + 1})
                    await self._record_lag(sub, consumer)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - broker gone or rebalance: reconnect
                self.outage.failed(f"consumer {sub.group}: {describe_error(exc)}")
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10)
            finally:
                self._consumers.pop(sub.group, None)
                self._positioned.pop(sub.group, None)
                try:
                    await consumer.stop()
                except Exception:  # noqa: BLE001
                    pass

    async def _consume_batches(self, sub: Subscription, consumer: Any) -> None:
        """One poll: each partition's events go to the batch handler (partitions concurrently, each in
        order); offsets are committed once every partition's batch has committed its transaction."""
        polled = await consumer.getmany(timeout_ms=sub.max_wait_ms, max_records=sub.max_batch)
        if not polled:
            await self._record_lag(sub, consumer)
            return

        async def one_partition(messages: list[Any]) -> None:
            by_id = {}
            envelopes = []
            for message in messages:
                envelope = Envelope.from_kafka(message.topic, message.key, message.value, message.headers)
                by_id[envelope.id] = message
                envelopes.append(envelope)
            for dead in await self._handle_batch(sub, envelopes):
                await self._dead_letter(dead, by_id[dead.envelope.id])

        await asyncio.gather(*(one_partition(messages) for messages in polled.values()))
        # Only now, after every handler transaction committed (inbox included), are offsets moved: a crash
        # before this line redelivers the batch, and the inbox turns the redelivery into a no-op.
        await consumer.commit({tp: messages[-1].offset + 1 for tp, messages in polled.items()})
        await self._record_lag(sub, consumer)

    async def _dead_letter(self, dead: DeadLetter, message: Any) -> None:
        producer = await self._ensure_producer()
        headers = list(message.headers) + [
            ("dlq_error", dead.error[:2000].encode()),
            ("dlq_consumer", dead.group.encode()),
            ("dlq_attempts", str(dead.attempts).encode()),
        ]
        await producer.send_and_wait(
            dead_letter_topic(message.topic), value=message.value, key=message.key, headers=headers
        )

    async def _record_lag(self, sub: Subscription, consumer: Any) -> None:
        assignment = consumer.assignment()
        # A partition a rebalance gave to another member is no longer this process's lag: its last value
        # would otherwise stay on the gauge for good (an operator, or a drain check, would wait forever).
        for tp in self._lag_recorded.get(sub.group, set()) - set(assignment):
            metrics.CONSUMER_LAG.remove(sub.group, tp.topic, str(tp.partition))
        self._lag_recorded[sub.group] = set(assignment)
        for tp in assignment:
            highwater = consumer.highwater(tp)
            if highwater is not None:
                position = await consumer.position(tp)
                metrics.CONSUMER_LAG.labels(sub.group, tp.topic, str(tp.partition)).set(max(0, highwater - position))


def make_bus(settings: PlatformSettings, *, client_id: str) -> EventBus:
    if settings.kafka_bootstrap_servers:
        return KafkaBus(
            settings.kafka_bootstrap_servers,
            client_id=client_id,
            partitions=settings.kafka_topic_partitions,
            max_attempts=settings.consumer_max_attempts,
            group_suffix=settings.kafka_group_suffix,
            auto_offset_reset=settings.kafka_auto_offset_reset,
        )
    return InProcessBus(max_attempts=settings.consumer_max_attempts)
