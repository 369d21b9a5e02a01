"""The SMS gateway adapter: `POST {SMS_GATEWAY_URL}/messages` with a bearer API key, idempotent by our
message id. The recipient is named by kind and id (a cadre's id), never by phone number: numbers are
personal data and stay in the registry and the province's directory, which the gateway resolves."""

from __future__ import annotations

import httpx


class SmsGateway:
    def __init__(self, url: str, api_key: str, timeout_seconds: float = 10.0):
        self.url, self.api_key = url.rstrip("/"), api_key
        self.client = httpx.AsyncClient(timeout=timeout_seconds)

    async def send(self, message_id: str, recipient_kind: str, recipient_id: str, text: str) -> str | None:
        """None when the gateway accepted the message, else why not."""
        try:
            response = await self.client.post(
                f"{self.url}/messages",
                json={"id": message_id, "to": {"kind": recipient_kind, "id": recipient_id}, "text": text},
                headers={"Authorization": f"Bearer {self.api_key}"},
            )
        except httpx.HTTPError as exc:
            return type(exc).__name__
        return None if response.status_code in (200, 201, 202) else f"HTTP {response.status_code}"

    async def close(self) -> None:
        await self.client.aclose()
