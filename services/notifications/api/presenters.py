"""How notifications, traces and timelines are shown. They hold no personal data: ids, codes, amounts and
the words of templates; who may see which is decided in routes (recipients and region scope)."""

from __future__ import annotations

from typing import Any

from services.notifications.domain.traces import Trace, TraceEvent, TraceNode


def notification_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "recipient_kind": row["recipient_kind"],
        "recipient_id": row["recipient_id"],
        "household_id": row["household_id"],
        "region_code": row["region_code"],
        "category": row["category"],
        "severity": row["severity"],
        "title": row["title"],
        "body": row["body"],
        "count": row["count"],
        "status": row["status"],
        "alert_id": row["alert_id"],
        "trace_id": row["trace_id"],
        "created_at": row["created_at"],
        "read_at": row["read_at"],
        # Delivery per channel: the inbox always; an SMS to the cadre when the notice stayed unread.
        "channels": {"inbox": "delivered", "sms": row.get("sms_status")},
    }


def event_view(event: TraceEvent, latency_ms: float | None = None, delivery_ms: float | None = None) -> dict[str, Any]:
    return {
        "id": event.id,
        "type": event.type,
        "service": event.service,
        "trace_id": event.trace_id,
        "causation_id": event.causation_id,
        "household_id": event.household_id,
        "region_code": event.region_code,
        "time": event.time,
        "latency_ms": latency_ms,
        "delivery_ms": delivery_ms,
    }


def _tree(node: TraceNode) -> dict[str, Any]:
    return {
        "id": node.event.id,
        "type": node.event.type,
        "service": node.event.service,
        "latency_ms": node.latency_ms,
        "linked_to": node.linked_to,
        "children": [_tree(child) for child in node.children],
    }


def trace_view(trace: Trace) -> dict[str, Any]:
    return {
        "trace_id": trace.trace_id,
        "events": [event_view(n.event, n.latency_ms, n.delivery_ms) | {"linked_to": n.linked_to} for n in trace.nodes],
        "tree": [_tree(root) for root in trace.roots],
        # Causes outside this trace, shown as links rather than as parents.
        "links": [{"from": n.event.id, "to": n.linked_to, "kind": "caused_by"} for n in trace.nodes if n.linked_to],
        "critical_path": trace.critical_path,
        "duration_ms": trace.duration_ms,
        "services": list(dict.fromkeys(n.event.service for n in trace.nodes)),  # in the order they joined
    }
