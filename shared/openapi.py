"""The OpenAPI document every service publishes, completed where FastAPI leaves gaps: errors are
RFC 9457 problem+json (not FastAPI's validation schema), each operation lists the problems it can
answer with, `Idempotency-Key` is documented where it is honoured, operational endpoints say they are
public, and servers and licence are named. Redocly's recommended ruleset checks the result in CI."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

PROBLEM_SCHEMA = {
    "type": "object",
    "title": "Problem",
    "description": "RFC 9457 problem details; `errors` names each offending field and the rule it broke.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "rule", "message"],
                "properties": {"field": {"type": "string"}, "rule": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}
PROBLEMS = {
    "400": "Malformed request (e.g. a body that is not valid JSON)",
    "401": "Missing or invalid bearer token",
    "403": "The caller's role or region scope does not allow this",
    "404": "Not found, or outside the caller's scope (the two are not told apart)",
    "409": "Conflict: a rule of uniqueness or state, an Idempotency-Key reused or still in progress, or a household "
    "registered a moment ago that this service has not heard of yet (not-yet-known: retry after Retry-After)",
    "412": "If-Match names a version that is no longer current",
    "413": "Request body too large",
    "415": "Unsupported Content-Type",
    "422": "Validation failed: each error names the field and the rule",
    "428": "If-Match is required",
    "500": "Internal error (logged with the request's trace id)",
    "503": "A dependency (identity provider, database) is unavailable; retry after Retry-After",
}
TRACEPARENT = {
    "name": "traceparent",
    "in": "header",
    "required": False,
    # No pattern: W3C Trace Context says a malformed value is ignored (a new trace starts), not refused.
    "description": "W3C trace context (00-<trace id>-<span id>-<flags>); a new trace is started when it is "
    "absent or malformed; echoed on every response",
    "schema": {"type": "string"},
}
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Retrying with the same key replays the first response instead of applying twice",
    "schema": {"type": "string", "minLength": 1, "maxLength": 200},
}
PUBLIC_PATHS = {"/healthz", "/readyz", "/metrics", "/asyncapi.json"}
NO_IDEMPOTENCY = "x-no-idempotency-key"  # openapi_extra of a write that stores nothing (a dry run)
# An operation whose body names a resource (e.g. a household) that may not exist, or not in the caller's
# scope: it answers 404 like a path would (`openapi_extra={BODY_NAMES_RESOURCE: True}`).
BODY_NAMES_RESOURCE = "x-body-names-resource"


def _problem_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def _problems_of(path: str, method: str, operation: dict[str, Any]) -> list[str]:
    if path in PUBLIC_PATHS:
        return ["500"] + (["503"] if path == "/readyz" else [])
    codes = ["401", "403", "500", "503"]
    names = {p["name"] for p in operation.get("parameters", [])}
    if any(p["in"] == "path" for p in operation.get("parameters", [])) or operation.pop(BODY_NAMES_RESOURCE, False):
        codes.append("404")
    if operation.get("parameters") or "requestBody" in operation:
        codes.append("422")
    if method in ("post", "put", "patch", "delete"):
        codes += ["400", "409", "413", "415"]
    if "household_id" in names:  # a read model a moment behind the registry: not-yet-known
        codes.append("409")
    if "If-Match" in names:
        codes += ["412", "428"]
    return sorted(set(codes))


def service_openapi(app: FastAPI, *, servers: list[dict[str, str]]) -> dict[str, Any]:
    document = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        servers=servers,
        license_info={
            "name": "Proprietary: Jilin provincial civil affairs",
            "url": "https://assistance.jl.gov.cn/licence",
        },
    )
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["Problem"] = PROBLEM_SCHEMA
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if path in PUBLIC_PATHS:
                operation["security"] = []  # probes and contracts: no personal data, read by infrastructure
            parameters = operation.setdefault("parameters", [])
            if (
                method in ("post", "put", "patch", "delete")
                and path not in PUBLIC_PATHS
                and not operation.pop(NO_IDEMPOTENCY, False)
            ):
                parameters.append(IDEMPOTENCY_KEY)
            parameters.append(TRACEPARENT)
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)  # FastAPI's own validation schema: ours is problem+json
            for code in _problems_of(path, method, operation):
                responses.setdefault(code, _problem_response(PROBLEMS[code]))
    return document


def install_openapi(app: FastAPI, *, servers: list[dict[str, str]]) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = service_openapi(app, servers=servers)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
