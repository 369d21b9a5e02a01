"""What the engine reads and returns. Field names follow the dry-run contract of POST /v1/evaluations."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.values import CalendarDate, Fen


class Programme(StrEnum):
    DIBAO = "dibao"
    SPECIAL_POVERTY = "special_poverty"
    DISABILITY_LIVING_SUBSIDY = "disability_living_subsidy"
    SEVERE_DISABILITY_CARE_SUBSIDY = "severe_disability_care_subsidy"


class Status(StrEnum):
    ELIGIBLE = "eligible"
    NOT_ELIGIBLE = "not_eligible"
    GRADUAL_EXIT = "gradual_exit"


def dibao_basis(programme: str, status: str, member_id: str | None, valid_until: date | None) -> str | None:
    """On what basis a dibao decision in force stands, for the reports (003 四(四)): the whole household,
    single persons (单人户), or expense deduction (支出核减, the one eligible dibao decision the engine gives
    an end date: its one-year period). None for other programmes and for a decision not in force."""
    if programme != Programme.DIBAO or status == Status.NOT_ELIGIBLE:
        return None
    if status == Status.GRADUAL_EXIT:
        return "gradual_exit"
    if member_id is not None:
        return "single_person"
    return "expense_deduction" if valid_until is not None else "household"


# Inputs and evidence that state a member's age, health or capacity: personal data. Withheld from roles
# that see masked data, and sealed in events.
PERSONAL_FACTS = frozenset(
    {
        "age",
        "birth_date",
        "disability_grade",
        "serious_illness",
        "self_care",
        "labour_capacity",
        "needy",
        "vulnerable_members",
        "disabled_household",
        "members",
    }
)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MemberInput(_Frozen):
    id: str
    birth_date: CalendarDate
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
    type: Literal[
        "wages",
        "agriculture",
        "business",
        "property",
        "transfer",
        "basic_pension",
        "poverty_project_guaranteed",
        "other",
    ]
    annual_amount_fen: Fen


class ExpenseInput(_Frozen):
    type: Literal["medical_self_paid", "education", "other"]
    annual_amount_fen: Fen


class HouseholdInput(_Frozen):
    id: str | None = None
    version: int | None = None
    region_code: Annotated[str, Field(pattern=r"^\d{6}(\d{3}){0,2}$")]
    registered_poor_status: Literal["not_lifted", "lifted", "returned", "marginal", "none"] = "none"
    # The day the household left the register (公告退出): its policies continue for a period after it.
    exited_on: CalendarDate | None = None
    members: Annotated[list[MemberInput], Field(min_length=1, max_length=30)]
    incomes: list[IncomeInput] = Field(default_factory=list)
    expenses: list[ExpenseInput] = Field(default_factory=list)
    assets_meet_local_rule: bool = True


class DibaoState(_Frozen):
    status: Status
    since: CalendarDate | None = None
    gradual_exit_started: CalendarDate | None = None
    # Extensions of the contract: the amount the gradual exit decreases from, and whether the
    # end-of-period risk assessment already extended it once.
    monthly_amount_fen: Fen | None = None
    gradual_exit_extended: bool = False
    expense_deduction_since: CalendarDate | None = None
    # Received as single persons (单人户), not as a household: the household's income never sends it into
    # gradual exit; each re-evaluation asks again whether its members still qualify.
    single_person: bool = False


class PriorState(_Frozen):
    dibao: DibaoState | None = None
    counted_income_fen: Fen | None = None
    medical_expense_fen: Fen | None = None
    active_signals: list[str] = Field(default_factory=list)


class Decision(_Frozen):
    programme: Programme
    status: Status
    scope: Literal["household", "single_person"]
    member_id: str | None = None
    monthly_amount_fen: int
    valid_from: date | None
    valid_until: date | None
    explanation: dict[str, Any]


class Signal(_Frozen):
    kind: str
    category: Literal["remaining_poor", "return_risk", "marginal", "other"]
    evidence: dict[str, Any]


class EngineResult(_Frozen):
    decisions: list[Decision]
    next_state: PriorState
    signals: list[Signal]


@dataclass(frozen=True, slots=True)
class CurrentDecision:
    """What the read model keeps of each decision in force (one per programme and member), next to the
    household's snapshot and state: the fields change detection compares. The decision itself, with its
    explanation, is in the append-only decision history."""

    id: str
    programme: str
    member_id: str | None
    status: str
    monthly_amount_fen: int
    valid_from: date | None
    valid_until: date | None

    @property
    def key(self) -> tuple[str, str]:
        return self.programme, self.member_id or ""

    @classmethod
    def of(cls, decision_id: str, decision: Any) -> CurrentDecision:
        """From an engine `Decision` or a bulk one."""
        return cls(
            decision_id,
            str(decision.programme),
            decision.member_id,
            str(decision.status),
            decision.monthly_amount_fen,
            decision.valid_from,
            decision.valid_until,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "programme": self.programme,
            "member_id": self.member_id,
            "status": self.status,
            "monthly_amount_fen": self.monthly_amount_fen,
            "valid_from": self.valid_from.isoformat() if self.valid_from else None,
            "valid_until": self.valid_until.isoformat() if self.valid_until else None,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> CurrentDecision:
        since, until = d["valid_from"], d["valid_until"]
        return cls(
            d["id"],
            d["programme"],
            d["member_id"],
            d["status"],
            d["monthly_amount_fen"],
            date.fromisoformat(since) if since else None,
            date.fromisoformat(until) if until else None,
        )


def current_decisions(stored: list[dict[str, Any]] | None) -> list[CurrentDecision]:
    return [CurrentDecision.from_json(d) for d in stored or ()]


def stored_current(decisions: Iterable[CurrentDecision]) -> list[dict[str, Any]]:
    """The read model's JSON of a household's decisions in force, in (programme, member) order."""
    return [d.to_json() for d in sorted(decisions, key=lambda d: d.key)]
