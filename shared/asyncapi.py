"""AsyncAPI 3.0 document generated from the registered event payload models."""
from __future__ import annotations

from typing import Any, Iterable

from shared.events import registered_events


def asyncapi_document(*, service: str, publishes: Iterable[str], consumes: Iterable[str]) -> dict[str, Any]:
    publishes, consumes = set(publishes), set(consumes)
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for ce_type, model in sorted(registered_events().items()):
        if model.topic not in publishes | consumes:
            continue
        name = ce_type.replace(".", "_")
        messages[name] = {
            "name": ce_type, "title": model.__name__, "summary": (model.__doc__ or "").strip(),
            "contentType": "application/json",
            "bindings": {"kafka": {"key": {"type": "string", "description": "aggregate id (CloudEvents subject)"}}},
            "headers": {"type": "object", "properties": {
                h: {"type": "string"} for h in ("ce_specversion", "ce_id", "ce_source", "ce_type", "ce_subject",
                                                "ce_time", "ce_traceparent", "ce_correlationid", "ce_causationid")}},
            "payload": model.model_json_schema(),
        }
        channel = channels.setdefault(model.topic, {"address": model.topic, "messages": {}})
        channel["messages"][name] = {"$ref": f"#/components/messages/{name}"}
    for topic in channels:
        ref = {"$ref": f"#/channels/{topic}"}
        if topic in publishes:
            operations[f"publish_{topic}"] = {"action": "send", "channel": ref}
        if topic in consumes:
            operations[f"consume_{topic}"] = {"action": "receive", "channel": ref}
    return {"asyncapi": "3.0.0",
            "info": {"title": f"{service} events", "version": "1.0.0",
                     "description": "CloudEvents 1.0 over Kafka, binary content mode."},
            "defaultContentType": "application/json", "channels": channels,
            "operations": operations, "components": {"messages": messages}}
