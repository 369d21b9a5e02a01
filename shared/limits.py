"""What a request may cost the service before any route runs: its body size and its media type.

A JSON body over the limit is refused with 413 as soon as its Content-Length (or, for a chunked upload,
its running size) says so, before it is parsed; a body that is not JSON gets 415 rather than being
parsed as JSON anyway. Upload routes (imports) declare their own, larger, limit and media types."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from urllib.parse import parse_qsl

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.errors import PROBLEM_JSON, Problem, ValidationProblem


class PayloadTooLarge(Problem):
    status, slug, title = 413, "payload-too-large", "Request body too large"

    def __init__(self, limit: int):
        super().__init__(
            f"the request body exceeds {limit} bytes",
            errors=[{"field": "body", "rule": "max_size", "message": f"at most {limit} bytes"}],
        )


class UnsupportedMediaType(Problem):
    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"

    def __init__(self, detail: str, accepted: list[str]):
        super().__init__(
            detail,
            errors=[{"field": "Content-Type", "rule": "media_type", "message": "send one of: " + ", ".join(accepted)}],
        )


class BodyTooLarge(StarletteHTTPException):
    """Raised while the body streams in; FastAPI passes HTTP exceptions from body reading through."""

    def __init__(self, limit: int):
        super().__init__(413, f"the request body exceeds {limit} bytes")
        self.limit = limit


def is_json(content_type: str) -> bool:
    media = content_type.split(";")[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


class RequestLimits:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, uploads: Mapping[str, int] | None = None):
        self.app, self.max_body_bytes, self.uploads = app, max_body_bytes, dict(uploads or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        unreadable = unreadable_parameter(scope)
        if unreadable is not None:
            return await _send_problem(unreadable, scope, send)
        if scope["method"] in ("GET", "HEAD", "OPTIONS"):
            return await self.app(scope, receive, send)
        headers = {k.decode().lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        upload_limit = next((limit for prefix, limit in self.uploads.items() if scope["path"].startswith(prefix)), None)
        limit = upload_limit or self.max_body_bytes
        length = headers.get("content-length")
        has_body = (length is not None and length.strip() not in ("", "0")) or "transfer-encoding" in headers
        problem: Problem | None = None
        if length is not None and length.strip().isdigit() and int(length) > limit:
            problem = PayloadTooLarge(limit)
        elif has_body and upload_limit is None and not is_json(headers.get("content-type", "")):
            problem = UnsupportedMediaType("send the body as application/json", ["application/json"])
        if problem is not None:
            return await _send_problem(problem, scope, send)

        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        if has_body and upload_limit is None:
            # A JSON body is read whole here (it is small: the limit above) to refuse repeated member
            # names, which parsers resolve differently (the first, the last, an error): what this service
            # reads must be what the client and any proxy in between read.
            chunks = []
            while True:
                try:
                    message = await counted_receive()
                except BodyTooLarge:
                    return await _send_problem(PayloadTooLarge(limit), scope, send)
                if message["type"] != "http.request":
                    break
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
            body = b"".join(chunks)
            repeated = repeated_member(body)
            if repeated is not None:
                return await _send_problem(repeated, scope, send)
            replayed = False

            async def replay() -> Message:
                nonlocal replayed
                if replayed:
                    return await receive()
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}

            return await self.app(scope, replay, send)
        await self.app(scope, counted_receive, send)


# Control characters (NUL first: PostgreSQL refuses it in text) and what percent-decoding could not make
# into text name nothing any route looks up.
_UNREADABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffd]")


def unreadable_parameter(scope: Scope) -> Problem | None:
    """A 422 naming the path or query parameter that holds control characters or bytes that are not
    UTF-8, before any route (or database) sees it; None when every parameter is readable text."""
    suspects: list[tuple[str, str]] = []
    path = scope.get("path", "")
    if _UNREADABLE.search(path):
        suspects.append(("path", path))
    raw_query = scope.get("query_string", b"")
    if raw_query:
        try:
            pairs = parse_qsl(raw_query.decode("ascii"), keep_blank_values=True, errors="strict")
        except (UnicodeDecodeError, ValueError):
            return ValidationProblem.field("query", "utf8", "the query string must be percent-encoded UTF-8")
        suspects += [(f"query {key!r}", f"{key}{value}") for key, value in pairs]
    for where, text in suspects:
        if not _UNREADABLE.search(text):
            continue
        field = _path_parameter(scope) if where == "path" else where.split(" ", 1)[1].strip("'")
        return ValidationProblem.field(
            field, "no_control_characters", f"{field} must be text without control characters"
        )
    return None


class _Repeated(Exception):
    def __init__(self, name: str):
        self.name = name


def _unique_members(pairs: list[tuple[str, object]]) -> dict[str, object]:
    found: dict[str, object] = {}
    for name, value in pairs:
        if name in found:
            raise _Repeated(name)
        found[name] = value
    return found


def repeated_member(body: bytes) -> Problem | None:
    """A 422 naming a member name repeated within one JSON object of `body`; None otherwise (a body that is
    not JSON at all is left to the route, which answers that)."""
    try:
        json.loads(body, object_pairs_hook=_unique_members)
    except _Repeated as repeated:
        return ValidationProblem.field(
            repeated.name, "duplicate_key", f"the member {repeated.name!r} appears twice in one object"
        )
    except (ValueError, RecursionError):
        return None
    return None


def _path_parameter(scope: Scope) -> str:
    """The name of the route's path parameter that holds the unreadable text (`path` if no route matches)."""
    from starlette.routing import Match

    app = scope.get("app")
    for route in getattr(getattr(app, "router", None), "routes", []):
        match, child = route.matches(scope)
        if match != Match.NONE:
            for name, value in (child.get("path_params") or {}).items():
                if isinstance(value, str) and _UNREADABLE.search(value):
                    return str(name)
    return "path"


async def _send_problem(problem: Problem, scope: Scope, send: Send) -> None:
    import orjson

    body = orjson.dumps(problem.body(scope["path"]))
    await send(
        {
            "type": "http.response.start",
            "status": problem.status,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
