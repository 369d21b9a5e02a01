"""The registry tells a caller nothing its role and region may not see: masked health facts and free
text, no existence oracles, idempotent results that only their own scope can replay."""

from __future__ import annotations

import asyncio
import json
import uuid

from tests.conftest import auth
from tests.factories import household, id_number, member

COUNTY = auth("county_operator", "220122")
OTHER_COUNTY = auth("county_operator", "220182")
AUDITOR = auth("auditor", "22")


async def test_masked_roles_see_no_health_flags_or_free_text(registry):
    created = (
        await registry.http.post(
            "/v1/households",
            headers=COUNTY,
            json=household(
                members=[member(disability_grade=1, serious_illness=True)],
                flags=["severely_disabled", "remote_village"],
                incomes=[
                    {
                        "type": "wages",
                        "amount_fen": 1,
                        "period": "month",
                        "effective_from": "2026-01-01",
                        "note": "王五住院期间",
                    }
                ],
            ),
        )
    ).json()
    hid, tag = created["id"], None
    event = await registry.http.post(
        f"/v1/households/{hid}/life-events",
        headers=COUNTY,
        json={"type": "hospitalisation", "occurred_on": "2026-03-01", "note": "王五肺癌住院"},
    )
    assert event.status_code == 201, event.text
    tag = event.headers["ETag"]
    assert tag
    seen = (await registry.http.get(f"/v1/households/{hid}", headers=AUDITOR)).json()
    text = json.dumps(seen, ensure_ascii=False)
    assert "王五" not in text and "肺癌" not in text and "hospitalisation" not in text
    assert seen["flags"] == ["remote_village"]
    assert seen["incomes"][0]["note"] == "***" and seen["life_events"][0]["note"] == "***"
    clear = (await registry.http.get(f"/v1/households/{hid}", headers=COUNTY)).json()
    assert clear["life_events"][0]["note"] == "王五肺癌住院" and "severely_disabled" in clear["flags"]

    refused = await registry.http.get("/v1/households", params={"flag": "severely_disabled"}, headers=AUDITOR)
    assert refused.status_code == 403 and refused.json()["errors"][0]["field"] == "flag"
    allowed = await registry.http.get("/v1/households", params={"flag": "severely_disabled"}, headers=COUNTY)
    assert hid in [h["id"] for h in allowed.json()["items"]]
    assert (
        await registry.http.get("/v1/households", params={"flag": "remote_village"}, headers=AUDITOR)
    ).status_code == 200


async def test_a_duplicate_person_names_no_household_outside_scope(registry):
    number = id_number("220182")
    other = (
        await registry.http.post(
            "/v1/households", headers=OTHER_COUNTY, json=household("220182", members=[member(id_number=number)])
        )
    ).json()
    dup = await registry.http.post("/v1/households", headers=COUNTY, json=household(members=[member(id_number=number)]))
    assert dup.status_code == 409 and dup.json()["errors"][0]["rule"] == "unique_id_number"
    assert other["id"] not in dup.text
    same_scope = await registry.http.post(
        "/v1/households", headers=OTHER_COUNTY, json=household("220182", members=[member(id_number=number)])
    )
    assert same_scope.status_code == 409 and other["id"] in same_scope.text


async def test_region_codes_cannot_be_probed_outside_scope(registry):
    known, unknown = "220182", "220189"
    answers = [
        await registry.http.post("/v1/households", headers=COUNTY, json=household(code)) for code in (known, unknown)
    ]
    assert [a.status_code for a in answers] == [403, 403]
    assert answers[0].json()["title"] == answers[1].json()["title"]
    inside = await registry.http.post("/v1/households", headers=COUNTY, json=household("220122999"))
    assert inside.status_code == 422 and inside.json()["errors"][0]["rule"] == "known_region"


async def test_idempotent_replay_needs_the_same_scope(registry):
    key = {"Idempotency-Key": str(uuid.uuid4())}
    body = household("220122")
    first = await registry.http.post("/v1/households", json=body, headers=COUNTY | key)
    assert first.status_code == 201
    # Same subject, another county: not a replay of the first county's response (which holds clear data).
    elsewhere = auth("county_operator", "220182", subject="test-county_operator-220122")
    again = await registry.http.post("/v1/households", json=body, headers=elsewhere | key)
    assert again.status_code == 403 and "Idempotent-Replayed" not in again.headers


async def test_concurrent_requests_with_one_key_apply_once_and_replay(registry):
    key = {"Idempotency-Key": str(uuid.uuid4())}
    body = household()
    answers = await asyncio.gather(
        *[registry.http.post("/v1/households", json=body, headers=COUNTY | key) for _ in range(20)]
    )
    statuses = [a.status_code for a in answers]
    created = [a for a in answers if a.status_code == 201 and "Idempotent-Replayed" not in a.headers]
    assert len(created) == 1, statuses
    for answer in answers:
        if answer.status_code == 201:
            assert answer.json()["id"] == created[0].json()["id"]
        else:  # only "still in progress, retry", never a wrong error
            assert answer.status_code == 409 and answer.headers["Retry-After"], answer.text
            assert answer.json()["errors"][0]["rule"] == "idempotency_key_in_progress"


async def test_import_jobs_and_external_refs_reveal_nothing_across_scopes(registry):
    ref = f"ext-{uuid.uuid4().hex[:8]}"
    content = json.dumps(household("220182", external_ref=ref, members=[member(id_number=id_number("220182"))]))
    system = auth("provincial_system", "220182", subject="sys")
    job = (
        await registry.http.post(
            "/v1/imports", content=content.encode(), headers=system | {"content-type": "application/x-ndjson"}
        )
    ).json()
    for _ in range(200):
        done = (await registry.http.get(f"/v1/imports/{job['id']}", headers=system)).json()
        if done["status"] == "done":
            break
        await asyncio.sleep(0.05)
    assert done["imported"] == 1
    same_subject_other_region = auth("provincial_system", "220122", subject="sys")
    assert (await registry.http.get(f"/v1/imports/{job['id']}", headers=same_subject_other_region)).status_code == 404
    # The same external_ref from a county that cannot see the household is refused, not counted "unchanged".
    mine = json.dumps(household("220122", external_ref=ref, members=[member()]))
    other = (
        await registry.http.post(
            "/v1/imports",
            content=mine.encode(),
            headers=same_subject_other_region | {"content-type": "application/x-ndjson"},
        )
    ).json()
    for _ in range(200):
        result = (await registry.http.get(f"/v1/imports/{other['id']}", headers=same_subject_other_region)).json()
        if result["status"] == "done":
            break
        await asyncio.sleep(0.05)
    assert (result["unchanged"], result["failed"]) == (0, 1)
    assert "220182" not in json.dumps(result["errors"])
