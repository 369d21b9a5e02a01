"""Bulk decisions: what a province-wide run needs per household after the vectorised path decided it.

`vector.decide` gives each household's dibao branch, amount and monitoring signals as arrays. This
module turns one household's row into the decision the scalar path would have made (status, amount,
validity dates) and the next entitlement state, as plain values: a bulk run touches hundreds of
thousands of households and builds no models or explanations. The explanation of such a decision is
reproduced on request by the scalar path from the same inputs (it is deterministic), and
`tests/unit/test_engine_paths_agree.py` shows both paths agree on every field written here.
Dates come from the same helpers the scalar path uses (engine.eligible_from, deduction_period, ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from services.eligibility.domain.engine import deduction_period, eligible_from, exit_start, period_end
from services.eligibility.domain.model import Status
from services.eligibility.domain.parameters import Category, ParameterSet
from services.eligibility.domain.vector import Branch, as_date, signal_kinds


@dataclass(frozen=True)
class BulkDibao:
    status: Status
    monthly_amount_fen: int
    valid_from: date | None
    valid_until: date | None
    scope: str = "household"
    member_id: str | None = None
    programme: str = "dibao"


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


def dibao_state(
    status: Status,
    *,
    since: date | None = None,
    started: date | None = None,
    monthly: int | None = None,
    extended: bool = False,
    deduction_since: date | None = None,
) -> dict[str, Any]:
    """`DibaoState(...).model_dump(mode="json")`, built without the model."""
    return {
        "status": status.value,
        "since": _iso(since),
        "gradual_exit_started": _iso(started),
        "monthly_amount_fen": monthly,
        "gradual_exit_extended": extended,
        "expense_deduction_since": _iso(deduction_since),
        "single_person": False,  # single persons are the scalar path's (vector.scalar_fallback_mask)
    }


def decide_dibao(
    branch: Branch,
    monthly: int,
    prior: dict[str, Any] | None,
    params: ParameterSet,
    as_of: date,
    *,
    disabled_household: bool,
) -> tuple[BulkDibao, dict[str, Any]]:
    """The dibao decision and next dibao state of one household, from its vectorised branch and amount.
    `prior` is the household's previous `PriorState` as JSON (or None)."""
    before: dict[str, Any] = (prior or {}).get("dibao") or {}
    prior_status = Status(before["status"]) if before else None
    if branch == Branch.BELOW:
        since = eligible_from(prior_status, as_date(before.get("since")) if before else None, as_of)
        return (
            BulkDibao(Status.ELIGIBLE, monthly, since, None),
            dibao_state(Status.ELIGIBLE, since=since, monthly=monthly),
        )
    if branch == Branch.DEDUCTION:
        since, until = deduction_period(
            as_date(before.get("expense_deduction_since")) if before else None,
            as_of,
            params.months(Category.EXPENSE_DEDUCTION_MONTHS),
        )
        return (
            BulkDibao(Status.ELIGIBLE, monthly, since, until),
            dibao_state(Status.ELIGIBLE, since=since, monthly=monthly, deduction_since=since),
        )
    if branch in (Branch.EXIT_STEP, Branch.EXIT_EXTENDED):
        start, extended = exit_start(
            prior_status, as_date(before.get("gradual_exit_started")), bool(before.get("gradual_exit_extended")), as_of
        )
        months = params.months(
            Category.GRADUAL_EXIT_MONTHS_DISABLED if disabled_household else Category.GRADUAL_EXIT_MONTHS
        )
        if extended or branch == Branch.EXIT_EXTENDED:
            months += params.months(Category.GRADUAL_EXIT_EXTENSION_MONTHS)
        state = dibao_state(
            Status.GRADUAL_EXIT,
            since=as_date(before.get("since")),
            started=start,
            monthly=before.get("monthly_amount_fen") or 0,
            extended=extended or branch == Branch.EXIT_EXTENDED,
        )
        return BulkDibao(Status.GRADUAL_EXIT, monthly, start, period_end(start, months)), state
    if branch in (Branch.EXIT_ENDED, Branch.ABOVE_CEILING):
        return BulkDibao(Status.NOT_ELIGIBLE, 0, as_of, None), dibao_state(Status.NOT_ELIGIBLE)
    return BulkDibao(Status.NOT_ELIGIBLE, 0, None, None), dibao_state(Status.NOT_ELIGIBLE)


def next_state(dibao: dict[str, Any], counted: int, medical: int, signals: int) -> dict[str, Any]:
    """`PriorState(...).model_dump(mode="json")` after a bulk evaluation."""
    return {
        "dibao": dibao,
        "counted_income_fen": counted,
        "medical_expense_fen": medical,
        "active_signals": signal_kinds(signals),
    }
