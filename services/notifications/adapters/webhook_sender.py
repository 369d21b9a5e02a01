"""Sends one webhook over HTTP, signed per Standard Webhooks by its reference library (`standardwebhooks`):
headers webhook-id, webhook-timestamp and webhook-signature (`v1,<base64 HMAC-SHA256 of id.timestamp.body>`,
one per valid secret during a rotation)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
from standardwebhooks.webhooks import Webhook

from services.notifications.domain.webhooks import AttemptOutcome, parse_retry_after


def signed_headers(message_id: str, timestamp: datetime, payload: str, secrets: list[str]) -> dict[str, str]:
    # The library reads the timestamp as UTC whatever its zone: hand it UTC.
    at = timestamp.astimezone(UTC)
    signatures = " ".join(Webhook(secret).sign(message_id, at, payload) for secret in secrets)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signatures,
        "content-type": "application/json",
    }


class WebhookSender:
    def __init__(self, timeout_seconds: float = 10.0, transport: httpx.AsyncBaseTransport | None = None):
        # No redirects: a receiver that moved must be re-subscribed, not followed blindly.
        self.client = httpx.AsyncClient(timeout=timeout_seconds, follow_redirects=False, transport=transport)

    async def send(
        self, url: str, message_id: str, now: datetime, payload: dict[str, Any], secrets: list[str]
    ) -> tuple[AttemptOutcome, int]:
        """The outcome of one attempt and how long it took (ms). Signed with the real time: receivers refuse a
        timestamp more than five minutes off, so a replay is signed afresh."""
        text = orjson.dumps(payload).decode()
        started = time.perf_counter()
        try:
            response = await self.client.post(
                url, content=text.encode(), headers=signed_headers(message_id, datetime.now(UTC), text, secrets)
            )
        except httpx.HTTPError as exc:
            return AttemptOutcome(None, error=type(exc).__name__), int((time.perf_counter() - started) * 1000)
        elapsed = int((time.perf_counter() - started) * 1000)
        error = None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"
        return (
            AttemptOutcome(response.status_code, parse_retry_after(response.headers.get("retry-after"), now), error),
            elapsed,
        )

    async def close(self) -> None:
        await self.client.aclose()
