"""Reconciling a provider's statement with our payments, as pure rules.

A statement is CSV, one line per instruction the provider holds: `reference_id`, `amount` (yuan, two
decimals), `status` (paid | rejected | pending | returned), optional `reason`, `value_date`. Each line is
matched to a payment by its reference (every attempt's reference is kept); each of our payments in the
reconciled county and month that reached the provider is expected on it. The result says, per item:
- `paid`: the statement confirms what we hold (or settles it: an unknown or submitted payment becomes
  paid, rejected or returned as the line says);
- `missing`: a payment that reached (or may have reached) the provider is not on the statement;
- `unknown_reference`: a line for a reference we never sent;
- `amount_mismatch`: the line's amount is not the payment's;
- `duplicate`: a reference on the statement twice, or two attempts of one payment both paid;
- `status_mismatch`: the statement contradicts a final outcome we hold (paid here, rejected there).
Every item but `paid` needs an operator.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from services.disbursement.domain.payments import Outcome, Payment, PaymentStatus, fen_of

STATEMENT_STATUSES = {
    "paid": PaymentStatus.PAID,
    "rejected": PaymentStatus.REJECTED,
    "returned": PaymentStatus.RETURNED,
    "pending": PaymentStatus.SUBMITTED,
}
NEEDS_OPERATOR = frozenset({"missing", "unknown_reference", "amount_mismatch", "duplicate", "status_mismatch"})
# Payments that reached, or may have reached, the provider: the statement should show them.
SENT = frozenset(
    {
        PaymentStatus.SUBMITTING,
        PaymentStatus.SUBMITTED,
        PaymentStatus.UNKNOWN,
        PaymentStatus.PAID,
        PaymentStatus.RETURNED,
        PaymentStatus.REJECTED,
    }
)
MAX_LINES = 1_000_000


class StatementInvalid(ValueError):
    def __init__(self, line: int, field: str, rule: str, message: str):
        super().__init__(f"line {line}: {message}")
        self.line, self.field, self.rule = line, field, rule


@dataclass(frozen=True)
class StatementLine:
    line: int
    reference_id: str
    amount_fen: int
    status: PaymentStatus
    reason: str | None


@dataclass(frozen=True)
class Item:
    kind: str
    reference_id: str | None
    payment_id: str | None
    household_id: str | None
    detail: str
    statement_amount_fen: int | None = None
    payment_amount_fen: int | None = None
    line: int | None = None

    @property
    def needs_operator(self) -> bool:
        return self.kind in NEEDS_OPERATOR


def _item(line: StatementLine, payment: Payment, kind: str, detail: str) -> Item:
    return Item(
        kind,
        line.reference_id,
        payment.id,
        payment.household_id,
        detail,
        line.amount_fen,
        payment.amount_fen,
        line.line,
    )


def parse_statement(text: str) -> list[StatementLine]:
    """The statement's lines; StatementInvalid names the first line and field that break a rule."""
    reader = csv.DictReader(io.StringIO(text))
    missing = {"reference_id", "amount", "status"} - set(reader.fieldnames or [])
    if missing:
        raise StatementInvalid(1, sorted(missing)[0], "required_column", f"the header lacks {sorted(missing)}")
    lines = []
    for number, row in enumerate(reader, start=2):
        if number > MAX_LINES:
            raise StatementInvalid(number, "body", "too_many_lines", f"at most {MAX_LINES} lines")
        reference = (row.get("reference_id") or "").strip()
        if not reference or len(reference) > 80:
            raise StatementInvalid(number, "reference_id", "required", "a reference of 1 to 80 characters")
        try:
            amount = fen_of((row.get("amount") or "").strip())
        except (ValueError, ArithmeticError):
            raise StatementInvalid(number, "amount", "amount", "an amount in yuan with two decimals") from None
        status = STATEMENT_STATUSES.get((row.get("status") or "").strip())
        if status is None:
            raise StatementInvalid(number, "status", "enum", f"status is one of {sorted(STATEMENT_STATUSES)}")
        lines.append(StatementLine(number, reference, amount, status, (row.get("reason") or "").strip() or None))
    return lines


def reconcile(
    lines: Iterable[StatementLine],
    owners: Mapping[str, Payment],
    expected: Iterable[Payment],
    in_scope: Mapping[str, bool],
) -> tuple[list[Item], list[Outcome]]:
    """Items of the report, and the outcomes the statement settles. `owners` maps each reference on the
    statement that is ours to its payment; `expected` are our payments of the reconciled county and
    month; `in_scope` says for a payment id whether it belongs to them (lines for other counties or
    months are left to their own reconciliation)."""
    items: list[Item] = []
    outcomes: list[Outcome] = []
    seen_references: set[str] = set()
    paid_attempts: dict[str, str] = {}  # payment id → the reference of its attempt paid on the statement
    for line in lines:
        payment = owners.get(line.reference_id)
        if payment is None:
            items.append(
                Item(
                    "unknown_reference",
                    line.reference_id,
                    None,
                    None,
                    "a reference we never sent",
                    line.amount_fen,
                    None,
                    line.line,
                )
            )
            continue
        if not in_scope.get(payment.id, False):
            continue

        if line.reference_id in seen_references:
            items.append(_item(line, payment, "duplicate", "the same reference twice on the statement"))
            continue
        seen_references.add(line.reference_id)
        if line.status in (PaymentStatus.PAID, PaymentStatus.RETURNED):
            earlier = paid_attempts.get(payment.id)
            if earlier is not None:
                items.append(_item(line, payment, "duplicate", f"attempt {earlier} was paid too"))
                continue
            paid_attempts[payment.id] = line.reference_id
        if line.amount_fen != payment.amount_fen:
            items.append(_item(line, payment, "amount_mismatch", "the statement's amount is not the payment's"))
            continue
        if line.reference_id != payment.reference_id:
            if line.status == PaymentStatus.PAID and payment.status == PaymentStatus.PAID:
                items.append(_item(line, payment, "duplicate", "an earlier attempt was paid as well"))
            continue  # an earlier, rejected attempt: history, not an outcome
        if line.status == PaymentStatus.SUBMITTED:
            continue  # still pending at the provider: neither confirmed nor missing
        final_here = payment.status in (PaymentStatus.PAID, PaymentStatus.REJECTED, PaymentStatus.RETURNED)
        contradicts = (
            final_here
            and line.status != payment.status
            and not (payment.status == PaymentStatus.PAID and line.status == PaymentStatus.RETURNED)
        )
        if contradicts:
            items.append(
                _item(line, payment, "status_mismatch", f"{payment.status.value} here, {line.status.value} there")
            )
            continue
        if payment.status != line.status:
            outcomes.append(Outcome(line.reference_id, line.status, line.reason, line.amount_fen))
        if line.status == PaymentStatus.PAID or line.status == PaymentStatus.RETURNED:
            confirmed = payment.status == line.status
            items.append(_item(line, payment, "paid", "confirmed" if confirmed else f"settled as {line.status.value}"))
    on_statement = {p.id for p in owners.values()}
    for payment in expected:
        if payment.status in SENT and payment.id not in on_statement:
            items.append(
                Item(
                    "missing",
                    payment.reference_id,
                    payment.id,
                    payment.household_id,
                    f"{payment.status.value} here, not on the statement",
                    None,
                    payment.amount_fen,
                )
            )
    return items, outcomes
