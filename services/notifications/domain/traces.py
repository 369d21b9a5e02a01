"""Event traces for operators: the events of one trace as a causation tree, each hop's latency (the cause's
time to this event's time) and the critical path (the chain that ends at the last consequence). An event
whose cause is not in the trace (another trace, or not indexed) is shown with a link to it, never as a
child of something it did not come from. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class TraceEvent:
    id: str
    type: str
    service: str
    trace_id: str
    causation_id: str | None
    household_id: str | None
    region_code: str | None
    time: datetime
    received_at: datetime


@dataclass
class TraceNode:
    event: TraceEvent
    latency_ms: float | None  # from the cause's time; None for a root
    delivery_ms: float  # from the event's time to its arrival here (outbox dwell + broker lag)
    children: list[TraceNode] = field(default_factory=list)
    linked_to: str | None = None  # a cause outside this trace


@dataclass
class Trace:
    trace_id: str
    nodes: list[TraceNode]  # in time order
    roots: list[TraceNode]
    critical_path: list[str]
    duration_ms: float


def _ms(later: datetime, earlier: datetime) -> float:
    return round((later - earlier).total_seconds() * 1000, 3)


def build_trace(trace_id: str, events: Sequence[TraceEvent]) -> Trace:
    ordered = sorted(events, key=lambda e: (e.time, e.id))
    by_id = {e.id: e for e in ordered}
    nodes: dict[str, TraceNode] = {}
    for e in ordered:
        cause = by_id.get(e.causation_id) if e.causation_id else None
        nodes[e.id] = TraceNode(
            e,
            _ms(e.time, cause.time) if cause else None,
            _ms(e.received_at, e.time),
            linked_to=e.causation_id if e.causation_id and cause is None else None,
        )
    roots: list[TraceNode] = []
    for e in ordered:
        node = nodes[e.id]
        if e.causation_id in nodes and e.causation_id != e.id:
            nodes[e.causation_id].children.append(node)
        else:
            roots.append(node)
    path: list[str] = []
    duration = 0.0
    if ordered:
        # The last consequence, walked back to its root: the hops that made the trace as long as it is.
        last = ordered[-1]
        seen: set[str] = set()
        current: TraceEvent | None = last
        while current is not None and current.id not in seen:
            seen.add(current.id)
            path.append(current.id)
            current = by_id.get(current.causation_id) if current.causation_id else None
        path.reverse()
        duration = _ms(last.time, by_id[path[0]].time)
    return Trace(trace_id, [nodes[e.id] for e in ordered], roots, path, duration)
