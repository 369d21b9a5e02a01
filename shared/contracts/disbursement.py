"""Events the disbursement service publishes, keyed by household id (payments, aid) or by region code
(funds). No personal data: ids, amounts, regions."""

from __future__ import annotations

from shared.events import EventPayload, event

PAYMENTS_TOPIC = "disbursement.payments"
AID_TOPIC = "disbursement.aid"
FUNDS_TOPIC = "disbursement.funds"


@event("disbursement.fund.topped_up", topic=FUNDS_TOPIC)
class ReserveFundToppedUp(EventPayload):
    """Money added to a township's temporary-aid reserve fund (备用金)."""

    region_code: str
    account_id: str
    transfer_id: str
    amount_fen: int
    balance_fen: int
    actor: str
