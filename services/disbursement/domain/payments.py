"""Monthly payments and their life, as pure rules: no I/O, no clock.

A payment's life (issue 11 §1):

    scheduled → submitting → submitted → paid | rejected
                    │            │
                    └────────────┴──→ unknown → paid | rejected | scheduled (the provider never got it)
    paid → returned;  rejected | returned → scheduled again by an operator's retry (a new attempt)

`submitting` is written and committed *before* the instruction leaves: if the process dies after the
provider accepted it but before "submitted" is committed, the payment is found in `submitting` and
treated as unknown. An unknown payment is never resent blind: only the provider's answer to a status
query (or a statement line) settles it, and only "the provider has never seen this reference" lets it
go out again, under the same reference, which the provider would refuse as a duplicate anyway.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum

MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class PaymentStatus(StrEnum):
    SCHEDULED = "scheduled"
    SUBMITTING = "submitting"  # being sent: the outcome is unknown until the provider acknowledges
    SUBMITTED = "submitted"
    PAID = "paid"
    REJECTED = "rejected"
    UNKNOWN = "unknown"
    RETURNED = "returned"


# Where each status may go, and only there (callbacks that arrive late or twice change nothing).
TRANSITIONS: dict[PaymentStatus, frozenset[PaymentStatus]] = {
    PaymentStatus.SCHEDULED: frozenset({PaymentStatus.SUBMITTING}),
    PaymentStatus.SUBMITTING: frozenset(
        {PaymentStatus.SUBMITTED, PaymentStatus.UNKNOWN, PaymentStatus.PAID, PaymentStatus.REJECTED}
    ),
    PaymentStatus.SUBMITTED: frozenset({PaymentStatus.PAID, PaymentStatus.REJECTED, PaymentStatus.UNKNOWN}),
    PaymentStatus.UNKNOWN: frozenset({PaymentStatus.PAID, PaymentStatus.REJECTED, PaymentStatus.SCHEDULED}),
    PaymentStatus.PAID: frozenset({PaymentStatus.RETURNED}),
    PaymentStatus.REJECTED: frozenset({PaymentStatus.SCHEDULED}),
    PaymentStatus.RETURNED: frozenset({PaymentStatus.SCHEDULED}),
}
# Money has left (or may have left): the pending ledger transfer stands until the outcome is known.
IN_FLIGHT = frozenset({PaymentStatus.SUBMITTING, PaymentStatus.SUBMITTED, PaymentStatus.UNKNOWN})
FINAL = frozenset({PaymentStatus.PAID, PaymentStatus.REJECTED, PaymentStatus.RETURNED})


def may_move(current: PaymentStatus, target: PaymentStatus) -> bool:
    return target in TRANSITIONS[current]


class RunStatus(StrEnum):
    SCHEDULING = "scheduling"  # payments being created from the county's entitlements
    SUBMITTING = "submitting"  # scheduled payments being sent to the provider
    AWAITING = "awaiting"  # everything sent; waiting for the provider's outcomes
    PAUSED = "paused"
    COMPLETED = "completed"  # every payment has a final outcome


ACTIVE_RUN = frozenset({RunStatus.SCHEDULING, RunStatus.SUBMITTING, RunStatus.AWAITING, RunStatus.PAUSED})


def parse_month(month: str) -> tuple[date, date]:
    """`YYYY-MM` → its first and last day; ValueError otherwise."""
    found = MONTH.match(month)
    if not found:
        raise ValueError("a month is written YYYY-MM, e.g. 2026-11")
    first = date(int(found.group(1)), int(found.group(2)), 1)
    following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return first, following - timedelta(days=1)


def reference_id(entitlement_id: str, month: str, attempt: int) -> str:
    """The payment's idempotency reference at the provider, derived from what it pays: the same
    entitlement and month always give the same reference, so a resend is recognised as a duplicate. A
    retry after a final rejection or return is a new attempt and so a new instruction."""
    return f"{entitlement_id}.{month.replace('-', '')}.{attempt}"


MAX_AMOUNT_FEN = 10**15  # DCI's Amount has at most 13 digits before the point


def amount_text(fen: int) -> str:
    """Fen as the DCI `Amount` string (`^\\d{1,13}\\.\\d{1,2}$`), exact."""
    if not 0 <= fen < MAX_AMOUNT_FEN:
        raise ValueError("an amount is between 0 and 13 digits of yuan")
    return f"{fen // 100}.{fen % 100:02d}"


AMOUNT = re.compile(r"^\d{1,13}(\.\d{1,2})?$")  # DCI's `Amount`, the decimals optional


def fen_of(amount: str) -> int:
    """A DCI `Amount` string back to fen; ValueError unless it is yuan with at most two decimals."""
    if not isinstance(amount, str) or not AMOUNT.match(amount):
        raise ValueError(f"{amount!r} is not an amount in yuan with at most two decimals")
    return int(Decimal(amount) * 100)


@dataclass(frozen=True)
class Payment:
    id: str
    run_id: str | None
    entitlement_id: str | None
    household_id: str
    region_code: str
    programme: str
    member_key: str
    month: str
    kind: str
    amount_fen: int
    status: PaymentStatus
    attempt: int
    reference_id: str
    status_reason: str | None = None
    batch_id: str | None = None
    # The decision event behind it, "<traceparent> <event id> <correlation id>" (see entitlements).
    cause: str | None = None

    def transfer_id(self, step: str = "") -> str:
        """Ledger transfer ids of this payment: `owed` when it falls due, then per attempt the pending
        transfer (money in flight) and its `post`, `void` or `return`."""
        if step == "owed":
            return f"pay:{self.id}:owed"
        return f"pay:{self.id}:{self.attempt}" + (f":{step}" if step else "")


@dataclass(frozen=True)
class Outcome:
    """What the provider says about one instruction (a callback, a status answer, a statement line)."""

    reference_id: str
    status: PaymentStatus  # PAID, REJECTED, RETURNED; SUBMITTED for "received / pending"
    reason: str | None = None
    amount_fen: int | None = None


def provider_status(status: str) -> PaymentStatus:
    """DCI `RequestStatus` → ours: rcvd/pdng are still in flight, succ paid, rjct rejected."""
    return {
        "rcvd": PaymentStatus.SUBMITTED,
        "pdng": PaymentStatus.SUBMITTED,
        "succ": PaymentStatus.PAID,
        "rjct": PaymentStatus.REJECTED,
    }[status]


def after_outcome(current: PaymentStatus, outcome: Outcome) -> PaymentStatus | None:
    """The status an outcome moves a payment to, or None when it changes nothing (a duplicate, a late
    "pending" after the result, a result for a payment that already has one)."""
    target = outcome.status
    if target == current or not may_move(current, target):
        return None
    return target
