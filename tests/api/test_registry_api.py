"""The registry's HTTP contract on PostgreSQL: validation, scope, masking, idempotency, concurrency."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from services.registry.adapters import orm
from tests.conftest import auth, published
from tests.factories import household, id_number, member

COUNTY = auth("county_operator", "220122")
OTHER_COUNTY = auth("county_operator", "220182")
PROVINCE = auth("province_operator", "22")


async def counts(registry) -> tuple[int, int, int]:
    events = len(await published(registry))
    async with registry.runtime.db.session() as s:
        return (
            await s.scalar(select(func.count()).select_from(orm.households)),
            events,
            await s.scalar(select(func.count()).select_from(orm.household_versions)),
        )


async def test_register_and_read_back(registry):
    response = await registry.http.post("/v1/households", json=household(), headers=COUNTY)
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["ETag"] == '"1"'
    number = body["members"][0]["id_number"]
    assert body["members"][0]["birth_date"] == f"{number[6:10]}-{number[10:12]}-{number[12:14]}"
    read = await registry.http.get(f"/v1/households/{body['id']}", headers=COUNTY)
    assert read.status_code == 200
    assert read.json()["members"][0]["id_number"] == body["members"][0]["id_number"]


async def test_problem_json_and_nothing_written_for_bad_input(registry):
    good = id_number()
    bad_id = good[:17] + ("0" if good[17] != "0" else "1")
    cases = [
        (household(members=[member(id_number=bad_id)]), "id_checksum"),
        (household(region_code="220122999"), "known_region"),  # inside the caller's scope, unknown
    ]
    for body, rule in cases:
        before = await counts(registry)
        response = await registry.http.post(
            "/v1/households", json=body, headers=COUNTY | {"Idempotency-Key": str(uuid.uuid4())}
        )
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        problem = response.json()
        assert any(e["rule"] == rule for e in problem["errors"]), problem
        assert await counts(registry) == before

    created = (await registry.http.post("/v1/households", json=household(), headers=COUNTY)).json()
    before = await counts(registry)
    negative = await registry.http.post(
        f"/v1/households/{created['id']}/incomes",
        headers=COUNTY,
        json={"type": "wages", "amount_fen": -100, "period": "month", "effective_from": "2026-01-01"},
    )
    assert negative.status_code == 422
    assert negative.json()["errors"][0]["field"] == "amount_fen"
    assert negative.json()["errors"][0]["rule"] == "greater_than_equal"
    floaty = await registry.http.post(
        f"/v1/households/{created['id']}/incomes",
        headers=COUNTY,
        json={"type": "wages", "amount_fen": 12.5, "period": "month", "effective_from": "2026-01-01"},
    )
    assert floaty.status_code == 422
    malformed = await registry.http.post(
        "/v1/households", content=b'{"region_code": "220122",', headers=COUNTY | {"content-type": "application/json"}
    )
    assert malformed.status_code == 400
    assert malformed.headers["content-type"].startswith("application/problem+json")
    assert malformed.json()["errors"][0]["rule"] == "json_invalid"
    assert await counts(registry) == before


async def test_birth_date_must_agree_with_id_number(registry):
    response = await registry.http.post(
        "/v1/households",
        headers=COUNTY,
        json=household(members=[member(id_number=id_number(sex="female"), sex="male")]),
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["rule"] == "id_consistency"


async def test_id_number_unique_across_households(registry):
    shared_id = id_number()
    first = await registry.http.post(
        "/v1/households", headers=COUNTY, json=household(members=[member(id_number=shared_id)])
    )
    assert first.status_code == 201
    before = await counts(registry)
    second = await registry.http.post(
        "/v1/households", headers=COUNTY, json=household(members=[member(id_number=shared_id)])
    )
    assert second.status_code == 409
    assert second.json()["errors"][0]["rule"] == "unique_id_number"
    assert await counts(registry) == before


async def test_county_operator_cannot_read_another_county(registry):
    created = (await registry.http.post("/v1/households", json=household("220122"), headers=COUNTY)).json()
    assert (await registry.http.get(f"/v1/households/{created['id']}", headers=OTHER_COUNTY)).status_code == 404
    listed = (await registry.http.get("/v1/households", headers=OTHER_COUNTY)).json()["items"]
    assert created["id"] not in [h["id"] for h in listed]
    assert all(h["region_code"].startswith("220182") for h in listed)
    # ...and cannot write there either.
    moved = await registry.http.post("/v1/households", json=household("220122"), headers=OTHER_COUNTY)
    assert moved.status_code == 403


async def test_household_user_sees_only_its_own(registry):
    mine = (await registry.http.post("/v1/households", json=household(), headers=COUNTY)).json()
    other = (await registry.http.post("/v1/households", json=household(), headers=COUNTY)).json()
    own = auth("household", "220122", household_id=mine["id"], subject="household-user")
    assert (await registry.http.get(f"/v1/households/{mine['id']}", headers=own)).status_code == 200
    assert (await registry.http.get(f"/v1/households/{other['id']}", headers=own)).status_code == 404
    listed = (await registry.http.get("/v1/households", headers=own)).json()["items"]
    assert [h["id"] for h in listed] == [mine["id"]]
    assert (await registry.http.post("/v1/households", json=household(), headers=own)).status_code == 403


async def test_personal_data_masked_for_province_operator(registry):
    number = id_number()
    created = (
        await registry.http.post(
            "/v1/households",
            headers=COUNTY,
            json=household(members=[member(id_number=number, name="李四", disability_grade=1)]),
        )
    ).json()
    seen = (await registry.http.get(f"/v1/households/{created['id']}", headers=PROVINCE)).json()
    m = seen["members"][0]
    assert m["id_number"] == number[:6] + "*" * 11 + number[-1]
    assert m["name"] == "李*"
    assert m["phone"] == "139****5678"
    assert m["disability_grade"] is None
    assert seen["personal_data"] == "masked"
    clear = (
        await registry.http.get(
            f"/v1/households/{created['id']}", headers=auth("provincial_system", "22", scope="pii:read")
        )
    ).json()
    assert clear["members"][0]["id_number"] == number


async def test_authentication_required_and_roles_checked(registry):
    assert (await registry.http.get("/v1/households")).status_code == 401
    bad = await registry.http.get("/v1/households", headers={"Authorization": "Bearer not-a-jwt"})
    assert bad.status_code == 401 and bad.headers["content-type"].startswith("application/problem+json")
    auditor = await registry.http.post("/v1/households", json=household(), headers=auth("auditor", "22"))
    assert auditor.status_code == 403


async def test_idempotency_key_replay_and_mismatch(registry):
    key = {"Idempotency-Key": str(uuid.uuid4())}
    body = household()
    first = await registry.http.post("/v1/households", json=body, headers=COUNTY | key)
    before = await counts(registry)
    again = await registry.http.post("/v1/households", json=body, headers=COUNTY | key)
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await counts(registry) == before
    other = await registry.http.post("/v1/households", json=household(), headers=COUNTY | key)
    assert other.status_code == 409
    assert other.json()["errors"][0]["rule"] == "idempotency_key_reused"
    assert await counts(registry) == before


async def test_if_match_conflict(registry):
    created = await registry.http.post("/v1/households", json=household(), headers=COUNTY)
    hid, tag = created.json()["id"], created.headers["ETag"]
    missing = await registry.http.patch(f"/v1/households/{hid}", json={"address": "新地址"}, headers=COUNTY)
    assert missing.status_code == 428
    ok = await registry.http.patch(
        f"/v1/households/{hid}", json={"address": "新地址", "reason": "搬迁"}, headers=COUNTY | {"If-Match": tag}
    )
    assert ok.status_code == 200 and ok.headers["ETag"] == '"2"'
    stale = await registry.http.patch(
        f"/v1/households/{hid}", json={"address": "又一个地址"}, headers=COUNTY | {"If-Match": tag}
    )
    assert stale.status_code == 412
    assert stale.headers["content-type"].startswith("application/problem+json")
    assert (await registry.http.get(f"/v1/households/{hid}", headers=COUNTY)).json()["address"] == "新地址"


async def test_history_and_as_of(registry):
    created = (await registry.http.post("/v1/households", json=household(), headers=COUNTY)).json()
    hid = created["id"]
    income = await registry.http.post(
        f"/v1/households/{hid}/incomes",
        headers=COUNTY,
        json={
            "type": "wages",
            "amount_fen": 150000,
            "period": "month",
            "effective_from": "2026-01-01",
            "reason": "村委会核实",
        },
    )
    assert income.status_code == 201
    history = (await registry.http.get(f"/v1/households/{hid}/history", headers=COUNTY)).json()["changes"]
    assert [c["change"] for c in history] == ["registered", "income_recorded"]
    assert history[1]["reason"] == "村委会核实" and history[1]["actor"].startswith("test-county_operator")
    masked = (await registry.http.get(f"/v1/households/{hid}/history", headers=PROVINCE)).json()["changes"]
    assert masked[1]["reason"] == "***" and masked[0]["reason"] is None
    past = await registry.http.get(f"/v1/households/{hid}", params={"as_of": "2020-01-01"}, headers=COUNTY)
    assert past.status_code == 404
    today = await registry.http.get(f"/v1/households/{hid}", params={"as_of": "2999-01-01"}, headers=COUNTY)
    assert today.json()["recorded"]["version"] == 2 and len(today.json()["incomes"]) == 1


async def test_events_carry_no_clear_personal_data(registry):
    number = id_number()
    created = (
        await registry.http.post(
            "/v1/households",
            headers=COUNTY,
            json=household(members=[member(id_number=number, name="王五", disability_grade=2)]),
        )
    ).json()
    rows = [e.to_dict() for e in await published(registry, created["id"])]  # as stored in the outbox and sent
    assert len(rows) == 1
    text = str(rows[0])
    assert number not in text and "王五" not in text and "13912345678" not in text
    facts = rows[0]["data"]["facts"]
    sealed = registry.runtime.sealer.unseal(facts["sealed"])
    assert sealed[created["members"][0]["id"]]["disability_grade"] == 2


async def test_list_filters_and_cursor(registry):
    region = "220183"
    ops = auth("county_operator", region)
    ids = []
    for i in range(5):
        body = household(
            region, members=[member(id_number=id_number(region))], poverty_status="marginal" if i % 2 else "lifted"
        )
        ids.append((await registry.http.post("/v1/households", json=body, headers=ops)).json()["id"])
    seen, cursor = [], None
    while True:
        page = (
            await registry.http.get(
                "/v1/households", params={"limit": 2, **({"cursor": cursor} if cursor else {})}, headers=ops
            )
        ).json()
        seen += [h["id"] for h in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(ids)
    marginal = (await registry.http.get("/v1/households", params={"poverty_status": "marginal"}, headers=ops)).json()
    assert len(marginal["items"]) == 2


async def test_registration_can_carry_incomes_by_member_position(registry):
    body = household(
        members=[member(), member("spouse", id_number=id_number(sex="female"))],
        incomes=[
            {
                "member_id": "1",
                "type": "wages",
                "amount_fen": 200_000,
                "period": "month",
                "effective_from": "2026-01-01",
            }
        ],
        expenses=[
            {"type": "medical_self_paid", "amount_fen": 50_000, "period": "year", "effective_from": "2026-01-01"}
        ],
    )
    created = (await registry.http.post("/v1/households", json=body, headers=COUNTY)).json()
    spouse = [m for m in created["members"] if m["relation"] == "spouse"][0]
    assert created["incomes"][0]["member_id"] == spouse["id"] and created["version"] == 1
    assert len(created["expenses"]) == 1
    wrong = household(
        incomes=[
            {"member_id": "7", "type": "wages", "amount_fen": 1, "period": "month", "effective_from": "2026-01-01"}
        ]
    )
    refused = await registry.http.post("/v1/households", json=wrong, headers=COUNTY)
    assert refused.status_code == 422 and refused.json()["errors"][0]["rule"] == "member_position"
