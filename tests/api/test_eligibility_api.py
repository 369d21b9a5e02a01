"""The eligibility HTTP contract: dry-run evaluations, standards and their floors, scope."""

from __future__ import annotations

from tests.conftest import auth

PROVINCE = auth("province_operator", "22")
SYSTEM = auth("provincial_system", "22")


def dry_run(**household):
    body = {
        "region_code": "220122",
        "registered_poor_status": "not_lifted",
        "members": [
            {
                "id": "a",
                "birth_date": "1958-03-02",
                "labour_capacity": "partial",
                "disability_grade": None,
                "serious_illness": False,
                "self_care": "full",
                "has_legal_supporter": True,
            },
            {
                "id": "b",
                "birth_date": "1960-07-09",
                "labour_capacity": "none",
                "disability_grade": 1,
                "serious_illness": False,
                "self_care": "partial",
                "has_legal_supporter": True,
            },
        ],
        "incomes": [
            {"member_id": "a", "type": "agriculture", "annual_amount_fen": 300_000},
            {"member_id": "a", "type": "basic_pension", "annual_amount_fen": 123_600},
        ],
        "expenses": [{"type": "medical_self_paid", "annual_amount_fen": 200_000}],
        "assets_meet_local_rule": True,
    }
    body.update(household)
    return body


async def test_dry_run_contract(eligibility):
    response = await eligibility.http.post(
        "/v1/evaluations", headers=SYSTEM, json={"as_of": "2021-06-01", "household": dry_run(), "prior_state": None}
    )
    assert response.status_code == 200, response.text
    decisions = response.json()["decisions"]
    dibao = [d for d in decisions if d["programme"] == "dibao"][0]
    # 2021 demo standard for 220122 is 420,000 fen; two people: 840,000; counted 300,000 (pension excluded).
    assert dibao["status"] == "eligible" and dibao["scope"] == "household"
    assert dibao["monthly_amount_fen"] == 45_000
    assert {"programme", "status", "scope", "monthly_amount_fen", "valid_from", "valid_until", "explanation"} <= set(
        dibao
    )
    explanation = dibao["explanation"]
    assert explanation["engine_version"] and explanation["rule_set_hash"]
    standard = [p for p in explanation["parameters"] if p["key"] == "rural_dibao"][0]
    assert standard["value"] == "420000" and standard["effective_from"] == "2021-01-01" and standard["legal_ref"]
    assert [r for r in explanation["rules"] if r["rule"] == "income.count"][0]["inputs"]["excluded_fen"] == 123_600
    assert "差额救助" in explanation["summary_zh"]
    subsidies = sorted(d["programme"] for d in decisions if d["programme"] != "dibao")
    assert subsidies == ["disability_living_subsidy", "severe_disability_care_subsidy"]


async def test_dry_run_with_prior_gradual_exit(eligibility):
    response = await eligibility.http.post(
        "/v1/evaluations",
        headers=SYSTEM,
        json={
            "as_of": "2021-06-01",
            "household": dry_run(
                incomes=[{"member_id": "a", "type": "wages", "annual_amount_fen": 900_000}], expenses=[]
            ),
            "prior_state": {
                "dibao": {
                    "status": "gradual_exit",
                    "since": "2019-01-01",
                    "gradual_exit_started": "2021-01-01",
                    "monthly_amount_fen": 20_000,
                }
            },
        },
    )
    dibao = [d for d in response.json()["decisions"] if d["programme"] == "dibao"][0]
    assert dibao["status"] == "gradual_exit"
    assert dibao["valid_until"] == "2022-12-31"  # 24 months: a member is disabled


async def test_dry_run_bad_input_is_a_problem(eligibility):
    bad = await eligibility.http.post(
        "/v1/evaluations", headers=SYSTEM, json={"as_of": "2021-06-01", "household": dry_run(members=[])}
    )
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
    assert bad.json()["errors"][0]["field"] == "household.members"
    money = await eligibility.http.post(
        "/v1/evaluations",
        headers=SYSTEM,
        json={"as_of": "2021-06-01", "household": dry_run(incomes=[{"type": "wages", "annual_amount_fen": 10.5}])},
    )
    assert money.status_code == 422
    early = await eligibility.http.post(
        "/v1/evaluations", headers=SYSTEM, json={"as_of": "2010-01-01", "household": dry_run()}
    )
    assert early.status_code == 422 and early.json()["errors"][0]["rule"] == "parameters_in_force"
    assert (await eligibility.http.post("/v1/evaluations", json={})).status_code == 401


async def test_standard_below_floor_is_refused_naming_floor_and_source(eligibility):
    below_4000 = await eligibility.http.post(
        "/v1/standards",
        headers=PROVINCE,
        json={
            "region_code": "220122",
            "category": "rural_dibao",
            "effective_from": "2022-01-01",
            "amount_fen": 399_999,
            "period": "year",
            "legal_ref": "test",
        },
    )
    assert below_4000.status_code == 422
    error = below_4000.json()["errors"][0]
    assert error["rule"] == "policy_floor" and error["floor"] == "400000 fen/year"
    assert error["source"]["document"] == "003_72d0dea92e7acbbd.txt" and error["source"]["section"] == "二(一)"
    monthly = await eligibility.http.post(
        "/v1/standards",
        headers=PROVINCE,
        json={
            "region_code": "220122",
            "category": "rural_dibao",
            "effective_from": "2022-01-01",
            "amount_fen": 33_000,
            "period": "month",
            "legal_ref": "test",
        },
    )  # 3,960 yuan a year
    assert monthly.status_code == 422
    below_30 = await eligibility.http.post(
        "/v1/standards",
        headers=PROVINCE,
        json={
            "region_code": "220122",
            "category": "rural_dibao",
            "effective_from": "2016-07-01",
            "amount_fen": 330_000,
            "period": "year",
            "legal_ref": "test",
        },
    )
    assert (
        below_30.status_code == 422 and below_30.json()["errors"][0]["source"]["document"] == "002_a4831021df9f426c.txt"
    )
    poverty_line = await eligibility.http.post(
        "/v1/standards",
        headers=PROVINCE,
        json={
            "region_code": "220122",
            "category": "rural_dibao",
            "effective_from": "2017-07-01",
            "amount_fen": 299_000,
            "period": "year",
            "legal_ref": "test",
        },
    )  # 220122 reaches the line in 2016
    assert (
        poverty_line.status_code == 422
        and poverty_line.json()["errors"][0]["source"]["section"] == "第八章第一节、专栏6"
    )
    multiplier = await eligibility.http.post(
        "/v1/standards",
        headers=PROVINCE,
        json={
            "region_code": "22",
            "category": "special_poverty_multiplier",
            "effective_from": "2022-01-01",
            "value": "1.29",
            "legal_ref": "test",
        },
    )
    assert multiplier.status_code == 422
    missing = await eligibility.http.post(
        "/v1/standards",
        headers=PROVINCE,
        json={"region_code": "22", "category": "rural_dibao", "effective_from": "2022-01-01", "legal_ref": "test"},
    )
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "amount_fen"


async def test_standards_lookup_inherits_and_scope_is_enforced(eligibility):
    found = (
        await eligibility.http.get(
            "/v1/standards",
            headers=PROVINCE,
            params={"region_code": "220122101201", "category": "special_poverty_multiplier", "as_of": "2020-05-01"},
        )
    ).json()
    [item] = found["items"]
    assert item["region_code"] == "22" and item["value"] == "1.3"
    county = auth("county_operator", "220182")
    outside = await eligibility.http.post(
        "/v1/standards",
        headers=county,
        json={
            "region_code": "220122",
            "category": "rural_dibao",
            "effective_from": "2022-01-01",
            "amount_fen": 450_000,
            "period": "year",
            "legal_ref": "test",
        },
    )
    assert outside.status_code == 403
    cadre = await eligibility.http.post(
        "/v1/standards",
        headers=auth("village_cadre", "220182"),
        json={
            "region_code": "220182",
            "category": "rural_dibao",
            "effective_from": "2022-01-01",
            "amount_fen": 450_000,
            "period": "year",
            "legal_ref": "test",
        },
    )
    assert cadre.status_code == 403


async def test_recording_a_standard_starts_a_reevaluation_job(eligibility):
    import asyncio

    created = await eligibility.http.post(
        "/v1/standards",
        headers=PROVINCE,
        json={
            "region_code": "220581",
            "category": "rural_dibao",
            "effective_from": "2022-01-01",
            "amount_fen": 460_000,
            "period": "year",
            "legal_ref": "某市民发〔2021〕1号",
        },
    )
    assert created.status_code == 201, created.text
    job_id = created.json()["reevaluation_job_id"]
    for _ in range(100):
        job = (await eligibility.http.get(f"/v1/jobs/{job_id}", headers=PROVINCE)).json()
        if job["status"] == "done":
            break
        await asyncio.sleep(0.05)
    assert job["status"] == "done" and job["region_prefix"] == "220581"
    current = (
        await eligibility.http.get(
            "/v1/standards",
            headers=PROVINCE,
            params={"region_code": "220581", "category": "rural_dibao", "as_of": "2022-03-01"},
        )
    ).json()["items"][0]
    assert current["value"] == "460000" and current["legal_ref"] == "某市民发〔2021〕1号"


async def test_consumer_metrics_have_zero_samples_before_anything_happens(eligibility):
    text = (await eligibility.http.get("/metrics")).text
    assert 'dead_letters_total{group="eligibility",topic="registry.households"} 0.0' in text
    assert 'consumer_lag{group="eligibility",partition="0",topic="registry.households"} 0.0' in text
