"""A bank that speaks DCI / G2P Connect disbursement 1.0.0, for the embedded mode, docker-compose and the
tests: real HTTP, signed messages both ways (Ed25519, see `services/disbursement/adapters/dci.py`),
instructions kept in a SQLite file so that a crash (the crash switch) loses nothing it accepted, and
the faults a real provider shows: delays, rejections, duplicate and out-of-order callbacks, a response
held back or never sent. `GET /statement.csv` exports what it did, for reconciliation.

It is a simulator, not a product: one process, its state in one file, faults set over HTTP
(`POST /simulator/config`), no authentication of that control endpoint (bind it to localhost).
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import logging
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, Field

from services.disbursement.adapters.dci import (
    BadSignature,
    Signer,
    Verifier,
    ack,
    callback_header,
    private_key_from_seed,
    public_key_text,
    signed,
    timestamp,
)
from services.disbursement.config import DEV_SIGNING_SEED, DEV_SIMULATOR_SEED, SENDER_ID, SIMULATOR_ID
from shared.ids import new_record_id

log = logging.getLogger("bank_simulator")
AMOUNT = r"^\d{1,13}\.\d{1,2}$"


class Faults(BaseModel):
    """What the simulator does wrong, on purpose."""

    callback_delay_ms: int = Field(0, ge=0, le=600_000)
    reject_rate: float = Field(0.0, ge=0.0, le=1.0)  # share of instructions rejected (by reference hash)
    duplicate_callbacks: bool = False  # every callback sent twice
    out_of_order: bool = False  # after the result, a stale "pdng" for the same instructions
    callbacks: bool = True  # False: stay silent (the sender must ask)
    hold_response_ms: int = Field(0, ge=0, le=600_000)  # accept, persist, then wait before answering
    crash_after_accept: bool = False  # accept, persist, then die without answering


class Simulator:
    def __init__(self, state: Path):
        state.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(state, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(
            """CREATE TABLE IF NOT EXISTS instructions (
                reference_id TEXT PRIMARY KEY, transaction_id TEXT, amount TEXT, currency TEXT,
                payer_fa TEXT, payee_fa TEXT, status TEXT, reason TEXT, callback_url TEXT,
                receiver_id TEXT, received_at TEXT, settled_at TEXT)"""
        )
        self.faults = Faults()
        self.signer = Signer(
            SIMULATOR_ID, "k1", private_key_from_seed(os.environ.get("SIMULATOR_SIGNING_KEY", DEV_SIMULATOR_SEED))
        )
        keys = os.environ.get("SIMULATOR_CLIENT_KEYS")
        self.verifier = Verifier.of(
            json.loads(keys) if keys else {f"{SENDER_ID}|k1": public_key_text(private_key_from_seed(DEV_SIGNING_SEED))}
        )
        self.counters = {"disburse_messages": 0, "duplicates_refused": 0, "callbacks_sent": 0, "status_queries": 0}
        self.tasks: set[asyncio.Task[Any]] = set()
        # The last messages in both directions, so tests can check each against the DCI spec.
        self.messages: list[dict[str, Any]] = []

    def record(self, direction: str, path: str, kind: str, body: Any) -> None:
        self.messages.append({"direction": direction, "path": path, "kind": kind, "body": body})
        del self.messages[:-2000]

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.db.execute("BEGIN")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def known(self, references: list[str]) -> set[str]:
        return {row["reference_id"] for row in self.rows_of(references)}

    def rejects(self, reference_id: str) -> bool:
        share = int.from_bytes(hashlib.sha256(reference_id.encode()).digest()[:4], "big") / 2**32
        return share < self.faults.reject_rate

    def rows(self, where: str = "1=1", params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        cursor = self.db.execute(f"SELECT * FROM instructions WHERE {where} ORDER BY received_at, reference_id", params)
        names = [c[0] for c in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def rows_of(self, references: list[str]) -> list[dict[str, Any]]:
        return (
            self.rows(f"reference_id IN ({','.join('?' * len(references))})", tuple(references)) if references else []
        )

    def status_item(self, row: dict[str, Any]) -> dict[str, Any]:
        item = {
            "reference_id": row["reference_id"],
            "timestamp": row["settled_at"] or row["received_at"],
            "status": row["status"] if row["status"] in ("succ", "rjct", "pdng") else "succ",
            "amount": row["amount"],
            "payer_fa": row["payer_fa"],
            "payee_fa": row["payee_fa"],
            "currency_code": row["currency"],
        }
        if row["reason"]:
            item["status_reason_code"] = row["reason"]
        return item

    def spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def settle_and_call_back(self, references: list[str], duplicates: list[dict[str, Any]]) -> None:
        await asyncio.sleep(self.faults.callback_delay_ms / 1000)
        now = timestamp(datetime.now(UTC))
        with self.transaction():
            self.db.executemany(
                "UPDATE instructions SET status=?, reason=?, settled_at=? WHERE reference_id=? AND status='pdng'",
                [
                    ("rjct", "rjct.payee_fa.invalid", now, r) if self.rejects(r) else ("succ", None, now, r)
                    for r in references
                ],
            )
        if not self.faults.callbacks:
            return
        rows = [
            row for start in range(0, len(references), 500) for row in self.rows_of(references[start : start + 500])
        ]
        by_target: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for row in rows:
            by_target.setdefault((row["callback_url"], row["receiver_id"]), []).append(row)
        for (url, receiver), group in by_target.items():
            items = [self.status_item(r) for r in group] + [d for d in duplicates if d["_to"] == url]
            items = [{k: v for k, v in item.items() if k != "_to"} for item in items]
            await self.call_back(url, receiver, group[0]["transaction_id"], items)
            if self.faults.duplicate_callbacks:
                await self.call_back(url, receiver, group[0]["transaction_id"], items)
            if self.faults.out_of_order:
                stale = [{**i, "status": "pdng"} | {"status_reason_code": None} for i in items]
                await self.call_back(url, receiver, group[0]["transaction_id"], [_without_none(i) for i in stale])

    async def call_back(self, url: str, receiver: str, transaction_id: str, items: list[dict[str, Any]]) -> None:
        now = datetime.now(UTC)
        header = callback_header("on-disburse", SIMULATOR_ID, receiver, len(items), now)
        body = signed(self.signer, header, {"transaction_id": transaction_id, "disbursements_status": items}, now)
        self.record("sent", "/on-disburse", "request", body)
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                response = await client.post(url, json=body)
            self.counters["callbacks_sent"] += 1
            if response.headers.get("content-type", "").startswith("application/json"):
                self.record("received", "/on-disburse", "response", response.json())
        except httpx.HTTPError as exc:
            log.warning("callback to %s failed: %s (the sender can ask with a status query)", url, exc)


def _without_none(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if v is not None}


def _unauthorised(message: str) -> JSONResponse:
    return JSONResponse({"errors": [{"code": "err.signature.invalid", "message": message}]}, status_code=401)


def create_app() -> FastAPI:
    simulator = Simulator(Path(os.environ.get("SIMULATOR_STATE", ".data/bank-simulator.db")))
    app = FastAPI(title="Bank simulator (DCI disbursement 1.0.0)")
    app.state.simulator = simulator

    @app.on_event("startup")
    async def finish_what_was_accepted() -> None:
        # Instructions accepted before a crash are settled and reported as if nothing happened.
        pending = [r["reference_id"] for r in simulator.rows("status='pdng'")]
        if pending:
            simulator.spawn(simulator.settle_and_call_back(pending, []))

    @app.post("/disburse")
    async def disburse(request: Request) -> JSONResponse:
        body = await request.json()
        simulator.record("received", "/disburse", "request", body)
        now = datetime.now(UTC)
        try:
            simulator.verifier.verify(body, now)
        except BadSignature as exc:
            return _unauthorised(str(exc))
        header, message = body["header"], body.get("message") or {}
        simulator.counters["disburse_messages"] += 1
        accepted, duplicates, rows = [], [], []
        items = list(message.get("disbursements", []))
        known = simulator.known([item["reference_id"] for item in items])
        for item in items:
            reference = item["reference_id"]
            if reference in known:  # the same reference again: refused, and the first instruction stands
                simulator.counters["duplicates_refused"] += 1
                duplicates.append(
                    {
                        "_to": header.get("sender_uri", ""),
                        "reference_id": reference,
                        "timestamp": timestamp(now),
                        "status": "rjct",
                        "status_reason_code": "rjct.reference_id.duplicate",
                    }
                )
                continue
            known.add(reference)
            rows.append(
                (
                    reference,
                    message["transaction_id"],
                    item["amount"],
                    item.get("currency_code", "CNY"),
                    item["payer_fa"],
                    item["payee_fa"],
                    "pdng",
                    None,
                    header.get("sender_uri", ""),
                    header["sender_id"],
                    timestamp(now),
                    None,
                )
            )
            accepted.append(reference)
        with simulator.transaction():  # the whole message is kept, or none of it
            simulator.db.executemany("INSERT INTO instructions VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        if simulator.faults.crash_after_accept:
            log.error("crash switch: accepted %d instructions, dying without an answer", len(accepted))
            os._exit(1)
        if simulator.faults.hold_response_ms:
            await asyncio.sleep(simulator.faults.hold_response_ms / 1000)
        simulator.spawn(simulator.settle_and_call_back(accepted, duplicates))
        answer = ack(now, new_record_id())
        simulator.record("sent", "/disburse", "response", answer)
        return JSONResponse(answer)

    @app.post("/disburse/sync/txn/status")
    async def txn_status(request: Request) -> JSONResponse:
        body = await request.json()
        simulator.record("received", "/disburse/sync/txn/status", "request", body)
        now = datetime.now(UTC)
        try:
            simulator.verifier.verify(body, now)
        except BadSignature as exc:
            return _unauthorised(str(exc))
        simulator.counters["status_queries"] += 1
        query = (body.get("message") or {}).get("txnstatus_request") or {}
        references = list(query.get("attribute_value") or [])
        known = {r["reference_id"]: r for r in simulator.rows_of(references)}
        items = []
        for reference in references:
            row = known.get(reference)
            if row is None:
                items.append(
                    {
                        "reference_id": reference,
                        "timestamp": timestamp(now),
                        "status": "rjct",
                        "status_reason_code": "rjct.reference_id.invalid",
                    }
                )
            else:
                items.append(simulator.status_item(row))
        transaction_id = (body.get("message") or {}).get("transaction_id", new_record_id())
        message = {
            "transaction_id": transaction_id,
            "correlation_id": new_record_id(),
            "txnstatus_response": {
                "txn_type": "on-disburse",
                "txn_status": {"transaction_id": transaction_id, "disbursements_status": items},
            },
        }
        header = callback_header("on-search", SIMULATOR_ID, body["header"]["sender_id"], len(items), now)
        answer = signed(simulator.signer, header, message, now)
        simulator.record("sent", "/disburse/sync/txn/status", "response", answer)
        return JSONResponse(answer)

    @app.get("/statement.csv")
    async def statement() -> PlainTextResponse:
        """Every instruction the bank holds, one line each (a settled or returned payment shows its
        outcome; still pending ones show `pdng`)."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["reference_id", "transaction_id", "amount", "currency", "status", "reason", "value_date"])
        for row in simulator.rows():
            status = {"succ": "paid", "rjct": "rejected", "pdng": "pending"}.get(row["status"], row["status"])
            writer.writerow(
                [
                    row["reference_id"],
                    row["transaction_id"],
                    row["amount"],
                    row["currency"],
                    status,
                    row["reason"] or "",
                    row["settled_at"] or "",
                ]
            )
        return PlainTextResponse(out.getvalue(), media_type="text/csv")

    @app.post("/simulator/config")
    async def configure(faults: Faults) -> dict[str, Any]:
        simulator.faults = faults
        return faults.model_dump()

    @app.post("/simulator/returns/{reference_id}")
    async def return_payment(reference_id: str) -> dict[str, Any]:
        """The money of a paid instruction came back (shown on the statement; DCI has no status for it)."""
        simulator.db.execute(
            "UPDATE instructions SET status='returned', settled_at=? WHERE reference_id=? AND status='succ'",
            (timestamp(datetime.now(UTC)), reference_id),
        )
        return {"reference_id": reference_id}

    @app.get("/simulator/state")
    async def state() -> dict[str, Any]:
        by_status: dict[str, int] = {}
        for row in simulator.rows():
            by_status[row["status"]] = by_status.get(row["status"], 0) + 1
        return {"instructions": sum(by_status.values()), "by_status": by_status, **simulator.counters}

    @app.get("/simulator/messages")
    async def messages() -> list[dict[str, Any]]:
        return simulator.messages

    @app.delete("/simulator/messages")
    async def forget_messages() -> dict[str, int]:
        forgotten = len(simulator.messages)
        simulator.messages.clear()
        return {"forgotten": forgotten}

    @app.get("/simulator/instructions")
    async def instructions() -> list[dict[str, Any]]:
        return simulator.rows()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
