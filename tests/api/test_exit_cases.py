"""Leaving the register (001 ch.12): proposal → democratic appraisal → public notice with objections →
township approval → announcement, each step scoped by role and region, recorded and published; the
status changes only this way (an operator's correction keeps its own audited path)."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import auth, published
from tests.factories import household, id_number, member

COUNTY = "220122"
TOWNSHIP = COUNTY + "108"
VILLAGE = TOWNSHIP + "201"
OTHER_TOWNSHIP = COUNTY + "109"
DAY0 = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)  # 10:00 in Asia/Shanghai, 1 September


@contextlib.contextmanager
def days_later(registry, days: int):
    """The registry's clock moved to DAY0 + days for the requests inside."""
    real = registry.runtime.clock
    registry.runtime.clock = lambda: DAY0 + timedelta(days=days)
    try:
        yield
    finally:
        registry.runtime.clock = real


@pytest.fixture
async def poor_household(registry) -> str:
    county = auth("county_operator", COUNTY)
    for code, name, level in (
        (TOWNSHIP, "测试镇", "township"),
        (VILLAGE, "测试村", "village"),
        (OTHER_TOWNSHIP, "邻镇", "township"),
    ):
        response = await registry.http.post(
            "/v1/regions", headers=county, json={"code": code, "name": name, "level": level}
        )
        assert response.status_code in (201, 409), response.text
    created = await registry.http.post(
        "/v1/households", headers=county, json=household(VILLAGE, members=[member(id_number=id_number())])
    )
    assert created.status_code == 201, created.text
    return created.json()["id"]


def cadre():
    return auth("village_cadre", VILLAGE, subject="cadre-exit")


def township():
    return auth("township_officer", TOWNSHIP, subject="township-exit")


async def test_an_exit_goes_through_every_step_and_an_objection_stops_the_clock(registry, poor_household):
    http = registry.http
    with days_later(registry, 0):
        proposed = await http.post(
            "/v1/exit-cases", headers=cadre(), json={"household_id": poor_household, "reason": "收入稳定超过标准"}
        )
        assert proposed.status_code == 201, proposed.text
        case = proposed.json()
        assert case["status"] == "proposed" and case["proposed_on"] == "2026-09-01"
        base = f"/v1/exit-cases/{case['id']}"

        again = await http.post("/v1/exit-cases", headers=cadre(), json={"household_id": poor_household})
        assert again.status_code == 409 and again.json()["errors"][0]["rule"] == "one_open_case"
        early = await http.post(f"{base}/approve", headers=township(), json={})
        assert early.status_code == 409 and early.json()["errors"][0]["rule"] == "step_order"
        refused = await http.post(
            f"{base}/appraisal",
            headers=cadre(),
            json={"meeting_date": "2026-09-01", "record_ref": "村评议〔2026〕12号", "household_consents": False},
        )
        assert refused.status_code == 422 and refused.json()["errors"][0]["rule"] == "household_consent"
        appraised = await http.post(
            f"{base}/appraisal",
            headers=cadre(),
            json={"meeting_date": "2026-09-01", "record_ref": "村评议〔2026〕12号", "household_consents": True},
        )
        assert appraised.status_code == 200 and appraised.json()["status"] == "appraised"
        short = await http.post(f"{base}/notice", headers=cadre(), json={"days": 3})
        assert short.status_code == 422 and short.json()["errors"][0]["rule"] == "notice_minimum"
        noticed = await http.post(f"{base}/notice", headers=cadre(), json={})
        assert noticed.status_code == 200, noticed.text
        assert noticed.json()["notice"]["days"] == 7 and noticed.json()["notice_ends_on"] == "2026-09-08"

    # Day 2: the household objects; the clock stops, so approval waits for the township's ruling.
    own = auth("household", VILLAGE, household_id=poor_household, subject="hh-exit")
    with days_later(registry, 2):
        objected = await http.post(f"{base}/objections", headers=own, json={"summary": "家中老人刚住院，收入不稳"})
        assert objected.status_code == 201, objected.text
        assert objected.json()["notice_ends_on"] is None and objected.json()["open_objections"] == 1
        objection_id = objected.json()["notice"]["objections"][0]["id"]
    with days_later(registry, 8):
        waiting = await http.post(f"{base}/approve", headers=township(), json={})
        assert waiting.status_code == 409 and waiting.json()["errors"][0]["rule"] == "notice_complete"
        not_theirs = await http.post(
            f"{base}/objections/{objection_id}/ruling", headers=cadre(), json={"ruling": "dismissed", "reason": "x"}
        )
        assert not_theirs.status_code == 403
    # Day 5: dismissed. Stopped from day 2 to day 5: the notice now ends on day 7 + 3 = day 10.
    with days_later(registry, 5):
        ruled = await http.post(
            f"{base}/objections/{objection_id}/ruling",
            headers=township(),
            json={"ruling": "dismissed", "reason": "经核实，住院费用已由医保报销，收入稳定"},
        )
        assert ruled.status_code == 200, ruled.text
        assert ruled.json()["notice_ends_on"] == "2026-09-11" and ruled.json()["status"] == "in_notice"
    with days_later(registry, 9):
        assert (await http.post(f"{base}/approve", headers=township(), json={})).status_code == 409
    with days_later(registry, 10):
        approved = await http.post(f"{base}/approve", headers=township(), json={"reason": "公示无异议"})
        assert approved.status_code == 200 and approved.json()["status"] == "approved", approved.text
        before = (await http.get(f"/v1/households/{poor_household}", headers=cadre())).json()
        assert before["poverty_status"] == "not_lifted"  # approval alone changes nothing
        announced = await http.post(f"{base}/announce", headers=township(), json={"reason": "公告退出"})
        assert announced.status_code == 200, announced.text
        assert announced.json()["status"] == "announced" and announced.json()["exit_date"] == "2026-09-11"

    after = (await http.get(f"/v1/households/{poor_household}", headers=cadre())).json()
    assert after["poverty_status"] == "lifted" and after["exited_on"] == "2026-09-11"
    history = (await http.get(f"/v1/households/{poor_household}/history", headers=cadre())).json()["changes"]
    assert history[-1]["change"] == "exited" and history[-1]["actor"] == "township-exit"

    steps = [s["step"] for s in announced.json()["steps"]]
    assert steps == ["proposed", "appraised", "notice_started", "objection_raised", "objection_ruled", "approved",
                     "announced"]  # fmt: skip
    types = [e.type for e in await published(registry, poor_household)]
    exit_types = [t.split(".")[-2] for t in types if ".exit." in t]
    assert exit_types == [
        "proposed",
        "appraised",
        "notice_started",
        "objection_raised",
        "objection_ruled",
        "approved",
        "announced",
    ]
    assert types[-1].endswith("registry.household.exited.v1")
    exited = (await published(registry, poor_household))[-1]
    assert exited.data["facts"]["exited_on"] == "2026-09-11" and exited.data["facts"]["poverty_status"] == "lifted"
    # Events never carry the objection's text, reasons or the appraisal record.
    for envelope in await published(registry, poor_household):
        assert "收入不稳" not in str(envelope.data) and "医保" not in str(envelope.data)


async def test_an_upheld_objection_stops_the_case_and_the_household_stays(registry, poor_household):
    http = registry.http
    with days_later(registry, 0):
        case = (await http.post("/v1/exit-cases", headers=cadre(), json={"household_id": poor_household})).json()
        base = f"/v1/exit-cases/{case['id']}"
        await http.post(
            f"{base}/appraisal",
            headers=cadre(),
            json={"meeting_date": "2026-09-01", "record_ref": "R-1", "household_consents": True},
        )
        await http.post(f"{base}/notice", headers=cadre(), json={"days": 10})
    with days_later(registry, 3):
        objected = (await http.post(f"{base}/objections", headers=cadre(), json={"summary": "村民反映仍有困难"})).json()
        upheld = await http.post(
            f"{base}/objections/{objected['notice']['objections'][0]['id']}/ruling",
            headers=township(),
            json={"ruling": "upheld", "reason": "入户核实属实"},
        )
        assert upheld.status_code == 200 and upheld.json()["status"] == "stopped"
        late = await http.post(f"{base}/objections", headers=cadre(), json={"summary": "再次异议"})
        assert late.status_code == 409 and late.json()["errors"][0]["rule"] == "step_order"
        household_now = (await http.get(f"/v1/households/{poor_household}", headers=cadre())).json()
        assert household_now["poverty_status"] == "not_lifted"
        # The case is closed: a new one may be proposed later.
        anew = await http.post("/v1/exit-cases", headers=cadre(), json={"household_id": poor_household})
        assert anew.status_code == 201
        withdrawn = await http.post(
            f"/v1/exit-cases/{anew.json()['id']}/withdraw", headers=cadre(), json={"reason": "暂缓"}
        )
        assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "stopped"
    types = [e.type.split(".")[-2] for e in await published(registry, poor_household) if ".exit." in e.type]
    assert types.count("stopped") == 2


async def test_steps_are_scoped_by_role_and_region_and_free_text_is_masked(registry, poor_household):
    http = registry.http
    with days_later(registry, 0):
        # A household does not propose; a cadre of another township's village cannot see the household.
        assert (
            await http.post(
                "/v1/exit-cases",
                headers=auth("household", VILLAGE, household_id=poor_household),
                json={"household_id": poor_household},
            )
        ).status_code == 403
        outsider = auth("village_cadre", OTHER_TOWNSHIP + "201")
        assert (
            await http.post("/v1/exit-cases", headers=outsider, json={"household_id": poor_household})
        ).status_code == 404
        case = (
            await http.post("/v1/exit-cases", headers=cadre(), json={"household_id": poor_household, "reason": "张三"})
        ).json()
        base = f"/v1/exit-cases/{case['id']}"
        assert (await http.get(base, headers=outsider)).status_code == 404
        assert (
            await http.post(f"{base}/approve", headers=auth("township_officer", OTHER_TOWNSHIP), json={})
        ).status_code == 404
        assert (await http.post(f"{base}/approve", headers=cadre(), json={})).status_code == 403
        # Another household may not object to this one's case (it cannot see it).
        other = auth("household", VILLAGE, household_id="someone-else")
        assert (await http.post(f"{base}/objections", headers=other, json={"summary": "x"})).status_code == 404
        # A provincial system reads the case with free text withheld.
        seen = (await http.get(base, headers=auth("provincial_system", "22"))).json()
        assert seen["steps"][0]["reason"] == "***" and seen["personal_data"] == "masked"
        listed = (await http.get("/v1/exit-cases", headers=township(), params={"status": "proposed"})).json()
        assert case["id"] in [c["id"] for c in listed["items"]]
        mine = (
            await http.get("/v1/exit-cases", headers=auth("household", VILLAGE, household_id=poor_household))
        ).json()
        assert [c["id"] for c in mine["items"]] == [case["id"]]


async def test_the_status_leaves_the_register_only_through_a_case_or_an_audited_correction(registry, poor_household):
    http = registry.http
    status = f"/v1/households/{poor_household}/status"
    direct = await http.post(status, headers=cadre(), json={"poverty_status": "lifted"})
    assert direct.status_code == 422 and direct.json()["errors"][0]["rule"] == "exit_workflow"
    by_township = await http.post(
        status, headers=township(), json={"poverty_status": "lifted", "correction": True, "reason": "录入错误"}
    )
    assert by_township.status_code == 403
    unexplained = await http.post(
        status, headers=auth("county_operator", COUNTY), json={"poverty_status": "lifted", "correction": True}
    )
    assert unexplained.status_code == 422 and unexplained.json()["errors"][0]["field"] == "reason"
    corrected = await http.post(
        status,
        headers=auth("county_operator", COUNTY, subject="county-fix"),
        json={"poverty_status": "lifted", "correction": True, "reason": "2025年已脱贫，系统录入错误"},
    )
    assert corrected.status_code == 200 and corrected.json()["exited_on"] is None
    history = (await http.get(f"/v1/households/{poor_household}/history", headers=cadre())).json()["changes"]
    assert history[-1]["change"] == "status_corrected" and history[-1]["actor"] == "county-fix"
    event = (await published(registry, poor_household))[-1]
    assert event.type.endswith("registry.household.status_changed.v1") and event.data["correction"] is True
    # A lifted household is not registered poor: no exit case for it.
    refused = await http.post("/v1/exit-cases", headers=cadre(), json={"household_id": poor_household})
    assert refused.status_code == 422 and refused.json()["errors"][0]["rule"] == "registered_poor"


async def _settle(services, bus) -> None:
    for _ in range(3):
        for service in services.values():
            await service.runtime.relay.publish_pending()
        await bus.drain()


async def test_an_exit_ends_no_entitlement_by_itself(databases):
    """A registered-poor household whose severely disabled member is included as a single person (a rule
    for the registered poor only) exits: eligibility decides again on the exit event, the policies
    continue (摘帽不摘政策), the entitlement stays, and the explanation shows the exit date."""
    from tests.conftest import whole_system

    async with whole_system(
        databases, DAY0 + timedelta(days=10), names=("registry", "eligibility", "disbursement")
    ) as (
        services,
        bus,
    ):
        registry = services["registry"]
        county = auth("county_operator", COUNTY)
        with days_later(registry, 0):
            for code, name, level in ((TOWNSHIP, "测试镇", "township"), (VILLAGE, "测试村", "village")):
                await registry.http.post(
                    "/v1/regions", headers=county, json={"code": code, "name": name, "level": level}
                )
            created = await registry.http.post(
                "/v1/households",
                headers=county,
                json=household(
                    VILLAGE,
                    members=[
                        member(),
                        member("child", id_number=id_number(sex="female"), labour_capacity="none", disability_grade=1),
                    ],
                    incomes=[
                        {"type": "wages", "amount_fen": 300_000, "period": "month", "effective_from": "2026-01-01"}
                    ],
                ),
            )
            assert created.status_code == 201, created.text
            household_id = created.json()["id"]
            await _settle(services, bus)
            decisions = f"/v1/households/{household_id}/decisions"
            granted = (await services["eligibility"].http.get(decisions, headers=county)).json()["items"]
            [single] = [d for d in granted if d["programme"] == "dibao" and d["status"] == "eligible"]
            assert single["scope"] == "single_person"
            case = await registry.http.post("/v1/exit-cases", headers=cadre(), json={"household_id": household_id})
            base = f"/v1/exit-cases/{case.json()['id']}"
            await registry.http.post(
                f"{base}/appraisal",
                headers=cadre(),
                json={"meeting_date": "2026-09-01", "record_ref": "R-9", "household_consents": True},
            )
            assert (await registry.http.post(f"{base}/notice", headers=cadre(), json={})).status_code == 200
        with days_later(registry, 10):
            assert (await registry.http.post(f"{base}/approve", headers=township(), json={})).status_code == 200
            assert (await registry.http.post(f"{base}/announce", headers=township(), json={})).status_code == 200
        await _settle(services, bus)

        after = (await services["eligibility"].http.get(decisions, headers=county)).json()["items"]
        [still] = [d for d in after if d["programme"] == "dibao" and d["status"] == "eligible"]
        # The exit changed nothing: the decision in force is the same one.
        assert still["id"] == single["id"]
        # The next change to the household is decided with the exit in view: the explanation shows its date.
        member_b = created.json()["members"][1]["id"]
        with days_later(registry, 12):
            income = await registry.http.post(
                f"/v1/households/{household_id}/incomes",
                headers=county,
                json={
                    "member_id": member_b,
                    "type": "transfer",
                    "amount_fen": 5_000,
                    "period": "month",
                    "effective_from": "2026-09-01",
                },
            )
            assert income.status_code == 201, income.text
        await _settle(services, bus)
        latest = (await services["eligibility"].http.get(decisions, headers=county)).json()["items"]
        [changed] = [d for d in latest if d["programme"] == "dibao" and d["status"] == "eligible"]
        assert (
            changed["scope"] == "single_person"
            and changed["monthly_amount_fen"] == single["monthly_amount_fen"] - 5_000
        )
        explained = (await services["eligibility"].http.get(f"/v1/decisions/{changed['id']}", headers=county)).json()
        rules = {r["rule"]: r for r in explained["explanation"]["rules"]}
        assert rules["registry.exit_policy_continuation"]["inputs"]["exited_on"] == "2026-09-11"
        assert rules["registry.exit_policy_continuation"]["outcome"] is True
        entitlements = (
            await services["disbursement"].http.get(f"/v1/households/{household_id}/entitlements", headers=county)
        ).json()["items"]
        assert [e["status"] for e in entitlements if e["programme"] == "dibao"] == ["active"]
