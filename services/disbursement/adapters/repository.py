"""Entitlements and the ledger, persisted. SQL stays here; the rules are the domain's."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.disbursement.adapters import orm
from services.disbursement.domain.entitlements import Entitlement, EntitlementStatus
from services.disbursement.domain.ledger import Movement, PendingState, Transfer, TransferKind, expires_at
from services.disbursement.domain.payments import Payment, PaymentStatus
from services.disbursement.domain.relief import ReliefCase
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
            cause=row.cause,
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
        "cause": e.cause,
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
        return None if row is None else _transfer(row)

    async def transfers(self, transfer_ids: Sequence[str]) -> dict[str, tuple[Transfer, dict[str, Any]]]:
        """Many transfers by id (see `transfer`)."""
        if not transfer_ids:
            return {}
        t = orm.ledger_transfers.c
        rows = await self.session.execute(select(orm.ledger_transfers).where(t.id.in_(sorted(set(transfer_ids)))))
        return {row.id: _transfer(row) for row in rows}

    async def append_many(self, transfers: Sequence[Transfer], moves: Sequence[Movement], created_at: datetime) -> None:
        """Record transfers and apply their movements: one insert, the pending transfers they settle marked
        in one update per outcome, each account's movements summed into one update. Raises IntegrityError
        if an id is taken (or a pending transfer settled) by a concurrent transaction, BalanceRuleBroken if
        an account's balance rule refuses a movement."""
        if not transfers:
            return
        await insert_many(
            self.session,
            orm.ledger_transfers,
            [
                {
                    "id": t.id,
                    "debit_account_id": t.debit_account_id,
                    "credit_account_id": t.credit_account_id,
                    "amount_fen": t.amount_fen,
                    "kind": t.kind.value,
                    "pending_id": t.pending_id,
                    "timeout_seconds": t.timeout_seconds,
                    "reference": t.reference,
                    "pending_state": PendingState.PENDING.value if t.kind == TransferKind.PENDING else None,
                    "expires_at": expires_at(t, created_at),
                    "created_at": created_at,
                }
                for t in transfers
            ],
        )
        for kind, state in (
            (TransferKind.POST_PENDING, PendingState.POSTED),
            (TransferKind.VOID_PENDING, PendingState.VOIDED),
        ):
            settled = [t.pending_id for t in transfers if t.kind == kind and t.pending_id]
            if settled:
                await self.session.execute(
                    update(orm.ledger_transfers)
                    .where(orm.ledger_transfers.c.id.in_(settled))
                    .values(pending_state=state.value)
                )
        await self._apply(moves)

    async def _apply(self, moves: Sequence[Movement]) -> None:
        """Each account's movements summed into one update, accounts in id order (concurrent transactions
        lock them in the same order). The balance rule is the database's CHECK."""
        totals: dict[tuple[str, str], int] = {}
        for move in moves:
            totals[(move.account_id, move.column)] = totals.get((move.account_id, move.column), 0) + move.amount_fen
        a = orm.ledger_accounts.c
        for account, columns in _by_account(totals).items():
            try:
                await self.session.execute(
                    update(orm.ledger_accounts)
                    .where(a.id == account)
                    .values({a[column]: a[column] + amount for column, amount in columns.items()})
                )
            except IntegrityError as exc:
                if "ck_debits_must_not_exceed_credits" in str(exc.orig):
                    raise BalanceRuleBroken(account) from None
                raise

    async def expired_pending(self, now: datetime, limit: int) -> list[Transfer]:
        """Pending transfers past their timeout, still pending, locked (rows other workers hold skipped)."""
        t = orm.ledger_transfers.c
        query = (
            select(orm.ledger_transfers)
            .where(t.pending_state == PendingState.PENDING.value, t.expires_at.is_not(None), t.expires_at <= now)
            .order_by(t.expires_at)
            .limit(limit)
        )
        if self.session.bind.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        return [_transfer(row)[0] for row in await self.session.execute(query)]

    async def expire(self, transfers: Sequence[Transfer], moves: Sequence[Movement]) -> None:
        """Mark pending transfers expired and release what they held (no new transfer: TigerBeetle's way)."""
        if not transfers:
            return
        await self.session.execute(
            update(orm.ledger_transfers)
            .where(orm.ledger_transfers.c.id.in_([t.id for t in transfers]))
            .values(pending_state=PendingState.EXPIRED.value)
        )
        await self._apply(moves)

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


def _transfer(row: Any) -> tuple[Transfer, dict[str, Any]]:
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


def _by_account(totals: dict[tuple[str, str], int]) -> dict[str, dict[str, int]]:
    """Summed movements per account, accounts in id order (so concurrent batches lock them alike)."""
    found: dict[str, dict[str, int]] = {}
    for (account, column), amount in sorted(totals.items()):
        if amount:
            found.setdefault(account, {})[column] = amount
    return found


class PaymentRepository:
    """Payment runs, payments and the references sent for them."""

    def __init__(self, session: AsyncSession, clock: Clock):
        self.session, self.clock = session, clock

    @property
    def _postgres(self) -> bool:
        return self.session.bind.dialect.name == "postgresql"

    # Runs

    async def add_run(self, run: dict[str, Any]) -> None:
        await self.session.execute(orm.payment_runs.insert().values(**run))

    async def run(self, run_id: str, *, lock: bool = False) -> dict[str, Any] | None:
        query = select(orm.payment_runs).where(orm.payment_runs.c.id == run_id)
        if lock and self._postgres:
            query = query.with_for_update()
        row = (await self.session.execute(query)).first()
        return dict(row._mapping) if row else None

    async def active_run(self, region_code: str, month: str) -> dict[str, Any] | None:
        r = orm.payment_runs.c
        row = (
            await self.session.execute(
                select(orm.payment_runs).where(r.region_code == region_code, r.month == month, r.status != "completed")
            )
        ).first()
        return dict(row._mapping) if row else None

    async def runs(self, region_prefix: str, month: str | None, limit: int) -> list[dict[str, Any]]:
        r = orm.payment_runs.c
        query = select(orm.payment_runs).where(r.region_code.startswith(region_prefix))
        if month:
            query = query.where(r.month == month)
        rows = await self.session.execute(query.order_by(r.created_at.desc(), r.id.desc()).limit(limit))
        return [dict(row._mapping) for row in rows]

    async def unfinished_runs(self) -> list[tuple[str, str]]:
        r = orm.payment_runs.c
        rows = await self.session.execute(
            select(r.id, r.traceparent).where(r.status.in_(["scheduling", "submitting", "awaiting"]))
        )
        return [(row.id, row.traceparent) for row in rows]

    async def update_run(self, run_id: str, **values: Any) -> None:
        await self.session.execute(
            update(orm.payment_runs).where(orm.payment_runs.c.id == run_id).values(**values, updated_at=self.clock())
        )

    async def run_totals(self, run_id: str) -> tuple[dict[str, int], dict[str, int]]:
        """Payments of a run by status: counts and amounts."""
        p = orm.payments.c
        rows = await self.session.execute(
            select(p.status, func.count(), func.coalesce(func.sum(p.amount_fen), 0))
            .where(p.run_id == run_id)
            .group_by(p.status)
        )
        counts, amounts = {}, {}
        for status, count, amount in rows:
            counts[status], amounts[status] = int(count), int(amount)
        return counts, amounts

    async def payable_entitlements(self, county: str, after_id: str, limit: int) -> list[Entitlement]:
        """The county's active entitlements after `after_id`, in id order (the run's cursor)."""
        e = orm.entitlements.c
        rows = await self.session.execute(
            select(orm.entitlements)
            .where(e.region_code.startswith(county), e.status == "active", e.id > after_id)
            .order_by(e.id)
            .limit(limit)
        )
        return [EntitlementRepository._entitlement(row) for row in rows]

    # Payments

    async def add_payments(self, payments: Sequence[Payment]) -> list[str]:
        """Insert payments, skipping any that would break a uniqueness rule (already paid this month);
        returns the ids inserted."""
        if not payments:
            return []
        now = self.clock()
        insert = pg_insert if self._postgres else sqlite_insert
        # Parameters as a list (executemany): SQLAlchemy sends them in batches under one cached statement,
        # instead of compiling a VALUES clause with every row's parameters each time.
        inserted = await self.session.execute(
            insert(orm.payments).on_conflict_do_nothing().returning(orm.payments.c.id),
            [_payment_row(p) | {"status_changed_at": now, "created_at": now, "updated_at": now} for p in payments],
        )
        ids = [row.id for row in inserted]
        kept = set(ids)
        await self.add_references([p for p in payments if p.id in kept])
        return ids

    async def add_references(self, payments: Sequence[Payment]) -> None:
        now = self.clock()
        await insert_many(
            self.session,
            orm.payment_references,
            [
                {"reference_id": p.reference_id, "payment_id": p.id, "attempt": p.attempt, "created_at": now}
                for p in payments
            ],
        )

    async def get(self, payment_id: str, *, lock: bool = False) -> Payment | None:
        found = await self.get_many([payment_id], lock=lock)
        return found.get(payment_id)

    async def get_many(self, payment_ids: Sequence[str], *, lock: bool = False) -> dict[str, Payment]:
        if not payment_ids:
            return {}
        query = select(orm.payments).where(orm.payments.c.id.in_(sorted(set(payment_ids)))).order_by(orm.payments.c.id)
        if lock and self._postgres:
            query = query.with_for_update()
        return {row.id: _payment(row) for row in await self.session.execute(query)}

    async def by_references(self, reference_ids: Sequence[str]) -> dict[str, Payment]:
        """reference → its payment, locked (callbacks, status answers and statements name references)."""
        if not reference_ids:
            return {}
        r = orm.payment_references.c
        rows = await self.session.execute(
            select(r.reference_id, r.payment_id).where(r.reference_id.in_(sorted(set(reference_ids))))
        )
        owners = {row.reference_id: row.payment_id for row in rows}
        payments = await self.get_many(list(owners.values()), lock=True)
        return {reference: payments[pid] for reference, pid in owners.items() if pid in payments}

    async def claim(
        self,
        run_id: str | None,
        statuses: Sequence[PaymentStatus],
        limit: int,
        *,
        changed_before: datetime | None = None,
    ) -> list[Payment]:
        """Payments of a run (None: payments outside runs, i.e. temporary aid) in `statuses`, locked; rows
        another worker holds are skipped."""
        p = orm.payments.c
        of_run = p.run_id.is_(None) if run_id is None else p.run_id == run_id
        query = select(orm.payments).where(of_run, p.status.in_([s.value for s in statuses]))
        if changed_before is not None:
            query = query.where(p.status_changed_at < changed_before)
        query = query.order_by(p.id).limit(limit)
        if self._postgres:
            query = query.with_for_update(skip_locked=True)
        return [_payment(row) for row in await self.session.execute(query)]

    async def add_retry(self, payment_id: str, attempt: int, actor: str, reason: str) -> None:
        await self.session.execute(
            orm.payment_retries.insert().values(
                payment_id=payment_id, attempt=attempt, actor=actor, reason=reason, at=self.clock()
            )
        )

    async def retries(self, payment_id: str) -> list[dict[str, Any]]:
        r = orm.payment_retries.c
        rows = await self.session.execute(
            select(r.attempt, r.actor, r.reason, r.at).where(r.payment_id == payment_id).order_by(r.attempt)
        )
        return [dict(row._mapping) for row in rows]

    async def of_household(self, household_id: str) -> list[Payment]:
        p = orm.payments.c
        rows = await self.session.execute(
            select(orm.payments).where(p.household_id == household_id).order_by(p.month.desc(), p.programme)
        )
        return [_payment(row) for row in rows]

    async def of_county_month(self, county: str, month: str) -> list[Payment]:
        p = orm.payments.c
        rows = await self.session.execute(
            select(orm.payments).where(p.region_code.startswith(county), p.month == month).order_by(p.id)
        )
        return [_payment(row) for row in rows]

    async def of_run(self, run_id: str, status: str | None, after_id: str, limit: int) -> list[Payment]:
        p = orm.payments.c
        query = select(orm.payments).where(p.run_id == run_id, p.id > after_id)
        if status:
            query = query.where(p.status == status)
        return [_payment(row) for row in await self.session.execute(query.order_by(p.id).limit(limit))]

    async def mark_stuck(self, payments: Sequence[Payment]) -> None:
        """Record that a payment was reported stuck (its reason), keeping the time its state began."""
        p = orm.payments.c
        for payment in payments:
            await self.session.execute(
                update(orm.payments).where(p.id == payment.id).values(status_reason=payment.status_reason)
            )

    async def save_changes(self, changed: Sequence[Payment]) -> None:
        """Write the new state of payments (status, attempt, reference, batch, reason): one statement,
        executed for many rows."""
        if not changed:
            return
        now = self.clock()
        p = orm.payments.c
        await self.session.execute(
            update(orm.payments)
            .where(p.id == bindparam("b_id"))
            .values(
                status=bindparam("b_status"),
                status_reason=bindparam("b_reason"),
                attempt=bindparam("b_attempt"),
                reference_id=bindparam("b_reference"),
                batch_id=bindparam("b_batch"),
                status_changed_at=now,
                updated_at=now,
            ),
            [
                {
                    "b_id": payment.id,
                    "b_status": payment.status.value,
                    "b_reason": payment.status_reason,
                    "b_attempt": payment.attempt,
                    "b_reference": payment.reference_id,
                    "b_batch": payment.batch_id,
                }
                for payment in changed
            ],
        )


def _payment_row(p: Payment) -> dict[str, Any]:
    return {
        "id": p.id,
        "run_id": p.run_id,
        "entitlement_id": p.entitlement_id,
        "household_id": p.household_id,
        "region_code": p.region_code,
        "programme": p.programme,
        "member_key": p.member_key,
        "month": p.month,
        "kind": p.kind,
        "amount_fen": p.amount_fen,
        "status": p.status.value,
        "status_reason": p.status_reason,
        "attempt": p.attempt,
        "reference_id": p.reference_id,
        "batch_id": p.batch_id,
        "cause": p.cause,
    }


def _payment(row: Any) -> Payment:
    return Payment(
        id=row.id,
        run_id=row.run_id,
        entitlement_id=row.entitlement_id,
        household_id=row.household_id,
        region_code=row.region_code,
        programme=row.programme,
        member_key=row.member_key,
        month=row.month,
        kind=row.kind,
        amount_fen=row.amount_fen,
        status=PaymentStatus(row.status),
        attempt=row.attempt,
        reference_id=row.reference_id,
        status_reason=row.status_reason,
        batch_id=row.batch_id,
        cause=row.cause,
    )


class ReconciliationRepository:
    def __init__(self, session: AsyncSession, clock: Clock):
        self.session, self.clock = session, clock

    async def add(self, reconciliation: dict[str, Any], items: Sequence[dict[str, Any]]) -> None:
        await self.session.execute(orm.reconciliations.insert().values(**reconciliation))
        await insert_many(
            self.session,
            orm.reconciliation_items,
            [{"reconciliation_id": reconciliation["id"], "position": n} | item for n, item in enumerate(items)],
        )

    async def get(self, reconciliation_id: str) -> dict[str, Any] | None:
        row = (
            await self.session.execute(select(orm.reconciliations).where(orm.reconciliations.c.id == reconciliation_id))
        ).first()
        return dict(row._mapping) if row else None

    async def items(self, reconciliation_id: str, kind: str | None, limit: int) -> list[dict[str, Any]]:
        i = orm.reconciliation_items.c
        query = select(orm.reconciliation_items).where(i.reconciliation_id == reconciliation_id)
        if kind:
            query = query.where(i.kind == kind)
        rows = await self.session.execute(query.order_by(i.position).limit(limit))
        return [{k: v for k, v in row._mapping.items() if k != "reconciliation_id"} for row in rows]


class HouseholdDirectory:
    """Where each household is and how many active members it has, kept from the registry's events."""

    def __init__(self, session: AsyncSession):
        self.session = session

    async def record(self, households: Sequence[dict[str, Any]]) -> None:
        """Upsert, keeping the newest version of each household (events may arrive late or twice)."""
        newest: dict[str, dict[str, Any]] = {}
        for household in households:
            known = newest.get(household["household_id"])
            if known is None or household["version"] > known["version"]:
                newest[household["household_id"]] = household
        if not newest:
            return
        insert = pg_insert if self.session.bind.dialect.name == "postgresql" else sqlite_insert
        statement = insert(orm.households).values(list(newest.values()))
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=["household_id"],
                set_={
                    "region_code": statement.excluded.region_code,
                    "active_members": statement.excluded.active_members,
                    "version": statement.excluded.version,
                },
                where=orm.households.c.version < statement.excluded.version,
            )
        )

    async def get(self, household_id: str) -> dict[str, Any] | None:
        row = (
            await self.session.execute(select(orm.households).where(orm.households.c.household_id == household_id))
        ).first()
        return dict(row._mapping) if row else None

    async def get_many(self, household_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        h = orm.households.c
        rows = await self.session.execute(select(orm.households).where(h.household_id.in_(list(household_ids))))
        return {row.household_id: dict(row._mapping) for row in rows}


class AidRepository:
    def __init__(self, session: AsyncSession, clock: Clock):
        self.session, self.clock = session, clock

    async def add(self, application: dict[str, Any]) -> None:
        await self.session.execute(orm.aid_applications.insert().values(**application))

    async def get(self, application_id: str, *, lock: bool = False) -> dict[str, Any] | None:
        query = select(orm.aid_applications).where(orm.aid_applications.c.id == application_id)
        if lock and self.session.bind.dialect.name == "postgresql":
            query = query.with_for_update()
        row = (await self.session.execute(query)).first()
        return dict(row._mapping) if row else None

    async def by_payment(self, payment_ids: Sequence[str]) -> list[dict[str, Any]]:
        if not payment_ids:
            return []
        a = orm.aid_applications.c
        query = select(orm.aid_applications).where(a.payment_id.in_(list(payment_ids)))
        if self.session.bind.dialect.name == "postgresql":
            query = query.with_for_update()
        return [dict(row._mapping) for row in await self.session.execute(query)]

    async def update(self, application_id: str, **values: Any) -> None:
        await self.session.execute(
            update(orm.aid_applications)
            .where(orm.aid_applications.c.id == application_id)
            .values(**values, updated_at=self.clock())
        )

    async def add_step(self, application_id: str, step: str, actor: str, role: str, reason: str | None) -> None:
        s = orm.aid_steps.c
        position = (
            await self.session.execute(select(func.count()).where(s.application_id == application_id))
        ).scalar_one()
        await self.session.execute(
            orm.aid_steps.insert().values(
                application_id=application_id,
                position=position,
                step=step,
                actor=actor,
                role=role,
                reason=reason,
                at=self.clock(),
            )
        )

    async def steps(self, application_id: str) -> list[dict[str, Any]]:
        s = orm.aid_steps.c
        rows = await self.session.execute(
            select(orm.aid_steps).where(s.application_id == application_id).order_by(s.position)
        )
        return [{k: v for k, v in row._mapping.items() if k != "application_id"} for row in rows]

    async def of_household(self, household_id: str) -> list[dict[str, Any]]:
        a = orm.aid_applications.c
        rows = await self.session.execute(
            select(orm.aid_applications).where(a.household_id == household_id).order_by(a.created_at.desc())
        )
        return [dict(row._mapping) for row in rows]

    async def awaiting_payment_with_deadline(self, before: datetime) -> list[dict[str, Any]]:
        """Approved, unpaid applications whose deadline falls before `before`, locked (skipping rows
        another worker holds)."""
        a = orm.aid_applications.c
        query = (
            select(orm.aid_applications)
            .where(a.status == "approved", a.deadline.is_not(None), a.deadline < before)
            .order_by(a.deadline)
            .limit(500)
        )
        if self.session.bind.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        return [dict(row._mapping) for row in await self.session.execute(query)]


class ReliefRepository:
    """Disaster-relief cases as documents, written version by version under the row's lock."""

    def __init__(self, session: AsyncSession, clock: Clock):
        self.session, self.clock = session, clock

    async def get(self, case_id: str, *, lock: bool = False) -> ReliefCase | None:
        query = select(orm.relief_cases.c.document).where(orm.relief_cases.c.id == case_id)
        if lock and self.session.bind.dialect.name == "postgresql":
            query = query.with_for_update()
        document = await self.session.scalar(query)
        return ReliefCase.model_validate(document) if document else None

    async def get_many(self, case_ids: Sequence[str], *, lock: bool = False) -> list[ReliefCase]:
        c = orm.relief_cases.c
        query = select(c.document).where(c.id.in_(sorted(set(case_ids)))).order_by(c.id)
        if lock and self.session.bind.dialect.name == "postgresql":
            query = query.with_for_update()
        return [ReliefCase.model_validate(document) for document in await self.session.scalars(query)]

    async def add(self, case: ReliefCase) -> None:
        case.version = 1
        await self.session.execute(orm.relief_cases.insert().values(**self._row(case), created_at=self.clock()))

    async def save(self, case: ReliefCase) -> None:
        """Write the case's next version (the caller holds its row lock)."""
        case.version += 1
        c = orm.relief_cases.c
        await self.session.execute(
            update(orm.relief_cases).where(c.id == case.id, c.version == case.version - 1).values(**self._row(case))
        )

    def _row(self, case: ReliefCase) -> dict[str, Any]:
        return {
            "id": case.id,
            "region_code": case.region_code,
            "status": case.status.value,
            "version": case.version,
            "document": case.model_dump(mode="json"),
            "updated_at": self.clock(),
        }

    async def list(self, *, region_prefix: str, status: str | None, after_id: str, limit: int) -> list[ReliefCase]:
        c = orm.relief_cases.c
        query = select(c.document).where(c.region_code.startswith(region_prefix, autoescape=True), c.id > after_id)
        if status:
            query = query.where(c.status == status)
        rows = await self.session.scalars(query.order_by(c.id).limit(limit))
        return [ReliefCase.model_validate(document) for document in rows]
