"""Every kind of household change: it is applied, versioned, and published as its own event type."""

from __future__ import annotations

from urllib.parse import quote

from tests.conftest import auth, published
from tests.factories import household, id_number, member

COUNTY = auth("county_operator", "220122")


async def event_types(registry, household_id: str) -> list[str]:
    return [e.type.split(".")[-2] for e in await published(registry, household_id)]


async def test_each_change_is_versioned_and_published(registry):
    http = registry.http
    created = await http.post("/v1/households", json=household(), headers=COUNTY)
    hid = created.json()["id"]
    base = f"/v1/households/{hid}"
    spouse = await http.post(
        f"{base}/members",
        headers=COUNTY | {"If-Match": created.headers["ETag"]},
        json=member("spouse", id_number=id_number(sex="female")),
    )
    assert spouse.status_code == 201 and spouse.headers["ETag"] == '"2"'
    spouse_id = [m for m in spouse.json()["members"] if m["relation"] == "spouse"][0]["id"]
    assert (
        await http.patch(
            f"{base}/members/{spouse_id}", headers=COUNTY, json={"labour_capacity": "none", "disability_grade": 1}
        )
    ).status_code == 200
    income = await http.post(
        f"{base}/incomes",
        headers=COUNTY,
        json={
            "member_id": spouse_id,
            "type": "basic_pension",
            "amount_fen": 10300,
            "period": "month",
            "effective_from": "2026-01-01",
        },
    )
    income_id = income.json()["incomes"][0]["id"]
    corrected = await http.patch(f"{base}/incomes/{income_id}", headers=COUNTY, json={"amount_fen": 11000})
    assert corrected.json()["incomes"][0]["amount_fen"] == 11000
    assert (
        await http.post(
            f"{base}/expenses",
            headers=COUNTY,
            json={"type": "medical_self_paid", "amount_fen": 500000, "period": "year", "effective_from": "2026-01-01"},
        )
    ).status_code == 201
    assert (
        await http.post(f"{base}/assets", headers=COUNTY, json={"type": "house", "value_fen": 3000000})
    ).status_code == 201
    assert (
        await http.put(
            f"{base}/assignment",
            headers=COUNTY,
            json={"cadre_id": "c-1", "cadre_name": "刘书记", "unit": "农安县民政局", "since": "2026-01-01"},
        )
    ).status_code == 200
    assert (await http.post(f"{base}/status", headers=COUNTY, json={"poverty_status": "marginal"})).status_code == 200
    assert (
        await http.post(
            f"{base}/life-events",
            headers=COUNTY,
            json={"type": "hospitalisation", "occurred_on": "2026-03-01", "member_id": spouse_id},
        )
    ).status_code == 201
    removed = await http.delete(f"{base}/members/{spouse_id}", headers=COUNTY | {"X-Change-Reason": quote("迁出")})
    assert removed.status_code == 200
    assert [m["active"] for m in removed.json()["members"] if m["id"] == spouse_id] == [False]
    assert removed.headers["ETag"] == '"11"'
    assert await event_types(registry, hid) == [
        "registered",
        "member_added",
        "member_changed",
        "income_recorded",
        "income_corrected",
        "expense_recorded",
        "asset_recorded",
        "assignment_changed",
        "status_changed",
        "life_event_reported",
        "member_removed",
    ]
    history = (await http.get(f"{base}/history", headers=COUNTY)).json()["changes"]
    assert history[-1]["reason"] == "迁出" and len(history) == 11


async def test_domain_rules_surface_as_problems(registry):
    created = (await registry.http.post("/v1/households", json=household(), headers=COUNTY)).json()
    base = f"/v1/households/{created['id']}"
    second_head = await registry.http.post(f"{base}/members", headers=COUNTY, json=member("head"))
    assert second_head.status_code == 422 and second_head.json()["errors"][0]["rule"] == "one_head"
    last = await registry.http.delete(f"{base}/members/{created['members'][0]['id']}", headers=COUNTY)
    assert last.status_code == 422 and last.json()["errors"][0]["rule"] == "last_member"
    unknown = await registry.http.post(
        f"{base}/incomes",
        headers=COUNTY,
        json={
            "member_id": "nobody",
            "type": "wages",
            "amount_fen": 1,
            "period": "month",
            "effective_from": "2026-01-01",
        },
    )
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "member_id"
    missing = await registry.http.get("/v1/households/does-not-exist", headers=COUNTY)
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("application/problem+json")


async def test_regions_can_be_extended_within_scope(registry):
    county = auth("county_operator", "220122")
    township = await registry.http.post(
        "/v1/regions", headers=county, json={"code": "220122101", "name": "农安镇", "level": "township"}
    )
    assert township.status_code in (201, 409)
    village = await registry.http.post(
        "/v1/regions", headers=county, json={"code": "220122101201", "name": "某村", "level": "village"}
    )
    assert village.status_code in (201, 409)
    orphan = await registry.http.post(
        "/v1/regions", headers=county, json={"code": "220122999201", "name": "无乡之村", "level": "village"}
    )
    assert orphan.status_code == 422 and orphan.json()["errors"][0]["rule"] == "region_hierarchy"
    outside = await registry.http.post(
        "/v1/regions",
        headers=auth("county_operator", "220182"),
        json={"code": "220122102", "name": "别县之乡", "level": "township"},
    )
    assert outside.status_code == 403
    created = await registry.http.post("/v1/households", headers=county, json=household("220122101201"))
    assert created.status_code == 201
    counties = (
        await registry.http.get("/v1/regions", params={"level": "county"}, headers=auth("province_operator"))
    ).json()
    assert len(counties["items"]) == 60
