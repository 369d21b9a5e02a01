"""The ledger's application service: create a transfer exactly once."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from services.disbursement.adapters.repository import BalanceRuleBroken
from services.disbursement.adapters.uow import DisbursementUnitOfWork
from services.disbursement.domain.ledger import (
    FUNDED,
    AccountCode,
    Movement,
    Transfer,
    TransferRefused,
    account_id,
    movements,
)


async def open_account(uow: DisbursementUnitOfWork, code: AccountCode, region_code: str) -> str:
    identifier = account_id(code, region_code)
    await uow.ledger.open_account(identifier, code.value, region_code, funded=code in FUNDED)
    return identifier


async def create_transfer(uow: DisbursementUnitOfWork, transfer: Transfer) -> Transfer:
    """Make `transfer` in this unit of work, or return the one already made under its id. Refuses (with
    TigerBeetle's result name) a reused id with other fields, an unknown account, an overdraft of a
    funded account, and a post or void of a pending transfer that is settled or expired."""
    existing = await uow.ledger.transfer(transfer.id)
    if existing is not None:
        return _same_or_refused(existing[0], transfer)
    for side in (transfer.debit_account_id, transfer.credit_account_id):
        if await uow.ledger.account(side) is None:
            raise TransferRefused("account_not_found", f"no ledger account {side}")
    pending = await uow.ledger.transfer(transfer.pending_id) if transfer.pending_id else None
    now = uow.now()
    moves = movements(
        transfer,
        pending[0] if pending else None,
        pending[1]["pending_state"] if pending else None,
        now,
        pending[1]["expires_at"] if pending else None,
    )
    try:
        async with uow.savepoint():
            await uow.ledger.append_many([transfer], moves, now)
    except BalanceRuleBroken as exc:
        raise TransferRefused(
            "exceeds_credits", f"account {exc} would be overdrawn (pending reservations count)"
        ) from None
    except IntegrityError:
        # A concurrent transaction made a transfer with this id, or settled the same pending transfer.
        raced = await uow.ledger.transfer(transfer.id)
        if raced is not None:
            return _same_or_refused(raced[0], transfer)
        raise TransferRefused(
            "pending_transfer_already_settled", f"transfer {transfer.pending_id} is already settled"
        ) from None
    return transfer


def _same_or_refused(existing: Transfer, transfer: Transfer) -> Transfer:
    if existing.same_as(transfer):
        return existing
    raise TransferRefused(
        "exists_with_different_fields", f"transfer {transfer.id} exists with other fields; a transfer id is used once"
    )


async def create_transfers(uow: DisbursementUnitOfWork, transfers: list[Transfer]) -> None:
    """Many transfers in one go (a batch of payments), with the rules of `create_transfer`: ids already
    made with the same fields are skipped, with other fields refused; the balance rule is the
    database's. Accounts are opened by the caller."""
    if not transfers:
        return
    existing = await uow.ledger.transfers([t.id for t in transfers])
    new = []
    for transfer in transfers:
        if transfer.id in existing:
            _same_or_refused(existing[transfer.id][0], transfer)
        else:
            new.append(transfer)
    pendings = await uow.ledger.transfers([t.pending_id for t in new if t.pending_id])
    now = uow.now()
    moves = []
    for transfer in new:
        pending = pendings.get(transfer.pending_id) if transfer.pending_id else None
        moves += movements(
            transfer,
            pending[0] if pending else None,
            pending[1]["pending_state"] if pending else None,
            now,
            pending[1]["expires_at"] if pending else None,
        )
    try:
        await uow.ledger.append_many(new, moves, now)
    except BalanceRuleBroken as exc:
        raise TransferRefused(
            "exceeds_credits", f"account {exc} would be overdrawn (pending reservations count)"
        ) from None


async def expire_pending_transfers(uow: DisbursementUnitOfWork, limit: int = 500) -> list[str]:
    """Pending transfers whose timeout has passed expire: what they reserved is released and a later post
    or void is refused (`pending_transfer_expired`). Returns the ids expired."""
    expired = await uow.ledger.expired_pending(uow.now(), limit)
    moves = [
        move
        for t in expired
        for move in (
            Movement(t.debit_account_id, "debits_pending", -t.amount_fen),
            Movement(t.credit_account_id, "credits_pending", -t.amount_fen),
        )
    ]
    await uow.ledger.expire(expired, moves)
    return [t.id for t in expired]
