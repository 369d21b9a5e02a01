"""Running a command inside one unit of work, with `Idempotency-Key` support.

Application services change state and emit events but never commit: the caller owns the
transaction. For HTTP that is `run_command`. With an `Idempotency-Key` it first claims the key (keyed
on the caller's subject *and* scope, see `Principal.access_key`), then stores the response in the
same transaction as the change, so a retried POST returns the first result and never applies twice,
and a concurrent duplicate waits for the first and replays it.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from shared.auth import Principal
from shared.errors import Conflict, ValidationProblem
from shared.idempotency import IdempotencyRecords, StoredResponse
from shared.uow import UnitOfWork

# How long a duplicate request waits for the first one before answering "in progress".
WAIT_FOR_FIRST_SECONDS = 10.0


@dataclass
class CommandResult:
    body: Any
    status_code: int = 200
    headers: dict[str, str] = field(default_factory=dict)


class RequestInProgress(Conflict):
    slug, title = "request-in-progress", "A request with this Idempotency-Key is still in progress"

    def __init__(self) -> None:
        super().__init__(
            "the first request with this Idempotency-Key has not finished; retry shortly",
            errors=[
                {
                    "field": "Idempotency-Key",
                    "rule": "idempotency_key_in_progress",
                    "message": "a request with this key is still being processed",
                }
            ],
            headers={"Retry-After": "1"},
        )


async def run_command(
    request: Request, principal: Principal, uow: UnitOfWork, action: Callable[[], Awaitable[CommandResult]]
) -> JSONResponse:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        async with uow:
            result = await action()
            body = jsonable_encoder(result.body)
            await uow.commit()
        return JSONResponse(body, status_code=result.status_code, headers=result.headers)

    if not (1 <= len(key) <= 200) or not key.isprintable():
        raise ValidationProblem.field(
            "Idempotency-Key", "length", "Idempotency-Key must be 1 to 200 printable characters"
        )
    # The query is part of the request (POST /v1/imports?kind=...): a key reused with another is a conflict.
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    request_hash = hashlib.sha256(
        request.method.encode() + b" " + target.encode() + b"\n" + await request.body()
    ).hexdigest()
    records = IdempotencyRecords(uow.db, uow.tables)
    owner = principal.access_key
    stored = await records.claim(owner, key, request_hash, datetime.now(UTC))
    if stored is not None:
        return await _replay_when_done(records, owner, key, request_hash, stored)
    try:
        async with uow:
            result = await action()
            body = jsonable_encoder(result.body)
            await uow.complete_idempotent_request(
                owner, key, result.status_code, {"body": body, "headers": result.headers}
            )
            await uow.commit()
    except BaseException:
        # Nothing was applied: free the key so the client's retry runs the request again.
        await asyncio.shield(records.release(owner, key))
        raise
    return JSONResponse(body, status_code=result.status_code, headers=result.headers)


async def run_case_step(
    request: Request,
    principal: Principal,
    uow: UnitOfWork,
    step: Callable[[Any], Awaitable[Any]],
    present: Callable[[Any, Principal, Any], Any],
    collection: str,
    status_code: int = 200,
) -> JSONResponse:
    """One step of a workflow case (an exit case, a relief case) as a command: the step applied to the unit
    of work, the case presented to the caller as of the business day, its address in `Location`."""

    async def action() -> CommandResult:
        case = await step(uow)
        return CommandResult(
            present(case, principal, uow.today()), status_code, {"Location": f"{collection}/{case.id}"}
        )

    return await run_command(request, principal, uow, action)


async def _replay_when_done(
    records: IdempotencyRecords, owner: str, key: str, request_hash: str, stored: StoredResponse
) -> JSONResponse:
    if stored.request_hash != request_hash:
        raise Conflict(
            "this Idempotency-Key was already used with a different request",
            errors=[
                {
                    "field": "Idempotency-Key",
                    "rule": "idempotency_key_reused",
                    "message": "same key, different method, path or body",
                }
            ],
        )
    waited, pause = 0.0, 0.02
    while stored.in_progress:
        if waited >= WAIT_FOR_FIRST_SECONDS:
            raise RequestInProgress()
        await asyncio.sleep(pause)
        waited += pause
        pause = min(pause * 2, 0.5)
        found = await records.read(owner, key)
        if found is None:  # the first request failed and released the key: nothing to replay
            raise RequestInProgress()
        stored = found
    headers = dict(stored.response.get("headers") or {})
    headers["Idempotent-Replayed"] = "true"
    return JSONResponse(stored.response["body"], status_code=stored.status_code, headers=headers)
