"""Registry and eligibility together on PostgreSQL with one in-process bus: decisions follow
registry changes, are scoped like households, and the scheduler plans its runs once a day."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from tests.conftest import auth, registry_and_eligibility
from tests.factories import household, id_number, member

NOW = datetime(2026, 7, 1, 1, 0, tzinfo=UTC)  # 1 July 09:00 in Jilin: a month's first day


@pytest.fixture(scope="module")
async def both(databases):
    async with registry_and_eligibility(databases, NOW) as services:
        yield services


async def settle(registry, eligibility, bus):
    for _ in range(3):
        await registry.runtime.relay.publish_pending()
        await bus.drain()
        await eligibility.runtime.relay.publish_pending()
        await bus.drain()


async def test_decisions_follow_the_registry_and_are_scoped(both):
    registry, eligibility, bus = both
    county = auth("county_operator", "220122")
    created = (
        await registry.http.post(
            "/v1/households",
            headers=county,
            json=household(
                members=[member(id_number=id_number())],
                poverty_status="not_lifted",
                incomes=[{"type": "wages", "amount_fen": 10_000, "period": "month", "effective_from": "2026-01-01"}],
            ),
        )
    ).json()
    hid = created["id"]
    await settle(registry, eligibility, bus)
    current = await eligibility.http.get(f"/v1/households/{hid}/decisions", headers=county)
    assert [(d["programme"], d["status"], d["change"]) for d in current.json()["items"]] == [
        ("dibao", "eligible", "granted")
    ]
    decision_id = current.json()["items"][0]["id"]
    assert (
        await eligibility.http.get(f"/v1/households/{hid}/decisions", headers=auth("county_operator", "220182"))
    ).status_code == 404
    assert (
        await eligibility.http.get(f"/v1/decisions/{decision_id}", headers=auth("county_operator", "220182"))
    ).status_code == 404
    own = auth("household", "220122", household_id=hid, subject="hh")
    assert (await eligibility.http.get(f"/v1/decisions/{decision_id}", headers=own)).status_code == 200
    other = auth("household", "220122", household_id="someone-else", subject="hh2")
    assert (await eligibility.http.get(f"/v1/households/{hid}/decisions", headers=other)).status_code == 404
    explanation = (await eligibility.http.get(f"/v1/decisions/{decision_id}", headers=county)).json()["explanation"]
    assert explanation["household_id"] == hid and explanation["household_version"] == 1
    # Income rises above double the standard: revoked; history keeps both.
    await registry.http.patch(
        f"/v1/households/{hid}/incomes/{created['incomes'][0]['id']}", headers=county, json={"amount_fen": 100_000}
    )
    await settle(registry, eligibility, bus)
    history = (await eligibility.http.get(f"/v1/households/{hid}/decisions/history", headers=county)).json()["items"]
    assert [(d["change"], d["current"]) for d in history if d["programme"] == "dibao"] == [
        ("granted", False),
        ("revoked", True),
    ]
    signals = (await eligibility.http.get(f"/v1/households/{hid}/signals", headers=county)).json()["items"]
    assert "registered_poor_not_covered" in [s["kind"] for s in signals]


async def test_scheduler_plans_daily_and_monthly_runs_once(both):
    from services.eligibility.service_layer.handlers import schedule_due_jobs

    _, eligibility, _ = both
    first = await schedule_due_jobs(eligibility.runtime)
    again = await schedule_due_jobs(eligibility.runtime)
    assert len(first) == 2 and again == []
    for _ in range(100):
        jobs = (await eligibility.http.get("/v1/jobs", headers=auth("province_operator", "22"))).json()["items"]
        kinds = {j["kind"]: j["status"] for j in jobs}
        if kinds.get("daily") == "done" and kinds.get("monthly_comparison") == "done":
            break
        await asyncio.sleep(0.05)
    assert kinds == {"daily": "done", "monthly_comparison": "done"}


async def test_masked_roles_learn_no_health_facts_and_no_foreign_households(both):
    registry, eligibility, bus = both
    county = auth("county_operator", "220122")
    elder = member(
        id_number=id_number(birth=datetime(1950, 3, 1).date()),
        disability_grade=1,
        labour_capacity="none",
        has_legal_supporter=False,
    )
    created = (await registry.http.post("/v1/households", headers=county, json=household(members=[elder]))).json()
    hid = created["id"]
    await settle(registry, eligibility, bus)
    # The registry's events carry no health flag in clear (they travel sealed only).
    sent = [e.to_dict() for e in bus.published if e.subject == hid]
    assert sent and all(word not in str(sent) for word in ("severely_disabled", "elderly", "seriously_ill"))

    current = (await eligibility.http.get(f"/v1/households/{hid}/decisions", headers=county)).json()["items"]
    clear_inputs = [r["inputs"] for d in current for r in d["explanation"]["rules"]]
    assert any("disability_grade" in i or "age" in i for i in clear_inputs)
    for role in ("auditor", "province_operator"):
        masked = (await eligibility.http.get(f"/v1/households/{hid}/decisions", headers=auth(role, "22"))).json()
        for decision in masked["items"]:
            for rule in decision["explanation"]["rules"]:
                for name in ("age", "disability_grade", "self_care", "labour_capacity", "vulnerable_members"):
                    assert rule["inputs"].get(name, "withheld") == "withheld", (role, rule)
                assert "残疾等级" not in rule["note_zh"] and "岁" not in rule["note_zh"]

    # Another county asking for this decision learns nothing, not even which household it belongs to.
    decision_id = current[0]["id"]
    foreign = await eligibility.http.get(f"/v1/decisions/{decision_id}", headers=auth("county_operator", "220182"))
    assert foreign.status_code == 404 and hid not in foreign.text
    unknown = await eligibility.http.get("/v1/decisions/no-such-decision", headers=auth("county_operator", "220182"))
    assert unknown.json()["detail"] == foreign.json()["detail"].replace(decision_id, "no-such-decision")


async def test_jobs_are_scoped_to_the_callers_region(both):
    _, eligibility, _ = both
    province = auth("province_operator", "22")
    started = await eligibility.http.post("/v1/jobs", headers=province, json={"region_prefix": "22", "reason": "test"})
    assert started.status_code == 202, started.text
    job_id = started.json()["id"]
    assert (await eligibility.http.get(f"/v1/jobs/{job_id}", headers=province)).status_code == 200
    county = auth("county_operator", "220122")
    assert (await eligibility.http.get(f"/v1/jobs/{job_id}", headers=county)).status_code == 404
    assert job_id not in (await eligibility.http.get("/v1/jobs", headers=county)).text
    own = auth("household", "220122", household_id="h-1", subject="hh")
    assert (await eligibility.http.get("/v1/jobs", headers=own)).status_code == 403
    assert (await eligibility.http.get(f"/v1/jobs/{job_id}", headers=own)).status_code == 403


async def test_signal_events_carry_health_and_age_facts_only_sealed(both):
    registry, eligibility, bus = both
    county = auth("county_operator", "220122")
    # An elderly, seriously ill member in a household that dibao does not cover: a hardship watch.
    elder = member(id_number=id_number(birth=datetime(1948, 2, 1).date()), serious_illness=True)
    created = (
        await registry.http.post(
            "/v1/households",
            headers=county,
            json=household(
                members=[elder],
                poverty_status="none",
                incomes=[{"type": "wages", "amount_fen": 900_000, "period": "month", "effective_from": "2026-01-01"}],
            ),
        )
    ).json()
    await settle(registry, eligibility, bus)
    raised = [e for e in bus.published if e.subject == created["id"] and e.type.endswith("signal.raised.v1")]
    watch = [e for e in raised if e.data["kind"] == "special_hardship_watch"]
    assert watch, [e.data["kind"] for e in raised]
    for event in raised:
        assert not {"members", "vulnerable_members"} & set(event.data["evidence"]), event.data
    opened = eligibility.runtime.sealer.unseal(watch[0].data["sealed_evidence"])
    assert opened["members"] == [created["members"][0]["id"]]
    # The cadre's API still shows the evidence; a masked role sees it withheld.
    shown = (await eligibility.http.get(f"/v1/households/{created['id']}/signals", headers=county)).json()["items"]
    assert any(s["evidence"].get("members") == [created["members"][0]["id"]] for s in shown)
    masked = await eligibility.http.get(f"/v1/households/{created['id']}/signals", headers=auth("auditor", "22"))
    assert all(s["evidence"].get("members", "withheld") == "withheld" for s in masked.json()["items"])
