"""Temporary aid on PostgreSQL, paid through the bank simulator: the same-day flow from application to
paid and filed, the fast-track amount from eligibility's urban dibao standard, the county's cases, two
approvals racing for a reserve fund's last money, the deadline watch, and bad input refused with
nothing written."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from services.disbursement.adapters.standards import StandardsClient
from services.disbursement.adapters.uow import DisbursementUnitOfWork
from services.disbursement.domain.aid import monthly_standard_fen
from services.disbursement.service_layer import aid
from tests.conftest import auth, published, token
from tests.factories import announce_household

COUNTY = "220122"
FRESH_TOWNSHIPS = (f"{COUNTY}{n:03d}" for n in itertools.count(950))


@pytest.fixture(scope="module", autouse=True)
async def standards_from_eligibility(paying, eligibility):
    """The disbursement service reads the urban dibao standard from the real eligibility service."""
    paying.runtime.caches["standards"] = StandardsClient(
        "http://eligibility",
        token("service", "22"),
        transport=httpx.ASGITransport(app=eligibility.app),
    )
    yield


@pytest.fixture(autouse=True)
async def well_behaved_bank(bank):
    await bank.configure()
    yield


async def register(paying, township: str, members: int = 3) -> str:
    """A household of the township's village 201, as the registry's event announces it."""
    return await announce_household(paying.runtime, f"{township}201", members)


async def top_up(paying, township: str, amount_fen: int) -> None:
    response = await paying.http.post(
        f"/v1/reserve-funds/{township}/top-ups",
        json={"amount_fen": amount_fen},
        headers=auth("county_operator", COUNTY),
    )
    assert response.status_code == 201, response.text


def application(household_id: str, **overrides) -> dict:
    return {
        "household_id": household_id,
        "kind": "emergency",
        "cause": "epidemic",
        "requested_amount_fen": 80_000,
        "fast_track": False,
        "commitment": "本人承诺所报情况属实",
        "evidence": ["photo:hospital-bill-1"],
    } | overrides


async def apply_and_review(paying, township: str, household_id: str, **overrides) -> dict:
    submitted = await paying.http.post(
        "/v1/aid-applications",
        json=application(household_id, **overrides),
        headers=auth("household", township, household_id=household_id),
    )
    assert submitted.status_code == 201, submitted.text
    reviewed = await paying.http.post(
        f"/v1/aid-applications/{submitted.json()['id']}/review",
        json={"reason": "村评议通过"},
        headers=auth("village_cadre", township),
    )
    assert reviewed.status_code == 200, reviewed.text
    return reviewed.json()


async def until_status(paying, application_id: str, township: str, status: str) -> dict:
    for _ in range(200):
        found = (
            await paying.http.get(f"/v1/aid-applications/{application_id}", headers=auth("township_officer", township))
        ).json()
        if found["status"] == status:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"application {application_id} still {found['status']}")


async def reserve(paying, township: str) -> dict:
    return (await paying.http.get(f"/v1/reserve-funds/{township}", headers=auth("county_operator", COUNTY))).json()


async def test_a_same_day_epidemic_case_goes_from_application_to_paid_and_filed(paying):
    township = next(FRESH_TOWNSHIPS)
    household_id = await register(paying, township)
    await top_up(paying, township, 1_000_000)
    reviewed = await apply_and_review(paying, township, household_id)

    approved = await paying.http.post(
        f"/v1/aid-applications/{reviewed['id']}/approve",
        json={"reason": "乡镇审批同意"},
        headers=auth("township_officer", township),
    )
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert (body["status"], body["approved_amount_fen"], body["approval_level"]) == ("approved", 80_000, "township")
    deadline = datetime.fromisoformat(body["deadline"])
    assert deadline.astimezone(UTC) > datetime.now(UTC)
    local = deadline.astimezone(ZoneInfo("Asia/Shanghai"))
    assert (local.hour, local.minute, local.second) == (23, 59, 59)
    assert local.date() == datetime.now(ZoneInfo("Asia/Shanghai")).date()
    assert {s["section"] for s in body["decision"]["sources"]} >= {"二(五)", "二(三)"}

    paid = await until_status(paying, reviewed["id"], township, "paid")
    assert paid["payments"][0]["status"] == "paid"
    filed = await paying.http.post(
        f"/v1/aid-applications/{reviewed['id']}/file",
        json={"reason": "县级备案"},
        headers=auth("county_operator", COUNTY),
    )
    assert filed.status_code == 200, filed.text
    # (Run late in the local day, the watch may also have warned that the deadline was near.)
    steps = [s["step"] for s in filed.json()["steps"] if not s["step"].startswith("deadline_")]
    assert steps == ["submitted", "reviewed", "approved", "paid", "filed"]
    fund = await reserve(paying, township)
    assert (fund["balance_fen"], fund["reserved_fen"], fund["paid_out_fen"]) == (920_000, 0, 80_000)

    # The household sees its own application; another household does not.
    mine = await paying.http.get(
        f"/v1/aid-applications/{reviewed['id']}", headers=auth("household", township, household_id=household_id)
    )
    assert mine.status_code == 200
    other = await paying.http.get(
        f"/v1/aid-applications/{reviewed['id']}", headers=auth("household", township, household_id="another")
    )
    assert other.status_code == 404
    aid_events = [e for e in await published(paying, household_id) if e.topic == "disbursement.aid"]
    kinds = [e.type.split(".")[-2] for e in aid_events]
    assert [k for k in kinds if not k.startswith("deadline_")] == ["submitted", "reviewed", "approved", "paid", "filed"]
    assert "deadline_missed" not in kinds
    # The steps' reasons are free text: in the application's steps, never in an event.
    assert all(e.data["reason"] is None for e in aid_events) and "村评议通过" not in str([e.data for e in aid_events])


async def test_fast_track_pays_one_month_of_the_urban_standard_for_each_member(paying, eligibility):
    township = next(FRESH_TOWNSHIPS)
    household_id = await register(paying, township, members=4)
    await top_up(paying, township, 1_000_000)
    reviewed = await apply_and_review(
        paying, township, household_id, fast_track=True, cause="illness", requested_amount_fen=0
    )
    approved = await paying.http.post(
        f"/v1/aid-applications/{reviewed['id']}/approve",
        json={"reason": "特事特办"},
        headers=auth("township_officer", township),
    )
    assert approved.status_code == 200, approved.text
    today = paying.runtime.today().isoformat()
    [standard] = (
        await eligibility.http.get(
            "/v1/standards",
            params={"region_code": f"{township}201", "category": "urban_dibao", "as_of": today},
            headers=auth("county_operator", COUNTY),
        )
    ).json()["items"]
    annual = int(standard["value"]) * (12 if standard["period"] == "month" else 1)
    assert approved.json()["approved_amount_fen"] == 4 * monthly_standard_fen(annual)
    assert approved.json()["decision"]["members"] == 4
    assert "二(七)" in {s["section"] for s in approved.json()["decision"]["sources"]}
    assert approved.json()["deadline"] is not None  # every fast-track case is same-day
    await until_status(paying, reviewed["id"], township, "paid")


async def test_a_case_over_the_township_cap_is_recognised_by_the_township_and_approved_by_the_county(paying):
    township = next(FRESH_TOWNSHIPS)
    household_id = await register(paying, township, members=1)
    await top_up(paying, township, 10_000_000)
    reviewed = await apply_and_review(
        paying, township, household_id, cause="accident", kind="expense", requested_amount_fen=5_000_000
    )
    recognised = await paying.http.post(
        f"/v1/aid-applications/{reviewed['id']}/approve",
        json={"reason": "乡镇认定"},
        headers=auth("township_officer", township),
    )
    assert recognised.status_code == 200, recognised.text
    assert (recognised.json()["status"], recognised.json()["approval_level"]) == ("reviewed", "county")
    assert (await reserve(paying, township))["reserved_fen"] == 0  # nothing reserved before the county approves
    again = await paying.http.post(
        f"/v1/aid-applications/{reviewed['id']}/approve",
        json={"reason": "x"},
        headers=auth("township_officer", township),
    )
    assert again.status_code == 409  # the county's turn now
    approved = await paying.http.post(
        f"/v1/aid-applications/{reviewed['id']}/approve",
        json={"reason": "县级核准"},
        headers=auth("county_operator", COUNTY),
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["deadline"] is None  # an accident is not a same-day case
    await until_status(paying, reviewed["id"], township, "paid")


async def test_two_approvals_racing_for_the_last_money_one_succeeds_and_the_fund_never_goes_negative(paying):
    township = next(FRESH_TOWNSHIPS)
    await top_up(paying, township, 50_000)
    first = await apply_and_review(paying, township, await register(paying, township), requested_amount_fen=30_000)
    second = await apply_and_review(paying, township, await register(paying, township), requested_amount_fen=30_000)
    answers = await asyncio.gather(
        *(
            paying.http.post(
                f"/v1/aid-applications/{a['id']}/approve",
                json={"reason": "同意"},
                headers=auth("township_officer", township),
            )
            for a in (first, second)
        )
    )
    assert sorted(a.status_code for a in answers) == [200, 409]
    refused = next(a for a in answers if a.status_code == 409)
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["errors"][0]["rule"] == "exceeds_credits"
    fund = await reserve(paying, township)
    assert fund["balance_fen"] == 20_000 and fund["balance_fen"] >= 0
    low = [e for e in await published(paying, township) if e.type.split(".")[-2] == "low_balance"]
    assert len(low) == 1 and low[0].data["balance_fen"] == 20_000


async def test_the_deadline_watch_warns_once_at_risk_and_once_when_missed(paying, bank):
    township = next(FRESH_TOWNSHIPS)
    household_id = await register(paying, township)
    await top_up(paying, township, 1_000_000)
    await bank.configure(reject_rate=1.0)  # the bank refuses: the approved case stays unpaid
    reviewed = await apply_and_review(paying, township, household_id)
    approved = await paying.http.post(
        f"/v1/aid-applications/{reviewed['id']}/approve",
        json={"reason": "同意"},
        headers=auth("township_officer", township),
    )
    deadline = datetime.fromisoformat(approved.json()["deadline"])
    for now in (deadline - timedelta(hours=3), deadline - timedelta(hours=1), deadline - timedelta(minutes=30)):
        await aid.check_deadlines(paying.runtime, now)
    await aid.check_deadlines(paying.runtime, deadline + timedelta(seconds=1))
    await aid.check_deadlines(paying.runtime, deadline + timedelta(hours=1))
    kinds = [e.type.split(".")[-2] for e in await published(paying, household_id) if e.topic == "disbursement.aid"]
    assert kinds.count("deadline_at_risk") == 1 and kinds.count("deadline_missed") == 1

    # Withdrawn after the bank refused the payment: the reservation is released.
    for _ in range(100):
        found = (
            await paying.http.get(f"/v1/aid-applications/{reviewed['id']}", headers=auth("township_officer", township))
        ).json()
        if found["payments"][0]["status"] == "rejected":
            break
        await asyncio.sleep(0.05)
    withdrawn = await paying.http.post(
        f"/v1/aid-applications/{reviewed['id']}/reject",
        json={"reason": "撤回"},
        headers=auth("township_officer", township),
    )
    assert withdrawn.status_code == 200, withdrawn.text
    assert (await reserve(paying, township))["balance_fen"] == 1_000_000


async def test_bad_input_and_missing_authority_are_refused_with_nothing_written(paying):
    township = next(FRESH_TOWNSHIPS)
    household_id = await register(paying, township)
    operator = auth("township_officer", township)
    negative = await paying.http.post(
        "/v1/aid-applications", json=application(household_id, requested_amount_fen=-1), headers=operator
    )
    assert negative.status_code == 422 and negative.json()["errors"][0]["field"].endswith("requested_amount_fen")
    unknown = await paying.http.post("/v1/aid-applications", json=application("no-such-household"), headers=operator)
    assert unknown.status_code == 404 and unknown.json()["errors"][0]["rule"] == "unknown_household"
    for response in (negative, unknown):
        assert response.headers["content-type"] == "application/problem+json"
    nothing = await paying.http.get(f"/v1/households/{household_id}/aid-applications", headers=operator)
    assert nothing.status_code == 404

    reviewed = await apply_and_review(paying, township, household_id)
    for headers, expected in (
        (auth("village_cadre", township), 403),  # the village reviews, it does not approve
        (auth("auditor", township), 403),  # an auditor reads, never writes
        (auth("household", township, household_id=household_id), 403),
        (auth("township_officer", f"{COUNTY}999"), 404),  # another township's officer
    ):
        response = await paying.http.post(
            f"/v1/aid-applications/{reviewed['id']}/approve", json={"reason": "x"}, headers=headers
        )
        assert response.status_code == expected, (headers, response.text)
    still = await paying.http.get(f"/v1/aid-applications/{reviewed['id']}", headers=operator)
    assert still.json()["status"] == "reviewed" and [s["step"] for s in still.json()["steps"]] == [
        "submitted",
        "reviewed",
    ]


async def test_a_household_registered_above_township_level_cannot_be_paid_from_a_reserve_fund(paying):
    household_id = await register(paying, next(FRESH_TOWNSHIPS))
    # Then recorded again at county level only (the registry allows a household without its township).
    async with DisbursementUnitOfWork(paying.runtime) as uow:
        await uow.households.record(
            [{"household_id": household_id, "region_code": COUNTY, "active_members": 2, "version": 2}]
        )
        await uow.commit()
    reviewed = await apply_and_review(paying, COUNTY, household_id)
    refused = await paying.http.post(
        f"/v1/aid-applications/{reviewed['id']}/approve", json={"reason": "x"}, headers=auth("township_officer", COUNTY)
    )
    assert refused.status_code == 422 and refused.json()["errors"][0]["rule"] == "township_required"
