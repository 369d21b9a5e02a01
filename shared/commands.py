"""Running a command inside one unit of work, with `Idempotency-Key` support.

Application services change state and emit events but never commit: the caller owns the
transaction. For HTTP that is `run_command`, which also stores the response under the caller's
idempotency key in the same transaction, so a retried POST returns the first result and never
applies twice.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError

from shared.auth import Principal
from shared.errors import Conflict, ValidationProblem
from shared.uow import UnitOfWork


@dataclass
class CommandResult:
    body: Any
    status_code: int = 200
    headers: dict[str, str] = field(default_factory=dict)


async def run_command(request: Request, principal: Principal, uow: UnitOfWork,
                      action: Callable[[], Awaitable[CommandResult]]) -> JSONResponse:
    key = request.headers.get("Idempotency-Key")
    if key is not None and not (1 <= len(key) <= 200):
        raise ValidationProblem.field("Idempotency-Key", "length", "Idempotency-Key must be 1 to 200 characters")
    request_hash = hashlib.sha256(
        request.method.encode() + b" " + request.url.path.encode() + b"\n" + await request.body()).hexdigest()
    try:
        async with uow:
            if key:
                replay = await _replay(uow, principal, key, request_hash)
                if replay:
                    return replay
            result = await action()
            body = jsonable_encoder(result.body)
            if key:
                await uow.store_response(principal.subject, key, request_hash, result.status_code,
                                         {"body": body, "headers": result.headers})
            await uow.commit()
    except IntegrityError:
        if not key:
            raise
        # A concurrent request with the same key won the race: answer with its result.
        async with uow:
            replay = await _replay(uow, principal, key, request_hash)
            if replay:
                return replay
        raise
    return JSONResponse(body, status_code=result.status_code, headers=result.headers)


async def _replay(uow: UnitOfWork, principal: Principal, key: str, request_hash: str) -> JSONResponse | None:
    stored = await uow.stored_response(principal.subject, key)
    if stored is None:
        return None
    if stored.request_hash != request_hash:
        raise Conflict("this Idempotency-Key was already used with a different request",
                       errors=[{"field": "Idempotency-Key", "rule": "idempotency_key_reused",
                                "message": "same key, different method, path or body"}])
    headers = dict(stored.response.get("headers") or {})
    headers["Idempotent-Replayed"] = "true"
    return JSONResponse(stored.response["body"], status_code=stored.status_code, headers=headers)
