"""Reconciliation: a provider's statement against our payments of one county and month. The statement
settles payments whose outcome we lack (in the same transaction as the report), and every item that
needs an operator is published."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from services.disbursement.adapters.uow import DisbursementUnitOfWork
from services.disbursement.domain.reconciliation import parse_statement, reconcile
from services.disbursement.service_layer.payments import apply_outcomes
from shared.contracts.disbursement import ReconciliationCompleted, ReconciliationItemFlagged
from shared.errors import NotFound
from shared.ids import new_record_id


async def reconcile_statement(
    uow: DisbursementUnitOfWork, region_code: str, month: str, statement: str, actor: str
) -> dict[str, Any]:
    lines = parse_statement(statement)  # StatementInvalid before anything is read or written
    owners = await uow.payments.by_references([line.reference_id for line in lines])
    expected = await uow.payments.of_county_month(region_code, month)
    in_scope = {p.id: True for p in expected}
    items, outcomes = reconcile(lines, owners, expected, in_scope)
    settled = await apply_outcomes(uow, outcomes)
    counts: dict[str, int] = {}
    for item in items:
        counts[item.kind] = counts.get(item.kind, 0) + 1
    reconciliation_id = new_record_id()
    reconciliation = {
        "id": reconciliation_id,
        "region_code": region_code,
        "month": month,
        "lines": len(lines),
        "counts": counts,
        "settled": len(settled),
        "created_by": actor,
        "created_at": uow.now(),
    }
    await uow.reconciliations.add(reconciliation, [asdict(item) for item in items])
    for item in items:
        if item.needs_operator:
            uow.emit(
                ReconciliationItemFlagged(
                    reconciliation_id=reconciliation_id,
                    region_code=region_code,
                    month=month,
                    kind=item.kind,
                    reference_id=item.reference_id,
                    payment_id=item.payment_id,
                    household_id=item.household_id,
                    detail=item.detail,
                    statement_amount_fen=item.statement_amount_fen,
                    payment_amount_fen=item.payment_amount_fen,
                ),
                subject=item.household_id or region_code,
            )
    uow.emit(
        ReconciliationCompleted(
            reconciliation_id=reconciliation_id,
            region_code=region_code,
            month=month,
            lines=len(lines),
            counts=counts,
            settled=len(settled),
        ),
        subject=region_code,
    )
    return await reconciliation_view(uow, reconciliation_id)


async def reconciliation_view(uow: DisbursementUnitOfWork, reconciliation_id: str, kind: str | None = None):
    reconciliation = await uow.reconciliations.get(reconciliation_id)
    if reconciliation is None:
        raise NotFound(f"no reconciliation {reconciliation_id}")
    return {**reconciliation, "items": await uow.reconciliations.items(reconciliation_id, kind, 1000)}
