"""RFC 9457 problem details for every error a client can cause. Bad input is a 4xx naming the field
and the rule, never a 500; the handlers are installed once by `shared.app`."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://assistance.jl.gov.cn/problems/"
log = logging.getLogger(__name__)


class Problem(Exception):
    """An error with a stable type slug clients can switch on."""

    status = 400
    slug = "bad-request"
    title = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        self.headers = headers or {}
        self.extra = extra

    def body(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": PROBLEM_BASE + self.slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        if self.errors:
            body["errors"] = self.errors
        body.update(self.extra)
        return body


class ValidationProblem(Problem):
    status, slug, title = 422, "validation-error", "Request failed validation"

    @classmethod
    def field(cls, field: str, rule: str, message: str, **extra: Any) -> ValidationProblem:
        return cls(message, errors=[{"field": field, "rule": rule, "message": message}], **extra)


class NotFound(Problem):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(Problem):
    status, slug, title = 409, "conflict", "Conflict"


class PreconditionFailed(Problem):
    status, slug, title = 412, "precondition-failed", "Precondition failed"


class PreconditionRequired(Problem):
    status, slug, title = 428, "precondition-required", "Precondition required"


class Unauthorized(Problem):
    status, slug, title = 401, "unauthorized", "Authentication required"

    def __init__(self, detail: str):
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(Problem):
    status, slug, title = 403, "forbidden", "Forbidden"


class ServiceUnavailable(Problem):
    """A dependency the request needs is down: not the caller's fault, worth retrying."""

    status, slug, title = 503, "service-unavailable", "Service unavailable"

    def __init__(self, detail: str, retry_after_seconds: int = 5):
        super().__init__(detail, headers={"Retry-After": str(retry_after_seconds)})


def describe_error(exc: BaseException) -> str:
    """An error for logs and dead-letter headers, without the input values some messages carry
    (a pydantic ValidationError repeats the offending input, which may be personal data)."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        where = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['type']}" for e in exc.errors()[:10])
        return f"ValidationError: {where}"
    return f"{type(exc).__name__}: {exc}"[:2000]


def problem_response(problem: Problem, request: Request) -> JSONResponse:
    return JSONResponse(
        problem.body(str(request.url.path)),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=problem.headers,
    )


def _field_path(loc: tuple[Any, ...]) -> str:
    # ("body", "members", 0, "id_number") -> "members[0].id_number"
    parts = [p for p in loc if p not in ("body", "query", "path", "header")]
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or ".".join(map(str, loc))


# How the API edge answers an error the domain or an adapter raised (they know nothing of HTTP).
ProblemFactory = Callable[[Exception], Problem]


def _allowed_methods(request: Request) -> list[str]:
    from starlette.routing import Match

    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches({**request.scope, "method": "GET"})
        if match != Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


def install_error_handlers(app: FastAPI, domain_errors: Mapping[type[Exception], ProblemFactory] | None = None) -> None:
    for error_type, to_problem in (domain_errors or {}).items():

        async def _domain(request: Request, exc: Exception, to_problem: ProblemFactory = to_problem) -> JSONResponse:
            return problem_response(to_problem(exc), request)

        app.add_exception_handler(error_type, _domain)

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        for err in exc.errors():
            if err.get("type") == "json_invalid":
                return problem_response(
                    Problem(
                        "The request body is not valid JSON: " + str(err.get("ctx", {}).get("error", "")),
                        errors=[{"field": "body", "rule": "json_invalid", "message": err.get("msg")}],
                    ),
                    request,
                )
            errors.append(
                {"field": _field_path(tuple(err.get("loc", ()))), "rule": err.get("type"), "message": err.get("msg")}
            )
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        return problem_response(ValidationProblem(summary, errors=errors), request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        from shared.limits import BodyTooLarge, PayloadTooLarge

        if isinstance(exc, BodyTooLarge):
            return problem_response(PayloadTooLarge(exc.limit), request)
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:  # every method the path answers to, not only the first route's
            headers["Allow"] = ", ".join(_allowed_methods(request))
        problem = Problem(str(exc.detail), headers=headers)
        problem.status = exc.status_code
        problem.slug = {
            404: "not-found",
            405: "method-not-allowed",
            401: "unauthorized",
            403: "forbidden",
            400: "bad-request",
        }.get(exc.status_code, "http-error")
        problem.title = problem.slug.replace("-", " ").capitalize()
        return problem_response(problem, request)

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> JSONResponse:
        return problem_response(database_problem(exc), request)

    @app.exception_handler(PoolTimeout)
    async def _pool_exhausted(request: Request, exc: PoolTimeout) -> JSONResponse:
        log.warning("no database connection free in time for a request")
        return problem_response(ServiceUnavailable("the service is busy; retry the request", 2), request)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Reached only if TraceMiddleware is not installed (it answers unexpected errors itself, inside
        # the trace, so the 500 keeps its traceparent and the connection stays open).
        log.error("unhandled error on %s %s: %s", request.method, request.url.path, describe_error(exc))
        return problem_response(InternalError(), request)


class ConcurrentChange(Conflict):
    slug, title = "concurrent-change", "Changed by another request at the same moment"

    def __init__(self) -> None:
        super().__init__(
            "another request changed the same record at the same moment and this one was refused; read the "
            "record again and retry if it is still needed",
            errors=[
                {"field": "body", "rule": "concurrent_change", "message": "a unique rule was met by another request"}
            ],
        )


def database_problem(exc: DBAPIError) -> Problem:
    """What a request answers when the database refuses a statement that the service's own checks let
    through. Each service maps the races it expects to a problem of its own (a payment run that already
    exists names that run); this is the backstop, so that none of them is ever a 500:
    - a unique or foreign-key rule met by a concurrent request → 409;
    - the database unreachable, restarting, or its connection lost mid-request; SQLite's write lock not
      had in time → 503 with Retry-After: nothing was committed, and the same request may be sent again."""
    if isinstance(exc, IntegrityError):
        log.warning("integrity rule met by a concurrent request: %s", type(exc.orig).__name__)
        return ConcurrentChange()
    if exc.connection_invalidated or isinstance(exc, (OperationalError, InterfaceError)):
        log.warning("database unavailable for a request: %s", type(exc.orig).__name__)
        return ServiceUnavailable("the database is unavailable for a moment; retry the request", 2)
    log.error("database refused a statement: %s", type(exc.orig).__name__)
    return InternalError()


class InternalError(Problem):
    status, slug, title = 500, "internal-error", "Internal error"

    def __init__(self) -> None:
        super().__init__("An internal error occurred; it has been logged with this request's trace id.")
