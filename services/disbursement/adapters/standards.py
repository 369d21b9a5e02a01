"""Eligibility's standards, read over its REST API (the standards are eligibility's; this service asks
for the one it needs, as known on the day it decides)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx


class StandardUnavailable(Exception):
    """The standard could not be read (eligibility unreachable, or none in force)."""


@dataclass
class StandardsClient:
    base_url: str
    token: str
    transport: httpx.AsyncBaseTransport | None = None  # tests reach an in-process eligibility service
    timeout_seconds: float = 5.0

    async def annual_urban_dibao(self, region_code: str, as_of: date) -> dict[str, Any]:
        """The urban dibao standard in force for the region on `as_of`: its record as eligibility cites
        it, plus `annual_fen`."""
        try:
            async with httpx.AsyncClient(
                base_url=self.base_url, transport=self.transport, timeout=self.timeout_seconds
            ) as client:
                response = await client.get(
                    "/v1/standards",
                    params={"region_code": region_code, "category": "urban_dibao", "as_of": as_of.isoformat()},
                    headers={"Authorization": f"Bearer {self.token}"},
                )
        except httpx.HTTPError as exc:
            raise StandardUnavailable(f"eligibility is unreachable: {exc}") from exc
        if response.status_code != 200:
            raise StandardUnavailable(f"eligibility answered {response.status_code}")
        items = [i for i in response.json().get("items", []) if i.get("key", i.get("category")) == "urban_dibao"]
        if not items:
            raise StandardUnavailable(f"no urban dibao standard in force for {region_code} on {as_of}")
        standard = items[0]
        annual = int(standard["value"]) * (12 if standard.get("period") == "month" else 1)
        return {**standard, "annual_fen": annual}
