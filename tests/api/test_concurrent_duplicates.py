"""Identical requests at the same moment, on both back ends: for every endpoint that creates something
unique (a payment run, an aid approval, a top-up under one key, a relief case, an exit case, a household,
a subscription, a report), N requests fired at once, with one shared Idempotency-Key and without one. Exactly
one effect; every other answer is a replay of the first or a 4xx problem naming what exists; never a 500."""

from __future__ import annotations

import asyncio
import itertools
import uuid

import pytest

from tests.api.test_aid import apply_and_review, register, standards_from_eligibility, top_up
from tests.api.test_payments import entitle, fund
from tests.conftest import auth
from tests.factories import announce_household, household, id_number, member

N = 8
COUNTY = "220122"
FRESH_COUNTIES = (f"22{n:04d}" for n in itertools.count(9501))
FRESH_TOWNSHIPS = (f"{COUNTY}{n:03d}" for n in itertools.count(900))
__all__ = ["standards_from_eligibility"]  # test_aid's fixture: temporary aid reads eligibility's standard


async def at_once(http, method: str, url: str, key: str | None = None, **request):
    """N identical requests in flight together; every answer checked for what any answer may be."""
    headers = dict(request.pop("headers", {}))
    if key:
        headers["Idempotency-Key"] = key
    answers = await asyncio.gather(*(http.request(method, url, headers=headers, **request) for _ in range(N)))
    for answer in answers:
        assert answer.status_code < 500, answer.text
        if answer.status_code >= 400:
            assert answer.headers["content-type"].startswith("application/problem+json"), answer.text
    return answers


def successes(answers) -> list:
    return [a for a in answers if a.status_code < 300]


def one_effect_under_a_key(answers) -> None:
    """With one key: every success is the first's answer (replayed); the rest were told to retry."""
    done = successes(answers)
    assert done, [a.text for a in answers]
    assert len({a.text for a in done}) == 1, [a.text for a in done]
    assert sum(1 for a in done if a.headers.get("Idempotent-Replayed") != "true") == 1
    for answer in answers:
        if answer.status_code >= 300:
            assert answer.status_code == 409 and answer.json()["type"].endswith("request-in-progress"), answer.text


@pytest.fixture(autouse=True)
async def well_behaved_bank(bank):
    await bank.configure()
    yield
    await bank.configure()


@pytest.mark.parametrize("keyed", [False, True], ids=["no-key", "one-key"])
async def test_payment_runs(paying, bank, keyed):
    county = next(FRESH_COUNTIES)
    await entitle(paying, county, [10_000, 20_000])
    await fund(paying, county, 100_000)
    await bank.configure(hold_response_ms=1_500)  # the run stays in progress while the duplicates arrive
    answers = await at_once(
        paying.http,
        "POST",
        "/v1/payment-runs",
        f"run-{county}" if keyed else None,
        json={"region_code": county, "month": "2026-11"},
        headers=auth("county_operator", county),
    )
    runs = (await paying.http.get("/v1/payment-runs", headers=auth("county_operator", county))).json()["items"]
    assert len(runs) == 1, runs
    if keyed:
        one_effect_under_a_key(answers)
        return
    assert [a.status_code for a in answers].count(202) == 1
    for refused in (a for a in answers if a.status_code != 202):
        assert refused.status_code == 409, refused.text
        assert refused.json()["existing_run"] == runs[0]["id"]
        assert refused.json()["errors"][0]["rule"] == "one_active_run"
        assert refused.headers["Location"] == f"/v1/payment-runs/{runs[0]['id']}"


@pytest.mark.parametrize("keyed", [False, True], ids=["no-key", "one-key"])
async def test_aid_approvals(paying, keyed):
    township = next(FRESH_TOWNSHIPS)
    await top_up(paying, township, 1_000_000)
    reviewed = await apply_and_review(paying, township, await register(paying, township))
    answers = await at_once(
        paying.http,
        "POST",
        f"/v1/aid-applications/{reviewed['id']}/approve",
        f"approve-{reviewed['id']}" if keyed else None,
        json={"reason": "同意"},
        headers=auth("township_officer", township),
    )
    if keyed:
        one_effect_under_a_key(answers)
    else:
        assert [a.status_code for a in answers].count(200) == 1, [a.text for a in answers]
        assert all(a.status_code == 409 for a in answers if a.status_code != 200)
    view = (
        await paying.http.get(f"/v1/aid-applications/{reviewed['id']}", headers=auth("township_officer", township))
    ).json()
    assert [s["step"] for s in view["steps"]].count("approved") == 1
    assert len(view["payments"]) == 1
    fund = (await paying.http.get(f"/v1/reserve-funds/{township}", headers=auth("county_operator", COUNTY))).json()
    assert fund["reserved_fen"] + fund["paid_out_fen"] == view["approved_amount_fen"]


@pytest.mark.parametrize("kind", ["reserve-funds", "county-funds", "relief-funds"])
async def test_top_ups_under_one_key(paying, kind):
    """A top-up has no natural uniqueness (two top-ups are two): the key is what makes a retry one."""
    region = next(FRESH_TOWNSHIPS) if kind == "reserve-funds" else next(FRESH_COUNTIES)
    answers = await at_once(
        paying.http,
        "POST",
        f"/v1/{kind}/{region}/top-ups",
        f"top-up-{kind}-{region}",
        json={"amount_fen": 12_345},
        headers=auth("province_operator"),
    )
    one_effect_under_a_key(answers)
    fund = (await paying.http.get(f"/v1/{kind}/{region}", headers=auth("province_operator"))).json()
    assert fund["balance_fen"] == 12_345, fund


async def test_relief_cases_under_one_key(paying):
    from tests.api.test_authorization_sweep import relief_case

    village = f"{COUNTY}101201"
    household_id = await announce_household(paying.runtime, village)
    answers = await at_once(
        paying.http,
        "POST",
        "/v1/relief-cases",
        f"relief-{household_id}",
        json=relief_case(household_id),
        headers=auth("village_cadre", COUNTY),
    )
    one_effect_under_a_key(answers)
    listed = (await paying.http.get("/v1/relief-cases", headers=auth("county_operator", COUNTY))).json()["items"]
    assert sum(1 for c in listed if any(line["household_id"] == household_id for line in c["lines"])) == 1


@pytest.mark.parametrize("keyed", [False, True], ids=["no-key", "one-key"])
async def test_exit_cases(registry, keyed):
    county = auth("county_operator", COUNTY)
    created = await registry.http.post("/v1/households", json=household(COUNTY), headers=county)
    household_id = created.json()["id"]
    answers = await at_once(
        registry.http,
        "POST",
        "/v1/exit-cases",
        f"exit-{household_id}" if keyed else None,
        json={"household_id": household_id},
        headers=county,
    )
    if keyed:
        one_effect_under_a_key(answers)
    else:
        assert [a.status_code for a in answers].count(201) == 1, [a.text for a in answers]
        for refused in (a for a in answers if a.status_code != 201):
            assert refused.status_code == 409 and refused.json()["errors"][0]["rule"] == "one_open_case"


@pytest.mark.parametrize("keyed", [False, True], ids=["no-key", "one-key"])
async def test_households_with_one_external_ref_or_one_person(registry, keyed):
    tag = uuid.uuid4().hex[:8]
    body = household(COUNTY, external_ref=f"same-{tag}", members=[member(id_number=id_number())])
    answers = await at_once(
        registry.http,
        "POST",
        "/v1/households",
        f"household-{tag}" if keyed else None,
        json=body,
        headers=auth("provincial_system", "22"),
    )
    if keyed:
        one_effect_under_a_key(answers)
    else:
        assert [a.status_code for a in answers].count(201) == 1, [a.text for a in answers]
        assert all(a.status_code in (409, 422) for a in answers if a.status_code != 201)
    listed = (
        await registry.http.get("/v1/households", params={"limit": 500}, headers=auth("province_operator"))
    ).json()["items"]
    assert sum(1 for h in listed if h.get("external_ref") == f"same-{tag}") == 1


async def test_subscriptions_under_one_key(notifications):
    system = auth("provincial_system", COUNTY, subject=f"dup-{uuid.uuid4().hex[:6]}")
    answers = await at_once(
        notifications.http,
        "POST",
        "/v1/subscriptions",
        "subscribe-once",
        json={"url": "http://127.0.0.1:9/hook", "event_types": ["*"], "region_code": COUNTY},
        headers=system,
    )
    one_effect_under_a_key(answers)
    mine = (await notifications.http.get("/v1/subscriptions", headers=system)).json()["items"]
    assert len(mine) == 1, mine


@pytest.mark.parametrize("keyed", [False, True], ids=["no-key", "one-key"])
async def test_reports(notifications, keyed):
    """Making a report again makes its next version (by design): without a key, each success is a version
    of its own and a version is never made twice; with one, a single version."""
    region = next(FRESH_COUNTIES)
    county = auth("county_operator", region)
    answers = await at_once(
        notifications.http,
        "POST",
        "/v1/reports",
        f"report-{region}" if keyed else None,
        json={"kind": "quarterly", "period": "2026-Q2", "region_code": region},
        headers=county,
    )
    reports = (await notifications.http.get("/v1/reports", params={"region_code": region}, headers=county)).json()[
        "items"
    ]
    if keyed:
        one_effect_under_a_key(answers)
        assert len(reports) == 1, reports
        return
    made = successes(answers)
    assert made and all(a.status_code == 409 for a in answers if a.status_code >= 300)
    assert sorted(r["id"] for r in reports) == sorted(a.json()["id"] for a in made)
    assert len({r["version"] for r in reports}) == len(reports), reports
