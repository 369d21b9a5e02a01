"""Request bodies of the eligibility API (the contracts of issue #3, extended, names kept)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.eligibility.domain.model import ExpenseInput, HouseholdInput, IncomeInput, PriorState
from services.eligibility.domain.parameters import Category
from shared.text import FreeText, VisibleLine
from shared.values import CalendarDate, Fen

# Income or expense records in one dry-run case; a real household has a few dozen.
MAX_RECORDS = 500


class StandardIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    region_code: Annotated[str, StringConstraints(pattern=r"^\d{2}(\d{2}(\d{2}(\d{3}){0,2})?)?$")]
    category: Category
    effective_from: CalendarDate
    effective_to: CalendarDate | None = None
    amount_fen: Fen | None = Field(default=None, description="money categories: amount in fen per period")
    period: Literal["year", "month"] | None = None
    value: Annotated[Decimal, Field(ge=0, max_digits=12)] | None = Field(
        default=None, description="ratio categories (e.g. 1.3) and month counts"
    )
    legal_ref: Annotated[VisibleLine, StringConstraints(max_length=500)]


class HouseholdCase(HouseholdInput):
    """A dry-run household: bounded like a real one, so one request cannot occupy the service."""

    incomes: list[IncomeInput] = Field(default_factory=list, max_length=MAX_RECORDS)
    expenses: list[ExpenseInput] = Field(default_factory=list, max_length=MAX_RECORDS)


class EvaluationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    as_of: CalendarDate
    household: HouseholdCase
    prior_state: PriorState | None = None


class JobIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    region_prefix: Annotated[str, StringConstraints(pattern=r"^\d{2,12}$")]
    reason: Annotated[FreeText, StringConstraints(max_length=500)] = "operator request"
