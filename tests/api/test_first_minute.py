"""What a newcomer and an integrator hit in their first minute, on both back ends: a household the
other services have not heard of yet, and writes sent with an `Idempotency-Key` as the contract asks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.conftest import auth, published, whole_system
from tests.factories import household

NOW = datetime(2026, 7, 1, 2, 0, tzinfo=UTC)
COUNTY = "220122"


@pytest.fixture(scope="module")
async def system(databases):
    async with whole_system(databases, NOW) as (services, bus):
        yield services, bus


async def apply_for_aid(services, household_id: str, headers: dict | None = None):
    return await services["disbursement"].http.post(
        "/v1/aid-applications",
        json={
            "household_id": household_id,
            "kind": "emergency",
            "cause": "illness",
            "requested_amount_fen": 50_000,
            "commitment": "本人承诺所报情况属实",
        },
        headers=auth("county_operator", COUNTY) | (headers or {}),
    )


async def test_aid_for_a_household_registered_a_moment_ago_is_accepted(system):
    """The caseworker registers a family in crisis and applies for same-day aid in the same minute:
    disbursement has not heard of it yet and asks the registry instead of calling it unknown."""
    services, bus = system
    relay = services["registry"].runtime.relay
    await relay.stop()
    try:
        created = await services["registry"].http.post(
            "/v1/households", json=household(COUNTY), headers=auth("county_operator", COUNTY)
        )
        assert created.status_code == 201, created.text
        household_id = created.json()["id"]
        applied = await apply_for_aid(services, household_id, {"Idempotency-Key": f"aid-{household_id}"})
        assert applied.status_code == 201, applied.text
        assert applied.json()["region_code"] == COUNTY
        # Decisions are not made yet: "not yet known here", with when to ask again, not "no such household".
        early = await services["eligibility"].http.get(
            f"/v1/households/{household_id}/decisions", headers=auth("county_operator", COUNTY)
        )
        assert early.status_code == 409, early.text
        assert early.headers["content-type"].startswith("application/problem+json")
        assert early.json()["errors"][0] == {
            "field": "household_id",
            "rule": "not_yet_known",
            "message": "registered moments ago; retry shortly",
        }
        assert int(early.headers["Retry-After"]) >= 1
        # Out of scope it stays a 404, as for any household the caller may not see.
        hidden = await services["eligibility"].http.get(
            f"/v1/households/{household_id}/decisions", headers=auth("county_operator", "220182")
        )
        assert hidden.status_code == 404
    finally:
        relay.start()
    await published(services["registry"])
    await bus.drain()
    later = await services["eligibility"].http.get(
        f"/v1/households/{household_id}/decisions", headers=auth("county_operator", COUNTY)
    )
    assert later.status_code == 200, later.text


async def test_a_household_nobody_registered_is_unknown_everywhere(system):
    services, _ = system
    ghost = "01a00000-0000-7000-8000-000000000000"
    county = auth("county_operator", COUNTY)
    applied = await apply_for_aid(services, ghost)
    assert applied.status_code == 404 and applied.json()["errors"][0]["rule"] == "unknown_household"
    for service, path in (("eligibility", "decisions"), ("notifications", "timeline")):
        response = await services[service].http.get(f"/v1/households/{ghost}/{path}", headers=county)
        assert response.status_code == 404, (service, response.text)


async def test_the_registry_unreachable_is_a_503_not_a_404(system):
    """Not knowing and not being able to ask are told apart: the caller retries later."""
    from shared.registry_client import CACHE_KEY, RegistryClient

    services, _ = system
    disbursement = services["disbursement"].runtime
    wired = disbursement.caches[CACHE_KEY]
    disbursement.caches[CACHE_KEY] = RegistryClient("http://127.0.0.1:9", "token", timeout_seconds=1)
    try:
        applied = await services["disbursement"].http.post(
            "/v1/aid-applications",
            json={
                "household_id": "01a00000-0000-7000-8000-000000000001",
                "kind": "emergency",
                "cause": "illness",
                "requested_amount_fen": 100,
                "commitment": "承诺",
            },
            headers=auth("county_operator", COUNTY),
        )
    finally:
        disbursement.caches[CACHE_KEY] = wired
    assert applied.status_code == 503 and "Retry-After" in applied.headers, applied.text
