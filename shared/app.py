"""The one way a service is assembled: runtime (settings, database, bus, outbox relay, sealer,
authenticator) and a FastAPI app with problem+json errors, tracing, health, readiness, metrics and
the AsyncAPI document."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar, cast

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import metrics
from shared.asyncapi import asyncapi_document
from shared.auth import Authenticator
from shared.bus import EventBus, KafkaBus, make_bus
from shared.clock import Clock, business_day, utc_now
from shared.config import ServiceSettings
from shared.db import Database
from shared.errors import PROBLEM_JSON, InternalError, ProblemFactory, install_error_handlers
from shared.limits import RequestLimits
from shared.memory import tune_garbage_collector
from shared.openapi import install_openapi
from shared.outbox import OutboxRelay
from shared.platform_tables import PlatformTables
from shared.sealing import Sealer
from shared.tracing import (
    TraceContext,
    configure_logging,
    configure_opentelemetry,
    new_trace,
    parse_traceparent,
    span,
    use_trace,
)

log = logging.getLogger(__name__)


T = TypeVar("T")


@dataclass
class ServiceRuntime:
    settings: ServiceSettings
    db: Database
    tables: PlatformTables
    bus: EventBus
    relay: OutboxRelay
    sealer: Sealer
    authenticator: Authenticator
    # Background loops a service adds (schedulers); started and stopped with the app.
    background: list[Callable[[], Coroutine[Any, Any, None]]] = field(default_factory=list)
    # "Now", replaceable in tests; domain code never reads the clock itself.
    clock: Clock = field(default=utc_now)
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    # Process-wide caches a service keeps (e.g. eligibility's standards); the service invalidates them.
    caches: dict[str, Any] = field(default_factory=dict)

    def today(self) -> date:
        """The business day (Asia/Shanghai) by this runtime's clock."""
        return business_day(self.clock())

    def cached(self, key: str, build: Callable[[], T]) -> T:
        """What `build` makes, made once per process and kept under `key` (tests put their own there:
        settings with short timings, a client on an in-process transport)."""
        found = self.caches.get(key)
        if found is None:
            found = self.caches[key] = build()
        return cast(T, found)

    def spawn(self, coroutine: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """A background task that is kept referenced until it ends (jobs started by requests)."""
        task = asyncio.create_task(coroutine, name=name)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    @classmethod
    def build(cls, settings: ServiceSettings, tables: PlatformTables, *, bus: EventBus | None = None) -> ServiceRuntime:
        db = Database(settings.resolved_database_url, pool_size=settings.db_pool_size)
        bus = bus or make_bus(settings, client_id=settings.service_name)
        relay = OutboxRelay(db, tables, bus, service=settings.service_name, poll_seconds=settings.outbox_poll_seconds)
        return cls(
            settings=settings,
            db=db,
            tables=tables,
            bus=bus,
            relay=relay,
            sealer=Sealer(settings.pii_key),
            authenticator=Authenticator(settings),
        )


class TraceMiddleware:
    """Accepts or creates the W3C trace context for each request and echoes it on the response."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app, self.service = app, service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", [])}
        parent = parse_traceparent(headers.get("traceparent"))
        trace = parent.child() if parent else new_trace()
        trace = TraceContext(
            trace.trace_id, trace.span_id, trace.flags, correlation_id=headers.get("x-correlation-id") or None
        )
        started = time.perf_counter()
        status_holder = {"status": 500}
        response_started = {"yes": False}

        async def send_with_trace(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_started["yes"] = True
                status_holder["status"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + [(b"traceparent", trace.traceparent.encode())]
            await send(message)

        with use_trace(trace), span(f"{scope['method']} {scope['path']}", trace, service=self.service):
            try:
                await self.app(scope, receive, send_with_trace)
            except Exception as exc:  # noqa: BLE001 - a bug, not bad input: answered, logged, never re-raised
                # Logged with the trace id and where it happened; never the request body or the exception's
                # message, either of which may quote personal data.
                log.error(
                    "unhandled %s on %s %s\n%s",
                    type(exc).__name__,
                    scope["method"],
                    scope["path"],
                    "".join(traceback.format_tb(exc.__traceback__)),
                )
                status_holder["status"] = 500
                if not response_started["yes"]:
                    problem = InternalError()
                    await JSONResponse(problem.body(scope["path"]), status_code=500, media_type=PROBLEM_JSON)(
                        scope, receive, send_with_trace
                    )
            finally:
                route = scope.get("route")
                metrics.REQUEST_LATENCY.labels(
                    self.service, scope["method"], getattr(route, "path", "unmatched"), str(status_holder["status"])
                ).observe(time.perf_counter() - started)


def create_service_app(
    runtime: ServiceRuntime,
    *,
    title: str,
    description: str,
    routers: Iterable[APIRouter],
    publishes: Iterable[str],
    consumes: Iterable[str] = (),
    on_startup: Callable[[ServiceRuntime], Awaitable[None]] | None = None,
    manage_bus: bool = True,
    uploads: dict[str, int] | None = None,
    domain_errors: Mapping[type[Exception], ProblemFactory] | None = None,
) -> FastAPI:
    """`manage_bus=False` when several services share one in-process bus (embedded mode); `uploads` maps
    path prefixes that take files (not JSON) to their own body limit in bytes; `domain_errors` maps the
    errors the service's domain and adapters raise to the problems the API answers with."""
    settings = runtime.settings
    configure_logging(settings.log_level, settings.log_format)
    configure_opentelemetry(settings.service_name, settings.otlp_endpoint)
    publishes, consumes = list(publishes), list(consumes)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tune_garbage_collector()
        if on_startup:
            await on_startup(runtime)
        if manage_bus:
            await runtime.bus.start()
        if isinstance(runtime.bus, KafkaBus) and publishes:
            try:  # created up front so the first publish does not wait on auto-creation
                await runtime.bus.ensure_topics(publishes)
            except Exception as exc:  # noqa: BLE001 - the relay retries until Kafka is there
                log.warning("could not create topics %s yet: %s", publishes, exc)
        runtime.relay.start()
        tasks = [asyncio.create_task(loop()) for loop in runtime.background]
        try:
            yield
        finally:
            for task in tasks + list(runtime.tasks):
                task.cancel()
            # Bounded: a shutdown that waits for ever on one stuck task never releases the database or the
            # broker; what did not stop in time is named in the log and left to the process's end.
            await _stopped_within([*tasks, *runtime.tasks], SHUTDOWN_WAIT_SECONDS, "background tasks")
            await _stopped_within([asyncio.ensure_future(runtime.relay.stop())], SHUTDOWN_WAIT_SECONDS, "outbox relay")
            if manage_bus:
                await runtime.bus.stop()
            await runtime.db.dispose()

    # Documentation assets (Swagger UI, ReDoc) are served by the service itself, from a pinned package:
    # provincial networks are often cut off from public CDNs, where FastAPI would load them from.
    app = FastAPIOffline(title=title, description=description, version="1.0.0", lifespan=lifespan)
    app.state.runtime = runtime
    app.state.authenticator = runtime.authenticator
    install_error_handlers(app, domain_errors)
    app.add_middleware(RequestLimits, max_body_bytes=settings.max_request_bytes, uploads=uploads or {})
    app.add_middleware(TraceMiddleware, service=settings.service_name)  # outermost: every answer is traced

    @app.get("/healthz", tags=["operations"], summary="Liveness")
    async def healthz() -> dict[str, str]:
        return {"status": "alive", "service": settings.service_name}

    @app.get(
        "/readyz", tags=["operations"], summary="Readiness: database and broker reachable, consumers holding partitions"
    )
    async def readyz() -> JSONResponse:
        checks = {}
        for name, probe in (("database", runtime.db.ping), ("broker", runtime.bus.ping)):
            try:
                await asyncio.wait_for(probe(), timeout=5)
                checks[name] = "ok"
            except Exception as exc:  # noqa: BLE001 - report, don't crash
                checks[name] = f"unavailable: {type(exc).__name__}"
        if runtime.bus.subscriptions:
            checks["consumers"] = "ok" if runtime.bus.consumers_assigned() else "joining their groups"
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks}, status_code=200 if ready else 503
        )

    @app.get(
        "/metrics",
        tags=["operations"],
        summary="Prometheus metrics",
        response_class=PlainTextResponse,
        responses={
            200: {
                "description": "Prometheus text exposition format",
                "content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}},
            }
        },
    )
    async def prometheus_metrics() -> Response:
        await runtime.relay.backlog()
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/asyncapi.json", tags=["operations"], summary="AsyncAPI document of this service's events")
    async def asyncapi() -> dict[str, Any]:
        return asyncapi_document(service=settings.service_name, publishes=publishes, consumes=consumes)

    for router in routers:
        app.include_router(router)
    install_openapi(app, servers=[{"url": settings.public_url, "description": settings.service_name}])
    return app


SHUTDOWN_WAIT_SECONDS = 10.0


async def _stopped_within(tasks: list[asyncio.Future[Any]], seconds: float, what: str) -> None:
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=seconds)
    if pending:
        names = [t.get_name() if isinstance(t, asyncio.Task) else repr(t) for t in pending]
        log.warning("%s did not stop within %.0f s on shutdown: %s", what, seconds, names)


def runtime_of(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime
