"""Crafted input, generated from each service's OpenAPI document: for every operation, every path
parameter, every query parameter and every property of its JSON body, the boundary values of the
property's declared type (integers at ±2^63 and beyond, days at year 1 and 9999, NUL and control bytes in
strings), plus whole bodies that are empty, huge, repeat a member name or are not JSON, and upload files
with NULs and other encodings. Every answer is a 4xx problem+json, never a 5xx; a 422 names the field and
the rule. A new endpoint is swept the day it lands: its sample request comes from the authorization sweep,
which fails when one is missing. The counts per service are printed (the note records them)."""

from __future__ import annotations

import copy
import json
from collections import Counter
from typing import Any
from urllib.parse import quote

import pytest

from shared.auth import Role
from tests.api.test_authorization_sweep import (  # noqa: F401 - the sweep's fixtures, for this module too
    IN_REGION,
    _token,
    routes,
    sample,
    system,
    target,
)

INTEGERS = [2**63, -(2**63) - 1, 2**64, 10**30, -1]
DATES = ["0001-01-01", "9999-12-31", "10000-01-01", "2026-02-30"]
STRINGS = ["a\x00b", "\x00", "\x01\x02", "a\x7fb", "\u202e", "x" * 20_000]
PATH_VALUES = ["%00", "a%00b", "%01", "%FF", "%C0%80", "x" * 5_000]
QUERY_VALUES = ["\x00", "a\x00b", "\x1b[31m", *map(str, INTEGERS), *DATES]
# Who sends each operation: a role the route admits, so the crafted values reach validation and the handler.
PREFERRED = [
    Role.ADMIN,
    Role.PROVINCE_OPERATOR,
    Role.COUNTY_OPERATOR,
    Role.PROVINCIAL_SYSTEM,
    Role.TOWNSHIP_OFFICER,
    Role.VILLAGE_CADRE,
    Role.HOUSEHOLD,
    Role.AUDITOR,
    Role.SERVICE,
]


def _resolve(document: dict, schema: dict) -> dict:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        schema = document["components"]["schemas"][name]
    return schema


def _variants(document: dict, schema: dict) -> list[Any]:
    """Boundary values for a value of this schema (anyOf/oneOf: each branch's)."""
    schema = _resolve(document, schema)
    found: list[Any] = []
    for branch in schema.get("anyOf", []) + schema.get("oneOf", []) + schema.get("allOf", []):
        found += _variants(document, branch)
    kind = schema.get("type")
    if kind == "integer" or kind == "number":
        found += INTEGERS + [1.5e308, "12"]
    elif kind == "string" and schema.get("format") in ("date", "date-time"):
        found += DATES + ["2026-01-01T00:00:00\x00"]
    elif kind == "string":
        found += STRINGS
    elif kind == "array":
        found += [[], [None], ["\x00"] * 3, "not a list"]
    elif kind == "boolean":
        found += ["true\x00", 2]
    return found


def _body_variants(document: dict, schema: dict, body: Any, at: tuple = ()) -> list[tuple[str, Any]]:
    """(where, body) for each property of the body's schema replaced in turn by each of its boundary values;
    nested objects the sample holds are walked too."""
    schema = _resolve(document, schema)
    found: list[tuple[str, Any]] = []
    properties = dict(schema.get("properties", {}))
    for branch in schema.get("allOf", []):
        properties |= _resolve(document, branch).get("properties", {})
    for name, inner in properties.items():
        for value in _variants(document, inner):
            changed = copy.deepcopy(body)
            _set(changed, at + (name,), value)
            found.append((".".join(map(str, at + (name,))), changed))
        held = _get(body, at + (name,))
        inner = _resolve(document, inner)
        if isinstance(held, dict):
            found += _body_variants(document, inner, body, at + (name,))
        elif isinstance(held, list) and held and isinstance(held[0], dict) and "items" in inner:
            found += _body_variants(document, inner["items"], body, at + (name, 0))
    return found


def _get(body: Any, at: tuple) -> Any:
    for key in at:
        try:
            body = body[key]
        except (KeyError, IndexError, TypeError):
            return None
    return body


def _set(body: Any, at: tuple, value: Any) -> None:
    for key in at[:-1]:
        body = body[key]
    body[at[-1]] = value


def _operation(document: dict, method: str, path: str) -> dict:
    return document["paths"][path][method.lower()]


def crafted_requests(document: dict, method: str, path: str, request: dict) -> list[tuple[str, dict]]:
    """Every crafted variant of one operation's sample request, as (what it varies, httpx arguments)."""
    operation = _operation(document, method, path)
    url, base = request
    found: list[tuple[str, dict]] = []
    # The sample's value of each path parameter, read off its filled-in URL segment by segment.
    filled = dict(zip(path.split("/"), url.split("/"), strict=True))
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path":
            name = "{" + parameter["name"] + "}"
            for value in PATH_VALUES:
                crafted = "/".join(value if part == name else filled[part] for part in path.split("/"))
                found.append((f"path {parameter['name']}", {**base, "url": crafted}))
        elif parameter["in"] == "query":
            for value in QUERY_VALUES:
                params = dict(base.get("params", {})) | {parameter["name"]: value}
                found.append((f"query {parameter['name']}", {**base, "url": url, "params": params}))
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" in content and "json" in base:
        schema = content["application/json"]["schema"]
        for where, body in _body_variants(document, schema, base["json"]):
            found.append((f"body {where}", {**base, "url": url, "json": body}))
        raw = {k: v for k, v in base.items() if k != "json"}
        headers = {"content-type": "application/json"}
        first = next(iter(base["json"]), "x") if isinstance(base["json"], dict) else "x"
        for what, data in (
            ("empty body", b""),
            ("empty object", b"{}"),
            ("null", b"null"),
            ("not JSON", b'{"a": '),
            ("repeated member", ("{" + json.dumps(first) + ": 1, " + json.dumps(base["json"])[1:]).encode()),
            ("NUL escaped", json.dumps({first: "\u0000"}).encode()),
            ("deep nesting", b"[" * 5_000 + b"]" * 5_000),
            ("huge body", b'{"x": "' + b"a" * (2 << 20) + b'"}'),
        ):
            found.append((what, {**raw, "url": url, "content": data, "headers": raw.get("headers", {}) | headers}))
    uploads = [media for media in content if media in ("application/x-ndjson", "text/csv")]
    for media in uploads:
        for what, data in (
            ("NUL in file", b'{"external_ref": "a\x00b"}\n' if media != "text/csv" else b"external_ref,x\na\x00,b\n"),
            ("latin-1 file", "external_ref\nJos\xe9\n".encode("latin-1")),
            ("UTF-16 file", "external_ref\nx\n".encode("utf-16")),
            ("empty file", b""),
            ("control bytes", b"\x1b[2J\x07\n"),
        ):
            found.append(
                (
                    f"{media} {what}",
                    {
                        **{k: v for k, v in base.items() if k not in ("json", "content")},
                        "url": url,
                        "content": data,
                        "headers": base.get("headers", {}) | {"content-type": media},
                    },
                )
            )
    return found


def _errors(response) -> list[dict]:
    return response.json().get("errors") or [{}]


@pytest.mark.parametrize("service", ["registry", "eligibility", "disbursement", "notifications"])
async def test_crafted_input_gets_a_problem_never_a_500(system, target, service):  # noqa: F811
    services, _ = system
    app, http = services[service].app, services[service].http
    document = app.openapi()
    failures, tried = [], Counter()
    for method, path, allowed in routes(app):
        if not allowed:  # signed by the provider, not a bearer token: swept by its own tests
            continue
        role = next(r for r in PREFERRED if r in allowed)
        url, request = sample(method, path, target)
        headers = dict(request.pop("headers", {})) | {"If-Match": "*"}
        base = {**request, "headers": headers | _token(role, IN_REGION, target.household_id)}
        for where, crafted in crafted_requests(document, method, path, (url, base)):
            target_url = crafted.pop("url")
            if target_url.startswith("/") and "%" not in target_url:
                target_url = quote(target_url, safe="/:@-._~")
            response = await http.request(method, target_url, **crafted)
            status = response.status_code
            tried[status] += 1
            what = f"{method} {path} [{where}] as {role.value}: {status}"
            if status >= 500:
                failures.append(f"{what} {response.text[:300]}")
            elif status >= 400:
                if not response.headers.get("content-type", "").startswith("application/problem+json"):
                    failures.append(f"{what}: not problem+json")
                elif status == 422 and not all(
                    e.get("field") and e.get("rule") for e in response.json().get("errors", [{}])
                ):
                    failures.append(f"{what}: a 422 that names no field or rule {response.text[:300]}")
    counts = dict(sorted(tried.items()))
    print(f"\ncrafted input, {service}: {sum(tried.values())} requests, by status {counts}, {len(failures)} failures")
    # The crafted values reached the routes' own checks: refused as invalid far more often than by auth.
    assert tried[422] > (tried[401] + tried[403]) * 5, tried
    assert not failures, "\n".join(failures[:60])


@pytest.mark.parametrize("service", ["registry", "eligibility", "disbursement", "notifications"])
async def test_every_write_honours_an_idempotency_key(system, target, service):  # noqa: F811
    """Every operation whose OpenAPI document takes an `Idempotency-Key` (as the mobile front end always
    sends one), sent twice with one key: the first answer is never a 5xx; a success is replayed as it was,
    with `Idempotent-Replayed`, and a refusal is a problem the retry meets again or gets past."""
    services, _ = system
    app, http = services[service].app, services[service].http
    document = app.openapi()
    failures, keyed, replayed = [], 0, 0
    for method, path, allowed in routes(app):
        operation = _operation(document, method, path)
        if not allowed or not any(p.get("name") == "Idempotency-Key" for p in operation.get("parameters", [])):
            continue
        keyed += 1
        role = next(r for r in PREFERRED if r in allowed)
        url, request = sample(method, path, target)
        headers = dict(request.pop("headers", {})) | {"If-Match": "*"} | _token(role, IN_REGION, target.household_id)
        headers["Idempotency-Key"] = f"sweep-{method}-{path}"
        first = await http.request(method, url, headers=headers, **request)
        again = await http.request(method, url, headers=headers, **request)
        where = f"{method} {path} as {role.value}"
        if first.status_code >= 500 or again.status_code >= 500:
            failures.append(f"{where}: {first.status_code}/{again.status_code} {first.text[:200]} {again.text[:200]}")
        elif first.status_code < 300 and (
            again.status_code != first.status_code
            or again.headers.get("Idempotent-Replayed") != "true"
            or again.content != first.content
        ):
            failures.append(f"{where}: {first.status_code} then {again.status_code}, not replayed {again.text[:200]}")
        replayed += first.status_code < 300
    print(f"\nidempotency keys, {service}: {keyed} keyed writes, {replayed} succeeded and were replayed")
    assert replayed >= keyed // 3, (keyed, replayed)  # the replay is checked on real successes
    assert keyed >= {"registry": 15, "eligibility": 2, "disbursement": 15, "notifications": 8}[service], keyed
    assert not failures, "\n".join(failures)
