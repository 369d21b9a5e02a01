"""Entitlements and the ledger, persisted. SQL stays here; the rules are the domain's."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.disbursement.adapters import orm
from services.disbursement.domain.entitlements import Entitlement, EntitlementStatus
from services.disbursement.domain.ledger import Movement, PendingState, Transfer, TransferKind
from shared.clock import Clock
from shared.db import insert_many


class BalanceRuleBroken(Exception):
    """The database refused a movement: a funded account would be overdrawn."""


class EntitlementRepository:
    def __init__(self, session: AsyncSession, clock: Clock):
        self.session, self.clock = session, clock

    @staticmethod
    def _entitlement(row: Any) -> Entitlement:
        return Entitlement(
            id=row.id,
            household_id=row.household_id,
            region_code=row.region_code,
            programme=row.programme,
            member_id=row.member_key or None,
            status=EntitlementStatus(row.status),
            monthly_amount_fen=row.monthly_amount_fen,
            valid_from=row.valid_from,
            valid_until=row.valid_until,
            gradual_exit=row.gradual_exit,
            decision_id=row.decision_id,
            decision_sequence=row.decision_sequence,
            version=row.version,
        )

    async def get_many(self, keys: Sequence[tuple[str, str, str]]) -> dict[tuple[str, str, str], Entitlement]:
        """The entitlements of (household, programme, member or "") keys, locked for this transaction."""
        if not keys:
            return {}
        e = orm.entitlements.c
        query = select(orm.entitlements).where(tuple_(e.household_id, e.programme, e.member_key).in_(sorted(set(keys))))
        if self.session.bind.dialect.name == "postgresql":
            query = query.with_for_update()
        return {
            (r.household_id, r.programme, r.member_key): self._entitlement(r) for r in await self.session.execute(query)
        }

    async def of_household(self, household_id: str) -> list[Entitlement]:
        e = orm.entitlements.c
        rows = await self.session.execute(
            select(orm.entitlements).where(e.household_id == household_id).order_by(e.programme, e.member_key)
        )
        return [self._entitlement(r) for r in rows]

    async def history(self, entitlement_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        v = orm.entitlement_versions.c
        rows = await self.session.execute(
            select(orm.entitlement_versions).where(v.entitlement_id.in_(list(entitlement_ids))).order_by(v.version)
        )
        found: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            found.setdefault(r.entitlement_id, []).append(
                {k: v for k, v in r._mapping.items() if k != "entitlement_id"}
            )
        return found

    async def save_many(self, entitlements: Sequence[Entitlement]) -> None:
        """New entitlements (version 1) are inserted, changed ones updated; each version is kept."""
        now = self.clock()
        new = [e for e in entitlements if e.version == 1]
        await insert_many(self.session, orm.entitlements, [_row(e) | {"updated_at": now} for e in new])
        for changed in (e for e in entitlements if e.version > 1):
            await self.session.execute(
                update(orm.entitlements)
                .where(orm.entitlements.c.id == changed.id, orm.entitlements.c.version == changed.version - 1)
                .values(**_row(changed), updated_at=now)
            )
        versioned = ("status", "monthly_amount_fen", "valid_from", "valid_until", "gradual_exit", "decision_id")
        await insert_many(
            self.session,
            orm.entitlement_versions,
            [
                {"entitlement_id": e.id, "version": e.version, "recorded_at": now}
                | {k: v for k, v in _row(e).items() if k in versioned or k == "decision_sequence"}
                for e in entitlements
            ],
        )


def _row(e: Entitlement) -> dict[str, Any]:
    return {
        "id": e.id,
        "household_id": e.household_id,
        "region_code": e.region_code,
        "programme": e.programme,
        "member_key": e.member_id or "",
        "status": e.status.value,
        "monthly_amount_fen": e.monthly_amount_fen,
        "valid_from": e.valid_from,
        "valid_until": e.valid_until,
        "gradual_exit": e.gradual_exit,
        "decision_id": e.decision_id,
        "decision_sequence": e.decision_sequence,
        "version": e.version,
    }


class LedgerRepository:
    BALANCES = ("debits_pending", "debits_posted", "credits_pending", "credits_posted")

    def __init__(self, session: AsyncSession, clock: Clock):
        self.session, self.clock = session, clock

    async def open_account(self, account_id: str, code: str, region_code: str, *, funded: bool) -> None:
        """Create the account unless it exists (accounts are opened on first use, concurrently too)."""
        insert = pg_insert if self.session.bind.dialect.name == "postgresql" else sqlite_insert
        await self.session.execute(
            insert(orm.ledger_accounts)
            .values(
                id=account_id,
                code=code,
                region_code=region_code,
                debits_must_not_exceed_credits=funded,
                created_at=self.clock(),
            )
            .on_conflict_do_nothing(index_elements=["id"])
        )

    async def account(self, account_id: str) -> dict[str, Any] | None:
        row = (
            await self.session.execute(select(orm.ledger_accounts).where(orm.ledger_accounts.c.id == account_id))
        ).first()
        return dict(row._mapping) if row else None

    async def transfer(self, transfer_id: str) -> tuple[Transfer, dict[str, Any]] | None:
        """A transfer and its bookkeeping (pending_state, expires_at, created_at, sequence)."""
        row = (
            await self.session.execute(select(orm.ledger_transfers).where(orm.ledger_transfers.c.id == transfer_id))
        ).first()
        if row is None:
            return None
        return (
            Transfer(
                id=row.id,
                debit_account_id=row.debit_account_id,
                credit_account_id=row.credit_account_id,
                amount_fen=row.amount_fen,
                kind=TransferKind(row.kind),
                pending_id=row.pending_id,
                timeout_seconds=row.timeout_seconds,
                reference=row.reference,
            ),
            {
                "pending_state": PendingState(row.pending_state) if row.pending_state else None,
                "expires_at": row.expires_at,
                "created_at": row.created_at,
                "sequence": row.sequence,
            },
        )

    async def append(
        self, transfer: Transfer, moves: Sequence[Movement], created_at: datetime, expires_at: datetime | None
    ) -> None:
        """Record the transfer and apply its movements. Raises IntegrityError if the id is taken (or the
        pending transfer is settled) by a concurrent transaction, BalanceRuleBroken if an account's
        balance rule refuses a movement."""
        await self.session.execute(
            orm.ledger_transfers.insert().values(
                id=transfer.id,
                debit_account_id=transfer.debit_account_id,
                credit_account_id=transfer.credit_account_id,
                amount_fen=transfer.amount_fen,
                kind=transfer.kind.value,
                pending_id=transfer.pending_id,
                timeout_seconds=transfer.timeout_seconds,
                reference=transfer.reference,
                pending_state=PendingState.PENDING.value if transfer.kind == TransferKind.PENDING else None,
                expires_at=expires_at,
                created_at=created_at,
            )
        )
        if transfer.pending_id is not None:
            state = PendingState.POSTED if transfer.kind == TransferKind.POST_PENDING else PendingState.VOIDED
            await self.session.execute(
                update(orm.ledger_transfers)
                .where(orm.ledger_transfers.c.id == transfer.pending_id)
                .values(pending_state=state.value)
            )
        a = orm.ledger_accounts.c
        # Accounts in id order: two transfers over the same pair of accounts lock them in the same order.
        for move in sorted(moves, key=lambda m: (m.account_id, m.column)):
            try:
                await self.session.execute(
                    update(orm.ledger_accounts)
                    .where(a.id == move.account_id)
                    .values({a[move.column]: a[move.column] + move.amount_fen})
                )
            except IntegrityError as exc:
                if "ck_debits_must_not_exceed_credits" in str(exc.orig):
                    raise BalanceRuleBroken(move.account_id) from None
                raise

    async def statement(self, account_id: str, after_sequence: int, limit: int) -> list[dict[str, Any]]:
        t = orm.ledger_transfers.c
        rows = await self.session.execute(
            select(orm.ledger_transfers)
            .where(
                or_(t.debit_account_id == account_id, t.credit_account_id == account_id), t.sequence > after_sequence
            )
            .order_by(t.sequence)
            .limit(limit)
        )
        return [dict(r._mapping) for r in rows]
