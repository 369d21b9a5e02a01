"""An SMS gateway stand-in for the embedded mode, docker-compose and the tests: the HTTP interface the
notifications service's gateway adapter speaks (`POST /messages`, bearer API key, idempotent by message id),
messages kept in a SQLite file, and a failure switch. A real gateway plugs in by SMS_GATEWAY_URL and
SMS_API_KEY. It is a sink, not a product: nothing is sent anywhere."""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

DEV_API_KEY = "dev-only-sms-key"


class Recipient(BaseModel):
    kind: str = Field(pattern="^(cadre|household)$")
    id: str = Field(min_length=1, max_length=64)


class MessageIn(BaseModel):
    id: str = Field(min_length=1, max_length=64)
    to: Recipient
    text: str = Field(min_length=1, max_length=500)


class SinkConfig(BaseModel):
    fail_with: int | None = None  # answer every message with this status (e.g. 503)


def create_app() -> FastAPI:
    state = Path(os.environ.get("SMS_SINK_STATE", ".data/sms-sink.db"))
    state.parent.mkdir(parents=True, exist_ok=True)
    api_key = os.environ.get("SMS_API_KEY", DEV_API_KEY)
    db = sqlite3.connect(state, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(
        "CREATE TABLE IF NOT EXISTS messages (id TEXT PRIMARY KEY, kind TEXT, recipient TEXT, text TEXT, at TEXT)"
    )
    config = SinkConfig()
    app = FastAPI(title="SMS gateway stand-in")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "alive"}

    @app.post("/messages", status_code=202)
    async def accept(message: MessageIn, authorization: str = Header("")) -> Any:
        if authorization != f"Bearer {api_key}":
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        if config.fail_with:
            return JSONResponse({"error": "switched to fail"}, status_code=config.fail_with)
        db.execute(
            "INSERT OR IGNORE INTO messages VALUES (?, ?, ?, ?, ?)",
            (message.id, message.to.kind, message.to.id, message.text, datetime.now(UTC).isoformat()),
        )
        return {"message_id": message.id, "status": "accepted"}

    @app.get("/messages")
    async def messages() -> dict[str, Any]:
        rows = db.execute("SELECT id, kind, recipient, text, at FROM messages ORDER BY at, id").fetchall()
        return {"items": [dict(zip(("id", "kind", "recipient", "text", "at"), row, strict=True)) for row in rows]}

    @app.post("/sink/config")
    async def configure(new: SinkConfig) -> SinkConfig:
        config.fail_with = new.fail_with
        return config

    return app
