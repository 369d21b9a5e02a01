"""Funds on the ledger: each township's temporary-aid reserve fund (备用金) and each county's fund for
monthly entitlements. Both are funded accounts: they never go below zero."""

from __future__ import annotations

from typing import Any

from services.disbursement.adapters.uow import DisbursementUnitOfWork
from services.disbursement.domain.ledger import AccountCode, Transfer, account_id
from services.disbursement.service_layer.ledger import create_transfer, open_account
from shared.contracts.disbursement import ReserveFundToppedUp
from shared.ids import new_record_id


def available(account: dict[str, Any] | None) -> int:
    """What a funded account can still spend: reservations in flight already count against it."""
    if account is None:
        return 0
    return int(account["credits_posted"] - account["debits_posted"] - account["debits_pending"])


async def fund_view(
    uow: DisbursementUnitOfWork, region_code: str, code: AccountCode = AccountCode.TOWNSHIP_RESERVE
) -> dict[str, Any]:
    identifier = account_id(code, region_code)
    account = await uow.ledger.account(identifier)
    return {
        "region_code": region_code,
        "account_id": identifier,
        "balance_fen": available(account),
        "reserved_fen": account["debits_pending"] if account else 0,
        "paid_out_fen": account["debits_posted"] if account else 0,
        "topped_up_fen": account["credits_posted"] if account else 0,
    }


async def top_up(
    uow: DisbursementUnitOfWork,
    region_code: str,
    amount_fen: int,
    actor: str,
    code: AccountCode = AccountCode.TOWNSHIP_RESERVE,
) -> dict[str, Any]:
    """Money from the province's funding account into a township's reserve or a county's fund."""
    reserve = await open_account(uow, code, region_code)
    funding = await open_account(uow, AccountCode.FUNDING, region_code[:2])
    transfer = await create_transfer(
        uow,
        Transfer(
            id=new_record_id(),
            debit_account_id=funding,
            credit_account_id=reserve,
            amount_fen=amount_fen,
            reference=f"top-up by {actor}",
        ),
    )
    fund = await fund_view(uow, region_code, code)
    uow.emit(
        ReserveFundToppedUp(
            region_code=region_code,
            account_id=reserve,
            transfer_id=transfer.id,
            amount_fen=amount_fen,
            balance_fen=fund["balance_fen"],
            actor=actor,
            fund=code.value,
        ),
        subject=region_code,
    )
    return {**fund, "transfer_id": transfer.id}
