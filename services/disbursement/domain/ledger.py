"""The ledger's rules, after TigerBeetle's semantics (docs.tigerbeetle.com, "Transfers", "Two-phase
transfers", "Accounts"), kept as data and pure functions; the database applies them in
`adapters/repository.py` and enforces the balance flag itself.

- An account holds debits and credits, each pending and posted. With `debits_must_not_exceed_credits`,
  debits_pending + debits_posted never exceed credits_posted (a reserve fund never goes below zero,
  counting reservations in flight).
- A transfer moves an amount from a debit account to a credit account: every transaction balances by
  construction. Its id is its idempotency key: the same id with the same fields is the first result
  again; the same id with other fields is refused.
- Two-phase: a pending transfer reserves (pending columns); a later transfer posts it (moves the amount,
  or less, to posted) or voids it (releases it); a pending transfer with a timeout expires unless posted
  or voided before it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from enum import StrEnum


class AccountCode(StrEnum):
    COUNTY_FUND = "county_fund"  # a county's allocation for monthly entitlements
    RELIEF_FUND = "relief_fund"  # a county's disaster-relief fund (救灾资金)
    TOWNSHIP_RESERVE = "township_reserve"  # a township's temporary-aid reserve fund (备用金)
    BENEFICIARY_PAYABLE = "beneficiary_payable"  # owed to households, per county
    IN_FLIGHT = "in_flight"  # submitted to the payment provider, outcome not yet known, per county
    PAID = "paid"  # confirmed paid out, per county
    FUNDING = "funding"  # the treasury side of top-ups (the money's origin), per province


# Accounts that hold money and so may not be overdrawn.
FUNDED = frozenset({AccountCode.COUNTY_FUND, AccountCode.RELIEF_FUND, AccountCode.TOWNSHIP_RESERVE})


def account_id(code: AccountCode, region_code: str) -> str:
    """Accounts are named by what they are, so every service and operator can find them."""
    return f"{code.value}:{region_code}"


class TransferKind(StrEnum):
    SINGLE = "single"  # posted at once
    PENDING = "pending"  # reserves; posted or voided later
    POST_PENDING = "post_pending"
    VOID_PENDING = "void_pending"


class PendingState(StrEnum):
    PENDING = "pending"
    POSTED = "posted"
    VOIDED = "voided"
    EXPIRED = "expired"


class TransferRefused(Exception):
    """A transfer the ledger will not make; `code` is TigerBeetle's result name where one exists."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Transfer:
    id: str
    debit_account_id: str
    credit_account_id: str
    amount_fen: int
    kind: TransferKind = TransferKind.SINGLE
    pending_id: str | None = None  # the pending transfer a post or void settles
    timeout_seconds: int = 0  # pending only; 0 = no timeout
    reference: str = ""  # what the money is for (a payment's reference_id, a top-up's request)

    def same_as(self, other: Transfer) -> bool:
        return all(getattr(self, f.name) == getattr(other, f.name) for f in fields(self))


@dataclass(frozen=True)
class Movement:
    """One balance change a transfer makes: `column` of `account_id` grows by `amount_fen` (or shrinks)."""

    account_id: str
    column: str  # debits_pending | debits_posted | credits_pending | credits_posted
    amount_fen: int


def check(transfer: Transfer) -> None:
    if transfer.amount_fen < 0:
        raise TransferRefused("amount_must_not_be_negative", "a transfer's amount is never negative")
    if transfer.kind in (TransferKind.SINGLE, TransferKind.PENDING):
        if transfer.amount_fen == 0:
            raise TransferRefused("amount_must_not_be_zero", "a transfer moves a positive amount")
        if transfer.debit_account_id == transfer.credit_account_id:
            raise TransferRefused("accounts_must_be_different", "debit and credit accounts must differ")
        if transfer.pending_id is not None:
            raise TransferRefused("pending_id_must_be_zero", "only a post or a void names a pending transfer")
    elif transfer.pending_id is None:
        raise TransferRefused("pending_id_must_not_be_zero", "a post or a void names the pending transfer")
    if transfer.timeout_seconds and transfer.kind != TransferKind.PENDING:
        raise TransferRefused("timeout_reserved_for_pending_transfer", "only a pending transfer has a timeout")


def expires_at(transfer: Transfer, created_at: datetime) -> datetime | None:
    return created_at + timedelta(seconds=transfer.timeout_seconds) if transfer.timeout_seconds else None


def movements(
    transfer: Transfer,
    pending: Transfer | None = None,
    pending_state: PendingState | None = None,
    now: datetime | None = None,
    pending_expires_at: datetime | None = None,
) -> list[Movement]:
    """The balance changes of a transfer (a post or void needs its pending transfer and that one's state)."""
    check(transfer)
    d, c, amount = transfer.debit_account_id, transfer.credit_account_id, transfer.amount_fen
    if transfer.kind == TransferKind.SINGLE:
        return [Movement(d, "debits_posted", amount), Movement(c, "credits_posted", amount)]
    if transfer.kind == TransferKind.PENDING:
        return [Movement(d, "debits_pending", amount), Movement(c, "credits_pending", amount)]
    if pending is None:
        raise TransferRefused("pending_transfer_not_found", f"no pending transfer {transfer.pending_id}")
    if pending.kind != TransferKind.PENDING:
        raise TransferRefused("pending_transfer_not_pending", f"transfer {pending.id} is not a pending transfer")
    if pending_state == PendingState.POSTED:
        raise TransferRefused("pending_transfer_already_posted", f"transfer {pending.id} is already posted")
    if pending_state == PendingState.VOIDED:
        raise TransferRefused("pending_transfer_already_voided", f"transfer {pending.id} is already voided")
    if pending_state == PendingState.EXPIRED or (
        pending_expires_at is not None and now is not None and now >= pending_expires_at
    ):
        raise TransferRefused("pending_transfer_expired", f"transfer {pending.id} has expired")
    if (d, c) != (pending.debit_account_id, pending.credit_account_id):
        raise TransferRefused("pending_transfer_has_different_accounts", "a post or void keeps the pending accounts")
    release = [
        Movement(pending.debit_account_id, "debits_pending", -pending.amount_fen),
        Movement(pending.credit_account_id, "credits_pending", -pending.amount_fen),
    ]
    if transfer.kind == TransferKind.VOID_PENDING:
        return release
    posted = amount or pending.amount_fen  # 0 posts the full pending amount, as in TigerBeetle
    if posted > pending.amount_fen:
        raise TransferRefused("exceeds_pending_transfer_amount", "a post cannot exceed the pending amount")
    return [*release, Movement(d, "debits_posted", posted), Movement(c, "credits_posted", posted)]


def balance_holds(debits_pending: int, debits_posted: int, credits_posted: int) -> bool:
    """The `debits_must_not_exceed_credits` rule (the database checks the same, see the migration)."""
    return debits_pending + debits_posted <= credits_posted
