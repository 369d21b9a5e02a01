"""W3C trace context and JSON logs.

A trace id enters with an HTTP request (`traceparent`) or is created there, is stored with every
outbox row, travels in Kafka headers and is restored by consumers, so one trace id spans every
consequence of a change. OpenTelemetry spans are exported when OTLP_ENDPOINT is set.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
import secrets
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TextIO

from pythonjsonlogger.json import JsonFormatter

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


@dataclass(frozen=True)
class TraceContext:
    trace_id: str
    span_id: str
    flags: str = "01"
    # Correlation: the first event or request of a chain; causation: the event that caused this one.
    correlation_id: str | None = None
    causation_id: str | None = None

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"

    def child(self, *, causation_id: str | None = None) -> TraceContext:
        return TraceContext(
            self.trace_id, secrets.token_hex(8), self.flags, self.correlation_id, causation_id or self.causation_id
        )


def parse_traceparent(value: str | None) -> TraceContext | None:
    if not value:
        return None
    match = _TRACEPARENT.match(value.strip().lower())
    if not match or match.group(1) == "0" * 32 or match.group(2) == "0" * 16:
        return None
    return TraceContext(match.group(1), match.group(2), match.group(3))


def new_trace() -> TraceContext:
    return TraceContext(secrets.token_hex(16), secrets.token_hex(8))


_current: contextvars.ContextVar[TraceContext | None] = contextvars.ContextVar("trace", default=None)


def current_trace() -> TraceContext:
    """The trace of the work in progress; background work with none starts its own."""
    trace = _current.get()
    if trace is None:
        trace = new_trace()
        _current.set(trace)
    return trace


@contextlib.contextmanager
def use_trace(trace: TraceContext) -> Iterator[TraceContext]:
    token = _current.set(trace)
    try:
        yield trace
    finally:
        _current.reset(token)


class _TraceFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        trace = _current.get()
        record.trace_id = trace.trace_id if trace else None
        record.correlation_id = trace.correlation_id if trace else None
        return True


class ReadableFormatter(logging.Formatter):
    """One line a person can read on a terminal: time, level, logger, message, short trace id."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{self.formatTime(record, '%H:%M:%S')} {record.levelname:<7} {record.name}: {record.getMessage()}"
        trace_id = getattr(record, "trace_id", None)
        if trace_id:
            line += f"  [trace {trace_id[:8]}]"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure_logging(level: str = "INFO", log_format: str = "auto", stream: TextIO | None = None) -> None:
    """JSON lines on stderr with the trace id (deployments, and whenever stderr is not a terminal), or
    readable one-line logs on a terminal (`log_format` auto | json | text). Personal data never goes to a
    log: log ids, not people."""
    stream = stream or sys.stderr
    readable = log_format == "text" or (log_format == "auto" and stream.isatty())
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        ReadableFormatter()
        if readable
        else JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(trace_id)s",
            rename_fields={"levelname": "level", "asctime": "time"},
        )
    )
    handler.addFilter(_TraceFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


_otel_configured = False


def configure_opentelemetry(service_name: str, otlp_endpoint: str | None) -> None:
    """Export spans over OTLP/HTTP when an endpoint is configured; otherwise do nothing."""
    global _otel_configured
    if not otlp_endpoint or _otel_configured:
        return
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_endpoint)))
    trace.set_tracer_provider(provider)
    _otel_configured = True


@contextlib.contextmanager
def span(name: str, trace_ctx: TraceContext, **attributes: Any) -> Iterator[Any]:
    """An OpenTelemetry span parented on our trace context (a no-op tracer when OTel is off)."""
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    parent = TraceContextTextMapPropagator().extract({"traceparent": trace_ctx.traceparent})
    with trace.get_tracer("jilin-assistance").start_as_current_span(name, context=parent, attributes=attributes) as s:
        yield s
