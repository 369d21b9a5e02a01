"""Disbursement REST API: entitlements, reserve funds and the ledger (payment runs and temporary aid
follow, see DECISIONS.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from services.disbursement.adapters.uow import DisbursementUnitOfWork
from services.disbursement.api.presenters import account_view, entitlement_view, transfer_view
from services.disbursement.api.schemas import TopUpIn
from services.disbursement.service_layer import funds
from shared.app import runtime_of
from shared.auth import READERS, Principal, Role, require
from shared.commands import CommandResult, run_command
from shared.errors import Forbidden, NotFound

router = APIRouter(prefix="/v1")
Reader = Annotated[Principal, Depends(require(*READERS))]
# Funds and the ledger are the agency's books, not a household's.
BookReader = Annotated[Principal, Depends(require(*(READERS - {Role.HOUSEHOLD})))]
Funder = Annotated[Principal, Depends(require(Role.PROVINCE_OPERATOR, Role.COUNTY_OPERATOR, Role.ADMIN))]
TOWNSHIP_CODE = r"^\d{9}$"


def uow_of(request: Request) -> DisbursementUnitOfWork:
    return DisbursementUnitOfWork(runtime_of(request))


@router.get(
    "/households/{household_id}/entitlements",
    tags=["entitlements"],
    summary="A household's entitlements with their history",
)
async def household_entitlements(household_id: str, request: Request, actor: Reader):
    async with uow_of(request) as uow:
        found = await uow.entitlements.of_household(household_id)
        history = await uow.entitlements.history([e.id for e in found])
    # Absent and outside the caller's scope answer alike, so household ids cannot be probed.
    if not found or not actor.may_see_household(household_id, found[0].region_code):
        raise NotFound(f"no entitlements of household {household_id}")
    return {"items": [entitlement_view(e, history.get(e.id, [])) for e in found]}


def _check_region(actor: Principal, region_code: str) -> None:
    if not actor.covers_region(region_code):
        raise Forbidden(f"region {region_code} is outside your scope ({actor.region})")


@router.get("/reserve-funds/{region_code}", tags=["reserve funds"], summary="A township's reserve fund (备用金)")
async def reserve_fund(
    request: Request,
    actor: BookReader,
    region_code: Annotated[str, Path(pattern=TOWNSHIP_CODE, description="A township's 9-digit region code")],
):
    _check_region(actor, region_code)
    async with uow_of(request) as uow:
        return await funds.reserve_fund(uow, region_code)


@router.post(
    "/reserve-funds/{region_code}/top-ups",
    tags=["reserve funds"],
    summary="Add money to a township's reserve fund",
    status_code=201,
)
async def top_up(
    body: TopUpIn,
    request: Request,
    actor: Funder,
    region_code: Annotated[str, Path(pattern=TOWNSHIP_CODE, description="A township's 9-digit region code")],
):
    _check_region(actor, region_code)
    uow = uow_of(request)

    async def action() -> CommandResult:
        return CommandResult(await funds.top_up(uow, region_code, body.amount_fen, actor.subject), 201)

    return await run_command(request, actor, uow, action)


async def _account(request: Request, actor: Principal, account_id: str) -> dict:
    async with uow_of(request) as uow:
        account = await uow.ledger.account(account_id)
    if account is None or not actor.covers_region(account["region_code"]):
        raise NotFound(f"no ledger account {account_id}")
    return account


@router.get("/ledger/accounts/{account_id}", tags=["ledger"], summary="A ledger account and its balances")
async def ledger_account(account_id: str, request: Request, actor: BookReader):
    return account_view(await _account(request, actor, account_id))


@router.get(
    "/ledger/accounts/{account_id}/statement",
    tags=["ledger"],
    summary="An account's transfers in the order they were made",
)
async def ledger_statement(
    account_id: str,
    request: Request,
    actor: BookReader,
    after: Annotated[int, Query(ge=0, le=2**62, description="Continue after this sequence")] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
):
    account = await _account(request, actor, account_id)
    async with uow_of(request) as uow:
        rows = await uow.ledger.statement(account_id, after, limit + 1)
    items = [transfer_view(r, account_id) for r in rows[:limit]]
    return {
        "account": account_view(account),
        "items": items,
        "next_after": items[-1]["sequence"] if len(rows) > limit else None,
    }
