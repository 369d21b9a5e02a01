"""The registry asked on demand, by the services that keep a read model of its households.

Eligibility, disbursement and notifications learn of a household from the registry's events, a moment
after the registry answered the request that registered it. A household they have not heard of yet is
therefore not "unknown": before answering 404 a service asks the registry (`GET /v1/households/{id}`
with this system's service token). What the registry knows is then either used at once (disbursement
records the household in its directory, so a caseworker's same-minute aid application goes through) or
answered as `409 not-yet-known` with `Retry-After` (a read whose data is still on its way). Only what the
registry itself does not know, or the caller may not see, is a 404.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from shared.auth import Principal, service_token
from shared.errors import Conflict, NotFound, Problem, ServiceUnavailable

if TYPE_CHECKING:
    from shared.app import ServiceRuntime

CACHE_KEY = "registry_client"
# Seconds a client is told to wait before asking again for what is on its way through the bus.
NOT_YET_KNOWN_RETRY_SECONDS = 1


@dataclass(frozen=True)
class RegisteredHousehold:
    household_id: str
    region_code: str
    version: int
    active_members: int


class RegistryUnreachable(Exception):
    """The registry could not be asked (down, or it answered with an error)."""


@dataclass
class RegistryClient:
    base_url: str
    token: str
    transport: httpx.AsyncBaseTransport | None = None  # tests reach an in-process registry
    timeout_seconds: float = 3.0

    async def household(self, household_id: str) -> RegisteredHousehold | None:
        """The household as the registry has it now, or None if the registry does not know it."""
        try:
            async with httpx.AsyncClient(
                base_url=self.base_url, transport=self.transport, timeout=self.timeout_seconds
            ) as client:
                response = await client.get(
                    f"/v1/households/{household_id}", headers={"Authorization": f"Bearer {self.token}"}
                )
        except httpx.HTTPError as exc:
            raise RegistryUnreachable(f"the registry is unreachable: {type(exc).__name__}") from exc
        if response.status_code in (404, 422):
            return None
        if response.status_code != 200:
            raise RegistryUnreachable(f"the registry answered {response.status_code}")
        body: dict[str, Any] = response.json()
        return RegisteredHousehold(
            household_id=body["id"],
            region_code=body["region_code"],
            version=int(body["version"]),
            active_members=sum(1 for m in body.get("members", []) if m.get("active", True)),
        )


def registry_of(runtime: ServiceRuntime) -> RegistryClient:
    """This process's registry client (REGISTRY_URL; SERVICE_TOKEN, or a development token minted with
    the development secret)."""

    def build() -> RegistryClient:
        return RegistryClient(runtime.settings.registry_url, service_token(runtime.settings))

    return runtime.cached(CACHE_KEY, build)


class NotYetKnown(Conflict):
    slug, title = "not-yet-known", "Registered, but not yet known to this service"

    def __init__(self, field: str, household_id: str):
        super().__init__(
            f"household {household_id} is registered, and this service learns of it within seconds; retry after "
            f"{NOT_YET_KNOWN_RETRY_SECONDS} s",
            errors=[{"field": field, "rule": "not_yet_known", "message": "registered moments ago; retry shortly"}],
            headers={"Retry-After": str(NOT_YET_KNOWN_RETRY_SECONDS)},
        )


async def ask_registry(runtime: ServiceRuntime, household_id: str) -> RegisteredHousehold | None:
    """The registry's answer for a household this service has not heard of; 503 if it cannot be asked."""
    try:
        return await registry_of(runtime).household(household_id)
    except RegistryUnreachable as exc:
        raise ServiceUnavailable(
            f"household {household_id} is not known to this service yet and the registry cannot be asked now ({exc})",
            retry_after_seconds=5,
        ) from None


async def unknown_here(runtime: ServiceRuntime, household_id: str, actor: Principal, not_found: str) -> Problem:
    """What to answer for a household this service has no record of: `not-yet-known` if the registry has
    it and the caller may see it there, the 404 `not_found` otherwise (unknown and out of scope alike)."""
    registered = await ask_registry(runtime, household_id)
    if registered is not None and actor.may_see_household(household_id, registered.region_code):
        return NotYetKnown("household_id", household_id)
    return NotFound(not_found)
