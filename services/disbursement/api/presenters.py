"""How entitlements, payments, ledger records and relief cases are shown. The first three hold no personal
data (ids and amounts only); a relief case's free text is withheld from roles that see masked data."""

from __future__ import annotations

from datetime import date
from typing import Any

from services.disbursement.domain.entitlements import Entitlement
from services.disbursement.domain.payments import Payment
from services.disbursement.domain.relief import ReliefCase
from services.disbursement.service_layer.funds import available
from shared.auth import Principal
from shared.public_notice import present_notice
from shared.text import mask_free_text


def entitlement_view(e: Entitlement, history: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": e.id,
        "household_id": e.household_id,
        "region_code": e.region_code,
        "programme": e.programme,
        "member_id": e.member_id,
        "status": e.status.value,
        "monthly_amount_fen": e.monthly_amount_fen,
        "valid_from": e.valid_from,
        "valid_until": e.valid_until,
        "gradual_exit": e.gradual_exit,
        "decision_id": e.decision_id,
        "version": e.version,
        "history": history,
    }


def account_view(account: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": account["id"],
        "code": account["code"],
        "region_code": account["region_code"],
        "debits_must_not_exceed_credits": account["debits_must_not_exceed_credits"],
        **{k: account[k] for k in ("debits_pending", "debits_posted", "credits_pending", "credits_posted")},
        "available_fen": available(account),
    }


def transfer_view(row: dict[str, Any], account_id: str) -> dict[str, Any]:
    return {
        "id": row["id"],
        "sequence": row["sequence"],
        "kind": row["kind"],
        "side": "debit" if row["debit_account_id"] == account_id else "credit",
        "counterparty_account_id": row["credit_account_id"]
        if row["debit_account_id"] == account_id
        else row["debit_account_id"],
        "amount_fen": row["amount_fen"],
        "pending_id": row["pending_id"],
        "pending_state": row["pending_state"],
        "expires_at": row["expires_at"],
        "reference": row["reference"],
        "created_at": row["created_at"],
    }


def payment_view(p: Payment) -> dict[str, Any]:
    return {
        "id": p.id,
        "run_id": p.run_id,
        "entitlement_id": p.entitlement_id,
        "household_id": p.household_id,
        "region_code": p.region_code,
        "programme": p.programme,
        "member_id": p.member_key or None,
        "month": p.month,
        "kind": p.kind,
        "amount_fen": p.amount_fen,
        "status": p.status.value,
        "status_reason": p.status_reason,
        "attempt": p.attempt,
        "reference_id": p.reference_id,
    }


def relief_case_view(case: ReliefCase, viewer: Principal, today: date) -> dict[str, Any]:
    """A relief case with where its notices stand today and its total. The disaster's description,
    reasons and objections are free text (they name people): withheld from roles that see masked data."""
    body = case.model_dump(mode="json")
    body["notices"] = [present_notice(n, today, viewer.sees_personal_data) for n in case.notices]
    body["notice"] = body["notices"][-1] if body["notices"] else None
    body["households"] = len(case.listed)
    body["total_fen"] = case.total_fen
    body["next_level"] = next(
        (level.value for level in (case.reviewing_level(), case.notice_level(), case.ruling_level()) if level), None
    )
    if viewer.sees_personal_data:
        return body
    body["disaster"]["summary"] = mask_free_text(body["disaster"]["summary"])
    for step in body["steps"]:
        step["reason"] = mask_free_text(step["reason"])
    body["personal_data"] = "masked"
    return body
