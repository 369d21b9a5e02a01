"""Disaster relief (002 二(六) 三级联审、两榜公示): a village's list through the village's review and notice,
the township's review and notice, the county's approval, and payment of each household once from the
county's relief fund through the bank simulator, on PostgreSQL. Objections stop a notice's clock until the
level above rules; an upheld one strikes the household and sends the list back to review."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest

from services.disbursement.adapters.uow import DisbursementUnitOfWork
from services.disbursement.service_layer import relief
from shared.clock import business_day
from tests.conftest import auth, published
from tests.factories import announce_household

COUNTY = "220122"
VILLAGES = (f"{COUNTY}{n:03d}201" for n in itertools.count(850))
SUMMARY = "7月暴雨致王某某家房屋倒塌"  # free text naming a person: never in an event, withheld when masked


@pytest.fixture(autouse=True)
async def well_behaved_bank(bank):
    await bank.configure()
    yield


@contextlib.contextmanager
def days_later(paying, start: datetime, days: int):
    """The service's clock moved to `start` + days for the requests inside."""
    real = paying.runtime.clock
    paying.runtime.clock = lambda: start + timedelta(days=days)
    try:
        yield
    finally:
        paying.runtime.clock = real


def village(code: str) -> dict:
    return auth("village_cadre", code[:9], subject="cadre-relief")


def township(code: str) -> dict:
    return auth("township_officer", code[:9], subject="township-relief")


def county() -> dict:
    return auth("county_operator", COUNTY, subject="county-relief")


def case_body(village_code: str, lines: list[tuple[str, int]], occurred_on: str) -> dict:
    return {
        "region_code": village_code,
        "disaster": {"kind": "flood", "occurred_on": occurred_on, "summary": SUMMARY},
        "lines": [{"household_id": h, "amount_fen": amount, "needs": ["food", "shelter"]} for h, amount in lines],
        "reason": "村委会核灾",
    }


async def fund(paying) -> dict:
    return (await paying.http.get(f"/v1/relief-funds/{COUNTY}", headers=county())).json()


async def until_case(paying, case_id: str, status: str) -> dict:
    for _ in range(200):
        found = (await paying.http.get(f"/v1/relief-cases/{case_id}", headers=county())).json()
        if found["status"] == status:
            return found
        await asyncio.sleep(0.05)
    payments = [
        (await paying.http.get(f"/v1/payments/{line['payment_id']}", headers=county())).json()
        for line in found["lines"]
        if line["payment_id"]
    ]
    raise AssertionError(f"relief case {case_id} still {found['status']}; its payments: {payments}")


async def test_a_relief_case_passes_three_reviews_and_two_notices_and_pays_each_household_once(paying):
    code = next(VILLAGES)
    first, second, third = [await announce_household(paying.runtime, code) for _ in range(3)]
    elsewhere = await announce_household(paying.runtime, next(VILLAGES))
    # Seventeen days ago: the county approves today, on the real clock, so the bank accepts the signatures.
    start = datetime.now(UTC) - timedelta(days=17)
    day0 = business_day(start)
    http = paying.http

    with days_later(paying, start, 0):
        stranger = await http.post(
            "/v1/relief-cases", headers=village(code), json=case_body(code, [(elsewhere, 100)], str(day0))
        )
        assert stranger.status_code == 422, stranger.text
        assert stranger.json()["errors"][0] == stranger.json()["errors"][0] | {
            "field": "lines[0].household_id",
            "rule": "household_in_village",
        }
        twice = await http.post(
            "/v1/relief-cases", headers=village(code), json=case_body(code, [(first, 1), (first, 2)], str(day0))
        )
        assert twice.status_code == 422 and twice.json()["errors"][0]["rule"] == "unique_household"
        proposed = await http.post(
            "/v1/relief-cases",
            headers=village(code),
            json=case_body(code, [(first, 50_000), (second, 30_000), (third, 20_000)], str(day0 - timedelta(days=1))),
        )
        assert proposed.status_code == 201, proposed.text
        case = proposed.json()
        base = f"/v1/relief-cases/{case['id']}"
        assert case["status"] == "proposed" and case["total_fen"] == 100_000 and case["households"] == 3

        early = await http.post(f"{base}/notice", headers=village(code), json={})
        assert early.status_code == 409 and early.json()["errors"][0]["rule"] == "step_order"
        not_the_township = await http.post(
            f"{base}/review", headers=township(code), json={"meeting_date": str(day0), "record_ref": "x"}
        )
        # Admitted to review, but not yet: the first review is the village's (三级联审).
        assert not_the_township.status_code == 409 and not_the_township.json()["errors"][0]["rule"] == "acting_level"
        reviewed = await http.post(
            f"{base}/review", headers=village(code), json={"meeting_date": str(day0), "record_ref": "村评议记录"}
        )
        assert reviewed.status_code == 200 and reviewed.json()["reviews"][0]["level"] == "village"
        posted = await http.post(f"{base}/notice", headers=village(code), json={"days": 3})
        assert posted.status_code == 422 and posted.json()["errors"][0]["rule"] == "notice_minimum"
        posted = await http.post(f"{base}/notice", headers=village(code), json={})
        assert posted.status_code == 200, posted.text
        assert posted.json()["notice"]["place"] == "village"
        assert posted.json()["notice"]["ends_on"] == str(day0 + timedelta(days=7))

    with days_later(paying, start, 2):
        objected = await http.post(
            f"{base}/objections", headers=village(code), json={"summary": "有人反映其家未受灾", "household_id": third}
        )
        assert objected.status_code == 201, objected.text
        objection = objected.json()["notice"]["objections"][0]
        assert objected.json()["notice"]["ends_on"] is None  # the clock stands still
        by_the_village = await http.post(
            f"{base}/objections/{objection['id']}/ruling",
            headers=village(code),
            json={"ruling": "dismissed", "reason": "x"},
        )
        # The village cannot rule on its own notice: the township does.
        assert by_the_village.status_code == 403, by_the_village.text

    with days_later(paying, start, 4):
        ruled = await http.post(
            f"{base}/objections/{objection['id']}/ruling",
            headers=township(code),
            json={"ruling": "dismissed", "reason": "经核实确已受灾"},
        )
        assert ruled.status_code == 200, ruled.text
        assert ruled.json()["notice"]["ends_on"] == str(day0 + timedelta(days=9))  # two stopped days added

    with days_later(paying, start, 8):
        too_soon = await http.post(
            f"{base}/review",
            headers=township(code),
            json={"meeting_date": str(day0 + timedelta(days=8)), "record_ref": "x"},
        )
        assert too_soon.status_code == 409 and too_soon.json()["errors"][0]["rule"] == "notice_complete"

    with days_later(paying, start, 9):
        reviewed = await http.post(
            f"{base}/review",
            headers=township(code),
            json={
                "meeting_date": str(day0 + timedelta(days=9)),
                "record_ref": "乡镇审核〔2026〕3号",
                "amendments": [{"household_id": second, "amount_fen": 25_000}],
            },
        )
        assert reviewed.status_code == 200, reviewed.text
        assert reviewed.json()["status"] == "township_reviewed" and reviewed.json()["total_fen"] == 95_000
        second_notice = await http.post(f"{base}/notice", headers=township(code), json={})
        assert second_notice.status_code == 200 and second_notice.json()["notice"]["place"] == "township"

    with days_later(paying, start, 10):
        objected = await http.post(
            f"{base}/objections", headers=county(), json={"summary": "重复申报", "household_id": first}
        )
        objection = objected.json()["notice"]["objections"][0]
        by_the_township = await http.post(
            f"{base}/objections/{objection['id']}/ruling",
            headers=township(code),
            json={"ruling": "upheld", "reason": "x"},
        )
        assert by_the_township.status_code == 409  # the county rules on the township's notice
        upheld = await http.post(
            f"{base}/objections/{objection['id']}/ruling",
            headers=county(),
            json={"ruling": "upheld", "reason": "经核实重复申报"},
        )
        assert upheld.status_code == 200, upheld.text
        after = upheld.json()
        assert after["status"] == "township_reviewed" and after["notice"]["failed"]
        assert [line["status"] for line in after["lines"]] == ["struck", "listed", "listed"]
        assert after["total_fen"] == 45_000
        reposted = await http.post(f"{base}/notice", headers=township(code), json={})
        assert reposted.status_code == 200 and len(reposted.json()["notices"]) == 3

    with days_later(paying, start, 16):
        waiting = await http.post(f"{base}/approve", headers=county(), json={})
        assert waiting.status_code == 409 and waiting.json()["errors"][0]["rule"] == "notice_complete"

    # Day 17 is today: the county approves on the real clock, which the bank checks signatures against.
    not_the_township = await http.post(f"{base}/approve", headers=township(code), json={})
    assert not_the_township.status_code == 403
    before = await fund(paying)
    if before["balance_fen"] < 45_000:
        short = await http.post(f"{base}/approve", headers=county(), json={})
        assert short.status_code == 409 and short.json()["errors"][0]["rule"] == "exceeds_credits", short.text
        unchanged = (await http.get(base, headers=county())).json()
        assert unchanged["status"] == "township_notice" and unchanged["version"] == reposted.json()["version"]
        topped = await http.post(
            f"/v1/relief-funds/{COUNTY}/top-ups",
            headers=county(),
            json={"amount_fen": 45_000 - before["balance_fen"]},
        )
        assert topped.status_code == 201, topped.text
    approved = await http.post(
        f"{base}/approve", headers=county() | {"Idempotency-Key": f"approve-{case['id']}"}, json={}
    )
    assert approved.status_code == 200, approved.text
    replayed = await http.post(
        f"{base}/approve", headers=county() | {"Idempotency-Key": f"approve-{case['id']}"}, json={}
    )
    assert replayed.status_code == 200 and replayed.json() == approved.json()
    again = await http.post(f"{base}/approve", headers=county(), json={})
    assert again.status_code == 409 and again.json()["errors"][0]["rule"] == "step_order"
    paid = await until_case(paying, case["id"], "paid")

    assert {line["household_id"]: line["status"] for line in paid["lines"]} == {
        first: "struck",
        second: "paid",
        third: "paid",
    }
    for household_id, amount in ((first, None), (second, 25_000), (third, 20_000)):
        found = await http.get(f"/v1/households/{household_id}/payments", headers=county())
        payments = found.json()["items"] if found.status_code == 200 else []  # 404: no payment at all
        relief_payments = [p for p in payments if p["programme"] == "disaster_relief"]
        assert [p["amount_fen"] for p in relief_payments] == ([amount] if amount else [])
        assert all(p["status"] == "paid" for p in relief_payments)
    after_fund = await fund(paying)
    assert after_fund["paid_out_fen"] - before["paid_out_fen"] == 45_000 and after_fund["reserved_fen"] == 0

    # The bank's confirmation delivered again changes nothing: no second posting, no second "paid".
    async with DisbursementUnitOfWork(paying.runtime) as uow:
        again_paid = [await uow.payments.get(line["payment_id"]) for line in paid["lines"] if line["payment_id"]]
        await relief.payments_confirmed(uow, again_paid)
        await uow.commit()
    assert await fund(paying) == after_fund

    events = [e for e in await published(paying, case["id"])]
    assert [e.type.split(".")[-2] for e in events] == [
        "proposed",
        "reviewed",
        "notice_posted",
        "objection_raised",
        "objection_ruled",
        "reviewed",
        "notice_posted",
        "objection_raised",
        "objection_ruled",
        "notice_posted",
        "approved",
        "paid",
    ]
    assert [e.data["level"] for e in events[:3]] == ["village", "village", "village"]
    text = json.dumps([e.to_dict() for e in events], ensure_ascii=False)
    assert SUMMARY not in text and "村委会核灾" not in text and "重复申报" not in text


async def test_masked_roles_see_no_free_text_and_other_regions_see_no_case(paying):
    code = next(VILLAGES)
    household_id = await announce_household(paying.runtime, code)
    today = business_day(datetime.now(UTC))
    proposed = await paying.http.post(
        "/v1/relief-cases", headers=village(code), json=case_body(code, [(household_id, 10_000)], str(today))
    )
    assert proposed.status_code == 201, proposed.text
    case_id = proposed.json()["id"]
    assert proposed.json()["disaster"]["summary"] == SUMMARY

    masked = await paying.http.get(f"/v1/relief-cases/{case_id}", headers=auth("provincial_system", "22"))
    assert masked.status_code == 200
    assert masked.json()["disaster"]["summary"] == "***" and masked.json()["personal_data"] == "masked"
    assert all(step["reason"] in (None, "***") for step in masked.json()["steps"])

    other = auth("township_officer", "220182101")
    assert (await paying.http.get(f"/v1/relief-cases/{case_id}", headers=other)).status_code == 404
    listed = await paying.http.get("/v1/relief-cases", headers=other)
    assert case_id not in listed.text
    outside = await paying.http.post(
        "/v1/relief-cases",
        headers=auth("village_cadre", "220182101"),
        json=case_body(code, [(household_id, 1)], str(today)),
    )
    assert outside.status_code == 404

    withdrawn = await paying.http.post(
        f"/v1/relief-cases/{case_id}/withdraw", headers=village(code), json={"reason": "误报"}
    )
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "stopped"
    late = await paying.http.post(
        f"/v1/relief-cases/{case_id}/review",
        headers=village(code),
        json={"meeting_date": str(today), "record_ref": "x"},
    )
    assert late.status_code == 409


async def test_a_relief_payment_the_bank_refuses_is_retried_and_the_case_paid_once(paying, bank):
    """The bank refuses every instruction: the lines stay reserved in the fund; an operator's retry of each
    payment pays it, and the reservation is posted once."""
    code = next(VILLAGES)
    first, second = [await announce_household(paying.runtime, code) for _ in range(2)]
    start = datetime.now(UTC) - timedelta(days=14)
    day0 = business_day(start)
    http = paying.http
    with days_later(paying, start, 0):
        proposed = await http.post(
            "/v1/relief-cases",
            headers=village(code),
            json=case_body(code, [(first, 10_000), (second, 20_000)], str(day0)),
        )
        base = f"/v1/relief-cases/{proposed.json()['id']}"
        review = {"meeting_date": str(day0), "record_ref": "评议"}
        assert (await http.post(f"{base}/review", headers=village(code), json=review)).status_code == 200
        assert (await http.post(f"{base}/notice", headers=village(code), json={})).status_code == 200
    with days_later(paying, start, 7):
        review = {"meeting_date": str(day0 + timedelta(days=7)), "record_ref": "审核"}
        assert (await http.post(f"{base}/review", headers=township(code), json=review)).status_code == 200
        assert (await http.post(f"{base}/notice", headers=township(code), json={})).status_code == 200
    before = await fund(paying)
    if before["balance_fen"] < 30_000:
        topped = await http.post(
            f"/v1/relief-funds/{COUNTY}/top-ups", headers=county(), json={"amount_fen": 30_000 - before["balance_fen"]}
        )
        assert topped.status_code == 201, topped.text
        before = await fund(paying)
    await bank.configure(reject_rate=1.0)
    approved = await http.post(f"{base}/approve", headers=county(), json={})
    assert approved.status_code == 200, approved.text
    payment_ids = [line["payment_id"] for line in approved.json()["lines"]]

    async def statuses() -> list[str]:
        return [(await http.get(f"/v1/payments/{p}", headers=county())).json()["status"] for p in payment_ids]

    for _ in range(200):
        if await statuses() == ["rejected", "rejected"]:
            break
        await asyncio.sleep(0.05)
    assert await statuses() == ["rejected", "rejected"]
    held = await fund(paying)
    assert held["reserved_fen"] - before["reserved_fen"] == 30_000 and held["paid_out_fen"] == before["paid_out_fen"]
    assert (await http.get(base, headers=county())).json()["status"] == "approved"

    await bank.configure()
    for payment_id in payment_ids:
        retried = await http.post(f"/v1/payments/{payment_id}/retry", headers=county(), json={"reason": "账户已更正"})
        assert retried.status_code == 202, retried.text
        assert retried.json()["attempt"] == 2
    paid = await until_case(paying, proposed.json()["id"], "paid")
    assert [line["status"] for line in paid["lines"]] == ["paid", "paid"]
    after = await fund(paying)
    assert after["paid_out_fen"] - before["paid_out_fen"] == 30_000
    assert after["reserved_fen"] == before["reserved_fen"]
