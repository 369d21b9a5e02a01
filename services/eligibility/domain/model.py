"""What the engine reads and returns. Field names follow the dry-run contract of POST /v1/evaluations."""
from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class Programme(StrEnum):
    DIBAO = "dibao"
    SPECIAL_POVERTY = "special_poverty"
    DISABILITY_LIVING_SUBSIDY = "disability_living_subsidy"
    SEVERE_DISABILITY_CARE_SUBSIDY = "severe_disability_care_subsidy"


class Status(StrEnum):
    ELIGIBLE = "eligible"
    NOT_ELIGIBLE = "not_eligible"
    GRADUAL_EXIT = "gradual_exit"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MemberInput(_Frozen):
    id: str
    birth_date: date
    labour_capacity: Literal["full", "partial", "none"]
    disability_grade: Annotated[int, Field(ge=1, le=4)] | None = None
    serious_illness: bool = False
    self_care: Literal["full", "partial", "none"] = "full"
    has_legal_supporter: bool = True

    def age_on(self, day: date) -> int:
        return day.year - self.birth_date.year - ((day.month, day.day) < (self.birth_date.month, self.birth_date.day))

    @property
    def severely_disabled(self) -> bool:
        return self.disability_grade is not None and self.disability_grade <= 2


class IncomeInput(_Frozen):
    member_id: str | None = None
    type: Literal["wages", "agriculture", "business", "property", "transfer", "basic_pension",
                  "poverty_project_guaranteed", "other"]
    annual_amount_fen: Annotated[int, Field(strict=True, ge=0)]


class ExpenseInput(_Frozen):
    type: Literal["medical_self_paid", "education", "other"]
    annual_amount_fen: Annotated[int, Field(strict=True, ge=0)]


class HouseholdInput(_Frozen):
    id: str | None = None
    version: int | None = None
    region_code: Annotated[str, Field(pattern=r"^\d{6}(\d{3}){0,2}$")]
    registered_poor_status: Literal["not_lifted", "lifted", "returned", "marginal", "none"] = "none"
    members: Annotated[list[MemberInput], Field(min_length=1, max_length=30)]
    incomes: list[IncomeInput] = Field(default_factory=list)
    expenses: list[ExpenseInput] = Field(default_factory=list)
    assets_meet_local_rule: bool = True


class DibaoState(_Frozen):
    status: Status
    since: date | None = None
    gradual_exit_started: date | None = None
    # Extensions of the contract: the amount the gradual exit decreases from, and whether the
    # end-of-period risk assessment already extended it once.
    monthly_amount_fen: int | None = None
    gradual_exit_extended: bool = False
    expense_deduction_since: date | None = None


class PriorState(_Frozen):
    dibao: DibaoState | None = None
    counted_income_fen: int | None = None
    medical_expense_fen: int | None = None
    active_signals: list[str] = Field(default_factory=list)


class Decision(_Frozen):
    programme: Programme
    status: Status
    scope: Literal["household", "single_person"]
    member_id: str | None = None
    monthly_amount_fen: int
    valid_from: date | None
    valid_until: date | None
    explanation: dict


class Signal(_Frozen):
    kind: str
    category: Literal["remaining_poor", "return_risk", "marginal", "other"]
    evidence: dict


class EngineResult(_Frozen):
    decisions: list[Decision]
    next_state: PriorState
    signals: list[Signal]
