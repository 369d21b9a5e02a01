"""W3C trace context parsing and OpenTelemetry spans parented on it."""

from datetime import UTC

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.events import Envelope
from shared.tracing import new_trace, parse_traceparent, span


def test_traceparent_round_trip_and_rejects():
    t = new_trace()
    assert parse_traceparent(t.traceparent) == t
    assert parse_traceparent("00-" + "0" * 32 + "-" + "1" * 16 + "-01") is None
    assert parse_traceparent("garbage") is None and parse_traceparent(None) is None


def test_spans_join_the_request_trace():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    context = new_trace()
    with span("POST /v1/households", context, service="registry"):
        pass
    [finished] = exporter.get_finished_spans()
    assert format(finished.context.trace_id, "032x") == context.trace_id
    assert format(finished.parent.span_id, "016x") == context.span_id


def test_consequences_keep_the_trace_and_name_their_cause():
    from datetime import datetime

    origin = new_trace()
    envelope = Envelope(
        id="e1",
        source="/registry",
        type="t",
        subject="h",
        time=datetime.now(UTC),
        topic="x",
        data={},
        traceparent=origin.traceparent,
        correlation_id="c1",
    )
    consequence = envelope.trace_for_consequences()
    assert consequence.trace_id == origin.trace_id and consequence.span_id != origin.span_id
    assert consequence.causation_id == "e1" and consequence.correlation_id == "c1"


def test_error_descriptions_drop_input_values():
    from pydantic import BaseModel, ValidationError

    from shared.errors import describe_error

    class Person(BaseModel):
        birth_date: int

    try:
        Person(birth_date="张三 11010519491231002X")
    except ValidationError as exc:
        text = describe_error(exc)
    assert "张三" not in text and "11010519491231002X" not in text and "birth_date: int_parsing" in text
