"""Events the disbursement service publishes, keyed by household id (payments, aid) or by region code
(funds). No personal data: ids, amounts, regions."""

from __future__ import annotations

from datetime import date, datetime

from shared.events import EventPayload, event

PAYMENTS_TOPIC = "disbursement.payments"
AID_TOPIC = "disbursement.aid"
FUNDS_TOPIC = "disbursement.funds"
RELIEF_TOPIC = "disbursement.relief"


@event("disbursement.fund.topped_up", topic=FUNDS_TOPIC)
class ReserveFundToppedUp(EventPayload):
    """Money added to a township's temporary-aid reserve fund (备用金)."""

    region_code: str
    account_id: str
    transfer_id: str
    amount_fen: int
    balance_fen: int
    actor: str
    # Which fund: a township's reserve (备用金) or a county's fund for monthly entitlements.
    fund: str = "township_reserve"


class PaymentEvent(EventPayload):
    """A payment's state changed. Keyed by household; the reference is the provider's idempotency key."""

    payment_id: str
    household_id: str
    region_code: str
    programme: str
    month: str
    kind: str
    amount_fen: int
    status: str
    attempt: int
    reference_id: str
    run_id: str | None
    reason: str | None = None


@event("disbursement.payment.scheduled", topic=PAYMENTS_TOPIC)
class PaymentScheduled(PaymentEvent):
    """A payment is due and will be sent to the provider."""


@event("disbursement.payment.submitted", topic=PAYMENTS_TOPIC)
class PaymentSubmitted(PaymentEvent):
    """The provider acknowledged the instruction; the outcome follows."""


@event("disbursement.payment.paid", topic=PAYMENTS_TOPIC)
class PaymentPaid(PaymentEvent):
    """The provider confirmed the money reached the household."""


@event("disbursement.payment.rejected", topic=PAYMENTS_TOPIC)
class PaymentRejected(PaymentEvent):
    """The provider refused the instruction (`reason` is its reason code); an operator may retry."""


@event("disbursement.payment.unknown", topic=PAYMENTS_TOPIC)
class PaymentOutcomeUnknown(PaymentEvent):
    """The submission's outcome is unknown (timed out, connection lost, crash): it is not resent until a
    status query or a statement settles it."""


@event("disbursement.payment.returned", topic=PAYMENTS_TOPIC)
class PaymentReturned(PaymentEvent):
    """Money paid came back (closed account, …): the household is owed it again."""


@event("disbursement.payment.retried", topic=PAYMENTS_TOPIC)
class PaymentRetried(PaymentEvent):
    """An operator sent a rejected or returned payment again, as a new attempt."""


@event("disbursement.payment.stuck", topic=PAYMENTS_TOPIC)
class PaymentStuck(PaymentEvent):
    """A payment stayed too long in one state (`reason` names it); an operator should look."""


class PaymentRunEvent(EventPayload):
    run_id: str
    region_code: str
    month: str
    status: str
    reason: str | None = None
    counts: dict[str, int]
    amounts_fen: dict[str, int]


@event("disbursement.payment_run.paused", topic=PAYMENTS_TOPIC)
class PaymentRunPaused(PaymentRunEvent):
    """A run stopped: by an operator, or because the county fund cannot cover it (`reason`)."""


@event("disbursement.payment_run.stuck", topic=PAYMENTS_TOPIC)
class PaymentRunStuck(PaymentRunEvent):
    """A run has waited too long in one state (`reason`); an operator should look."""


@event("disbursement.payment_run.completed", topic=PAYMENTS_TOPIC)
class PaymentRunCompleted(PaymentRunEvent):
    """Every payment of the run has a final outcome."""


@event("disbursement.reconciliation.item_flagged", topic=PAYMENTS_TOPIC)
class ReconciliationItemFlagged(EventPayload):
    """A statement line or payment that needs an operator: missing, unknown_reference, amount_mismatch,
    duplicate or status_mismatch. Keyed by household where there is one, else by region."""

    reconciliation_id: str
    region_code: str
    month: str
    kind: str
    reference_id: str | None
    payment_id: str | None
    household_id: str | None
    detail: str
    statement_amount_fen: int | None
    payment_amount_fen: int | None


@event("disbursement.reconciliation.completed", topic=PAYMENTS_TOPIC)
class ReconciliationCompleted(EventPayload):
    reconciliation_id: str
    region_code: str
    month: str
    lines: int
    counts: dict[str, int]
    settled: int


class AidEvent(EventPayload):
    """A temporary-aid application moved. Keyed by household; `step` names what happened."""

    application_id: str
    household_id: str
    region_code: str
    kind: str
    cause: str
    fast_track: bool
    status: str
    step: str
    actor: str
    requested_amount_fen: int
    approved_amount_fen: int | None = None
    deadline: datetime | None = None
    # Always empty: a step's reason is free text and stays in the application's steps. Kept so that events
    # published before this was so still read.
    reason: str | None = None


@event("disbursement.aid.submitted", topic=AID_TOPIC)
class AidSubmitted(AidEvent):
    """An application was received."""


@event("disbursement.aid.reviewed", topic=AID_TOPIC)
class AidReviewed(AidEvent):
    """The village reviewed it."""


@event("disbursement.aid.township_recognised", topic=AID_TOPIC)
class AidTownshipRecognised(AidEvent):
    """The township recognised a case the county approves (one-case-one-discussion or over its cap)."""


@event("disbursement.aid.approved", topic=AID_TOPIC)
class AidApproved(AidEvent):
    """Approved: the amount is reserved in the township's reserve fund and paid at once."""


@event("disbursement.aid.rejected", topic=AID_TOPIC)
class AidRejected(AidEvent):
    """Refused (or, approved and unpaid, withdrawn: the reservation is released)."""


@event("disbursement.aid.paid", topic=AID_TOPIC)
class AidPaid(AidEvent):
    """The provider confirmed the payment."""


@event("disbursement.aid.filed", topic=AID_TOPIC)
class AidFiled(AidEvent):
    """The county recorded the case (备案)."""


@event("disbursement.aid.deadline_at_risk", topic=AID_TOPIC)
class AidDeadlineAtRisk(AidEvent):
    """A same-day case is approved but not yet paid, and its deadline is near."""


@event("disbursement.aid.deadline_missed", topic=AID_TOPIC)
class AidDeadlineMissed(AidEvent):
    """A same-day case was not paid by 23:59:59 local time of its approval day."""


@event("disbursement.fund.low_balance", topic=FUNDS_TOPIC)
class ReserveFundLow(EventPayload):
    """A township's reserve fund fell below its low-balance threshold (reservations counted)."""

    region_code: str
    account_id: str
    balance_fen: int
    threshold_fen: int


class ReliefCaseEvent(EventPayload):
    """A disaster-relief case moved (002 二(六): three-level review, two notices, payment from the county's
    relief fund). Keyed by case id; no names, no free text: the list's size and total, not its people."""

    case_id: str
    region_code: str  # the village whose households are listed
    disaster_kind: str
    status: str
    step: str
    level: str | None = None  # who acted: village | township | county
    actor: str
    occurred_at: datetime
    households: int  # listed, not struck
    total_fen: int
    notice_place: str | None = None
    notice_ends_on: date | None = None
    objection_id: str | None = None
    objection_household_id: str | None = None
    ruling: str | None = None


@event("disbursement.relief.proposed", topic=RELIEF_TOPIC)
class ReliefProposed(ReliefCaseEvent):
    """The village listed the households a disaster struck and what each receives."""


@event("disbursement.relief.reviewed", topic=RELIEF_TOPIC)
class ReliefReviewed(ReliefCaseEvent):
    """The village's or the township's review of the list (三级联审)."""


@event("disbursement.relief.notice_posted", topic=RELIEF_TOPIC)
class ReliefNoticePosted(ReliefCaseEvent):
    """A public notice of the list was posted (两榜公示: the village's, then the township's)."""


@event("disbursement.relief.objection_raised", topic=RELIEF_TOPIC)
class ReliefObjectionRaised(ReliefCaseEvent):
    """An objection stopped the notice's clock until the level above rules on it."""


@event("disbursement.relief.objection_ruled", topic=RELIEF_TOPIC)
class ReliefObjectionRuled(ReliefCaseEvent):
    """Dismissed, the clock runs on; upheld, the household named is struck and the list is reviewed again."""


@event("disbursement.relief.approved", topic=RELIEF_TOPIC)
class ReliefApproved(ReliefCaseEvent):
    """The county approved: each amount is reserved in its relief fund and paid."""


@event("disbursement.relief.paid", topic=RELIEF_TOPIC)
class ReliefPaid(ReliefCaseEvent):
    """Every listed household was paid."""


@event("disbursement.relief.stopped", topic=RELIEF_TOPIC)
class ReliefStopped(ReliefCaseEvent):
    """Withdrawn before the county's approval, or no household left on the list."""
