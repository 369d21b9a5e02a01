"""Disbursement on PostgreSQL: entitlements from decision events exactly once and newest first, the
whole chain registry → eligibility → disbursement, reserve funds and the ledger's guarantees under
concurrency (the balance rule is the database's)."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from services.disbursement.adapters import orm
from services.disbursement.adapters.uow import DisbursementUnitOfWork
from services.disbursement.domain.ledger import AccountCode, Transfer, TransferKind, TransferRefused
from services.disbursement.service_layer import ledger
from services.disbursement.service_layer.handlers import decisions_consumer
from shared.contracts.eligibility import DecisionChanged
from shared.events import Envelope
from tests.conftest import auth, whole_system
from tests.factories import household, id_number, member

NOW = datetime(2026, 7, 1, 1, 0, tzinfo=UTC)
TOWNSHIP = "220122101"
# Townships no other test of this session's database has funded (the sweep uses 101).
FRESH_TOWNSHIPS = itertools.count(800)


def decision_event(household_id: str, sequence: int, amount: int, status: str = "eligible") -> Envelope:
    payload = DecisionChanged(
        decision_id=f"0190a000-0000-7000-8000-{sequence:012d}",
        household_id=household_id,
        region_code=TOWNSHIP + "201",
        cadre_id=None,
        programme="dibao",
        member_id=None,
        change="granted" if sequence == 1 else "amount_changed",
        status=status,
        previous_status=None,
        monthly_amount_fen=amount,
        previous_monthly_amount_fen=None,
        valid_from=date(2026, 7, 1),
        valid_until=None,
        household_version=1,
        as_of=date(2026, 7, 1),
        decision_sequence=sequence,
    )
    return Envelope.wrap(payload, source="/eligibility", subject=household_id)


async def entitlements_of(disbursement, household_id: str) -> list[dict]:
    response = await disbursement.http.get(
        f"/v1/households/{household_id}/entitlements", headers=auth("county_operator", "220122")
    )
    return response.json()["items"] if response.status_code == 200 else []


async def test_the_same_decision_delivered_three_times_makes_one_entitlement(disbursement):
    consume = decisions_consumer(disbursement.runtime)
    household_id = f"h-three-{id_number()[-6:]}"
    event = decision_event(household_id, 1, 30_000)
    await consume([event])
    await consume([event])
    await consume([event, event])
    [entitlement] = await entitlements_of(disbursement, household_id)
    assert (entitlement["status"], entitlement["monthly_amount_fen"], entitlement["version"]) == ("active", 30_000, 1)
    assert len(entitlement["history"]) == 1


async def test_out_of_order_and_replayed_decisions_leave_the_newest(disbursement):
    consume = decisions_consumer(disbursement.runtime)
    household_id = f"h-order-{id_number()[-6:]}"
    first, second, third = (
        decision_event(household_id, 1, 30_000),
        decision_event(household_id, 2, 20_000),
        decision_event(household_id, 3, 0, status="not_eligible"),
    )
    await consume([third, first])  # the revocation arrives before the grant it ends
    await consume([second])  # and a middle one late
    await consume([first, second, third])  # then the whole history replayed (new deliveries, same ids)
    [entitlement] = await entitlements_of(disbursement, household_id)
    assert (entitlement["status"], entitlement["monthly_amount_fen"]) == ("ended", 0)
    assert entitlement["decision_id"].endswith("000000000003")
    # A replay under new event ids (a re-driven dead letter) is recognised by the decision itself.
    again = decision_event(household_id, 2, 20_000)
    await consume([again])
    [after] = await entitlements_of(disbursement, household_id)
    assert after["version"] == entitlement["version"]


async def test_a_household_decided_by_eligibility_gets_its_entitlement(databases):
    async with whole_system(databases, NOW) as (services, bus):
        county = auth("county_operator", "220122")
        created = await services["registry"].http.post(
            "/v1/households",
            headers=county,
            json=household(
                "220122",
                members=[member(), member("spouse", id_number=id_number(sex="female"))],
                incomes=[{"type": "wages", "amount_fen": 10_000, "period": "month", "effective_from": "2026-01-01"}],
            ),
        )
        assert created.status_code == 201, created.text
        for _ in range(3):
            for service in services.values():
                await service.runtime.relay.publish_pending()
            await bus.drain()
        decisions = (
            await services["eligibility"].http.get(f"/v1/households/{created.json()['id']}/decisions", headers=county)
        ).json()["items"]
        [dibao] = [d for d in decisions if d["programme"] == "dibao" and d["current"]]
        [entitlement] = await entitlements_of(services["disbursement"], created.json()["id"])
        assert (entitlement["programme"], entitlement["monthly_amount_fen"], entitlement["decision_id"]) == (
            "dibao",
            dibao["monthly_amount_fen"],
            dibao["id"],
        )
        other_county = auth("county_operator", "220182")
        hidden = await services["disbursement"].http.get(
            f"/v1/households/{created.json()['id']}/entitlements", headers=other_county
        )
        assert hidden.status_code == 404


async def test_top_up_and_bad_input(disbursement):
    county = auth("county_operator", "220122")
    township = f"{TOWNSHIP[:6]}{next(FRESH_TOWNSHIPS)}"
    bad = await disbursement.http.post(f"/v1/reserve-funds/{township}/top-ups", headers=county, json={"amount_fen": -5})
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
    assert any(e["field"].endswith("amount_fen") for e in bad.json()["errors"]), bad.json()
    fund = (await disbursement.http.get(f"/v1/reserve-funds/{township}", headers=county)).json()
    assert fund["balance_fen"] == 0  # nothing written
    headers = county | {"Idempotency-Key": f"topup-{township}"}
    first = await disbursement.http.post(
        f"/v1/reserve-funds/{township}/top-ups", headers=headers, json={"amount_fen": 500}
    )
    again = await disbursement.http.post(
        f"/v1/reserve-funds/{township}/top-ups", headers=headers, json={"amount_fen": 500}
    )
    assert first.status_code == again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert first.json()["balance_fen"] == 500
    statement = (
        await disbursement.http.get(f"/v1/ledger/accounts/township_reserve:{township}/statement", headers=county)
    ).json()
    assert [i["amount_fen"] for i in statement["items"]] == [500] and statement["account"]["available_fen"] == 500
    outside = await disbursement.http.post(
        f"/v1/reserve-funds/{township}/top-ups", headers=auth("county_operator", "220182"), json={"amount_fen": 1}
    )
    assert outside.status_code == 403


async def _funded_reserve(disbursement, amount: int) -> tuple[str, str]:
    township = f"{TOWNSHIP[:6]}{next(FRESH_TOWNSHIPS)}"
    async with DisbursementUnitOfWork(disbursement.runtime) as uow:
        reserve = await ledger.open_account(uow, AccountCode.TOWNSHIP_RESERVE, township)
        funding = await ledger.open_account(uow, AccountCode.FUNDING, "22")
        flight = await ledger.open_account(uow, AccountCode.IN_FLIGHT, township[:6])
        await ledger.create_transfer(uow, Transfer(f"fund-{township}", funding, reserve, amount))
        await uow.commit()
    return reserve, flight


async def test_a_transfer_id_is_used_once(disbursement):
    reserve, flight = await _funded_reserve(disbursement, 1_000)
    transfer = Transfer(f"pay-{reserve}", reserve, flight, 300, TransferKind.PENDING, timeout_seconds=3600)
    for _ in range(2):  # the replay returns the first result and moves nothing
        async with DisbursementUnitOfWork(disbursement.runtime) as uow:
            assert await ledger.create_transfer(uow, transfer) == transfer
            await uow.commit()
    async with DisbursementUnitOfWork(disbursement.runtime) as uow:
        with pytest.raises(TransferRefused) as refused:
            await ledger.create_transfer(
                uow, Transfer(transfer.id, reserve, flight, 301, TransferKind.PENDING, timeout_seconds=3600)
            )
        assert refused.value.code == "exists_with_different_fields"
        account = await uow.ledger.account(reserve)
    assert (account["debits_pending"], account["credits_posted"]) == (300, 1_000)
    post = Transfer(f"post-{reserve}", reserve, flight, 0, TransferKind.POST_PENDING, pending_id=transfer.id)
    void = Transfer(f"void-{reserve}", reserve, flight, 0, TransferKind.VOID_PENDING, pending_id=transfer.id)
    async with DisbursementUnitOfWork(disbursement.runtime) as uow:
        await ledger.create_transfer(uow, post)
        await uow.commit()
    async with DisbursementUnitOfWork(disbursement.runtime) as uow:
        with pytest.raises(TransferRefused) as refused:
            await ledger.create_transfer(uow, void)
        assert refused.value.code == "pending_transfer_already_posted"
        account = await uow.ledger.account(reserve)
    assert (account["debits_pending"], account["debits_posted"]) == (0, 300)


async def test_racing_reservations_never_overdraw_a_reserve_fund(disbursement):
    """Ten reservations of 300 race for 1,000: three succeed, the rest are refused by the database's
    rule, and the fund never shows a negative balance."""
    reserve, flight = await _funded_reserve(disbursement, 1_000)

    async def reserve_money(n: int) -> str:
        async with DisbursementUnitOfWork(disbursement.runtime) as uow:
            try:
                await ledger.create_transfer(
                    uow, Transfer(f"race-{reserve}-{n}", reserve, flight, 300, TransferKind.PENDING)
                )
            except TransferRefused as refused:
                return refused.code
            await uow.commit()
            return "ok"

    outcomes = await asyncio.gather(*(reserve_money(n) for n in range(10)))
    assert sorted(outcomes) == ["exceeds_credits"] * 7 + ["ok"] * 3
    async with DisbursementUnitOfWork(disbursement.runtime) as uow:
        account = await uow.ledger.account(reserve)
        transfers = await uow.session.scalar(
            select(func.count())
            .select_from(orm.ledger_transfers)
            .where(orm.ledger_transfers.c.debit_account_id == reserve)
        )
    assert account["debits_pending"] == 900 and account["credits_posted"] - account["debits_pending"] == 100
    assert transfers == 3  # a refused transfer left nothing behind


async def test_a_pending_transfer_past_its_timeout_expires_and_releases_its_money(disbursement):
    reserve, flight = await _funded_reserve(disbursement, 1_000)
    async with DisbursementUnitOfWork(disbursement.runtime) as uow:
        await ledger.create_transfer(
            uow, Transfer(f"hold-{reserve}", reserve, flight, 600, TransferKind.PENDING, timeout_seconds=60)
        )
        await uow.commit()
    async with DisbursementUnitOfWork(disbursement.runtime) as uow:
        assert await ledger.expire_pending_transfers(uow) == []  # not yet
        assert (await uow.ledger.account(reserve))["debits_pending"] == 600
    clock = disbursement.runtime.clock
    later = clock() + timedelta(seconds=61)
    disbursement.runtime.clock = lambda: later
    try:
        async with DisbursementUnitOfWork(disbursement.runtime) as uow:
            assert await ledger.expire_pending_transfers(uow) == [f"hold-{reserve}"]
            await uow.commit()
        async with DisbursementUnitOfWork(disbursement.runtime) as uow:
            account = await uow.ledger.account(reserve)
            assert (account["debits_pending"], account["credits_posted"]) == (0, 1_000)
            with pytest.raises(TransferRefused) as refused:
                await ledger.create_transfer(
                    uow,
                    Transfer(
                        f"post-{reserve}", reserve, flight, 0, TransferKind.POST_PENDING, pending_id=f"hold-{reserve}"
                    ),
                )
            assert refused.value.code == "pending_transfer_expired"
            assert await ledger.expire_pending_transfers(uow) == []  # expired once
    finally:
        disbursement.runtime.clock = clock
