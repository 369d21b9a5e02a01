"""The trace index: every event seen, with what links it to the rest of its trace."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.events import TYPE_PREFIX, Envelope
from shared.tracing import parse_traceparent

NO_TRACE = "0" * 32


def short_type(cloudevent_type: str) -> str:
    """ "cn.gov.jl.assistance.eligibility.decision.changed.v1" → "eligibility.decision.changed"."""
    name = cloudevent_type.removeprefix(TYPE_PREFIX + ".")
    head, _, version = name.rpartition(".")
    return head if version.startswith("v") and version[1:].isdigit() else name


def trace_row(envelope: Envelope, received_at: datetime) -> dict[str, Any]:
    trace = parse_traceparent(envelope.traceparent)
    data = envelope.data
    household = data.get("household_id")
    region = data.get("region_code")
    return {
        "event_id": envelope.id,
        "type": short_type(envelope.type),
        "service": envelope.source.strip("/").split("/")[0] or "unknown",
        "topic": envelope.topic,
        "trace_id": trace.trace_id if trace else NO_TRACE,
        "correlation_id": envelope.correlation_id,
        "causation_id": envelope.causation_id,
        "household_id": household if isinstance(household, str) else None,
        "region_code": region if isinstance(region, str) else None,
        "time": envelope.time,
        "received_at": received_at,
    }
