"""AsyncAPI 3.1 document generated from the registered event payload models.

Payload schemas come from Pydantic; the models they nest are hoisted into `components.schemas` and
referenced from there, so every `$ref` resolves against the document (the official parser checks this
in CI, see tests/contracts)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from shared.events import registered_events

REF_TEMPLATE = "#/components/schemas/{model}"
CE_HEADERS = (
    "ce_specversion",
    "ce_id",
    "ce_source",
    "ce_type",
    "ce_subject",
    "ce_time",
    "ce_traceparent",
    "ce_correlationid",
    "ce_causationid",
)


def _add_schema(schemas: dict[str, Any], name: str, schema: dict[str, Any]) -> None:
    if name in schemas and schemas[name] != schema:
        raise ValueError(f"two different event schemas are named {name}; rename one of the models")
    schemas[name] = schema


def asyncapi_document(*, service: str, publishes: Iterable[str], consumes: Iterable[str]) -> dict[str, Any]:
    publishes, consumes = set(publishes), set(consumes)
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for ce_type, model in sorted(registered_events().items()):
        if model.topic not in publishes | consumes:
            continue
        name = ce_type.replace(".", "_")
        # Serialization mode: the payload as it is sent (fields excluded from output are not promised).
        payload = model.model_json_schema(mode="serialization", ref_template=REF_TEMPLATE)
        for nested, schema in payload.pop("$defs", {}).items():
            _add_schema(schemas, nested, schema)
        _add_schema(schemas, model.__name__, payload)
        messages[name] = {
            "name": ce_type,
            "title": model.__name__,
            "summary": (model.__doc__ or "").strip().split("\n")[0],
            "contentType": "application/json",
            "bindings": {"kafka": {"key": {"type": "string", "description": "aggregate id (CloudEvents subject)"}}},
            "headers": {
                "type": "object",
                "properties": {h: {"type": "string"} for h in CE_HEADERS},
                "required": ["ce_specversion", "ce_id", "ce_source", "ce_type"],
            },
            "payload": {"$ref": REF_TEMPLATE.format(model=model.__name__)},
        }
        channel = channels.setdefault(model.topic, {"address": model.topic, "messages": {}})
        channel["messages"][name] = {"$ref": f"#/components/messages/{name}"}
    for topic in sorted(channels):
        ref = {"$ref": f"#/channels/{topic}"}
        messages_of = [{"$ref": f"#/channels/{topic}/messages/{m}"} for m in sorted(channels[topic]["messages"])]
        if topic in publishes:
            operations[f"publish_{topic}"] = {"action": "send", "channel": ref, "messages": messages_of}
        if topic in consumes:
            operations[f"consume_{topic}"] = {"action": "receive", "channel": ref, "messages": messages_of}
    return {
        "asyncapi": "3.1.0",
        "info": {
            "title": f"{service} events",
            "version": "1.0.0",
            "description": "CloudEvents 1.0 over Apache Kafka, binary content mode: `ce_*` headers, "
            "key = aggregate id, value = the JSON payload.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas, "messages": messages},
    }
