"""Request and response bodies of the registry API. Money is integer fen (strict: 12.5 is refused)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from services.registry.domain.model import (
    ExpenseType,
    IncomeType,
    LabourCapacity,
    LeftBehind,
    LifeEventType,
    Period,
    PovertyStatus,
    Relation,
    SelfCare,
)
from shared.text import IDENTIFIER_PATTERN, FreeText, VisibleLine
from shared.values import CalendarDate, Fen

RegionCode = Annotated[str, StringConstraints(pattern=r"^\d{6}(\d{3}){0,2}$")]
Text = Annotated[VisibleLine, StringConstraints(max_length=200)]
Note = Annotated[FreeText, StringConstraints(max_length=500)]
Phone = Annotated[str, StringConstraints(pattern=r"^\+?\d{7,15}$")]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ChangeBody(Body):
    reason: Note | None = Field(default=None, description="why the change is made; kept in the household's history")


class MemberIn(Body):
    name: Text
    id_number: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=18)]
    birth_date: CalendarDate | None = Field(default=None, description="optional; must agree with the ID number")
    sex: Literal["male", "female"] | None = None
    phone: Phone | None = None
    relation: Relation
    labour_capacity: LabourCapacity
    disability_grade: Annotated[int, Field(strict=True, ge=1, le=4)] | None = None
    serious_illness: bool = False
    self_care: SelfCare = SelfCare.FULL
    left_behind: LeftBehind = LeftBehind.NONE
    has_legal_supporter: bool = True


class MemberCreate(MemberIn, ChangeBody):
    pass


class MemberPatch(ChangeBody):
    name: Text | None = None
    phone: Phone | None = None
    relation: Relation | None = None
    labour_capacity: LabourCapacity | None = None
    disability_grade: Annotated[int, Field(strict=True, ge=1, le=4)] | None = None
    serious_illness: bool | None = None
    self_care: SelfCare | None = None
    left_behind: LeftBehind | None = None
    has_legal_supporter: bool | None = None


class AssignmentIn(ChangeBody):
    cadre_id: Text
    cadre_name: Text
    cadre_phone: Phone | None = None
    unit: Text
    since: CalendarDate


class HouseholdCreate(ChangeBody):
    external_ref: Annotated[VisibleLine, StringConstraints(max_length=100)] | None = None
    region_code: RegionCode
    address: Text
    poverty_status: PovertyStatus = PovertyStatus.NONE
    flags: list[Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,40}$")]] = Field(default_factory=list)
    assets_meet_local_rule: bool = True
    members: list[MemberIn] = Field(min_length=1, max_length=30)
    # Incomes and expenses known at registration, so the first evaluation is not made on an empty record.
    # A member_id here is the member's position in `members` ("0", "1", ...), as ids do not exist yet.
    incomes: list[IncomeIn] = Field(default_factory=list, max_length=100)
    expenses: list[ExpenseIn] = Field(default_factory=list, max_length=100)
    assignment: AssignmentIn | None = None


class HouseholdPatch(ChangeBody):
    address: Text | None = None
    region_code: RegionCode | None = None
    flags: list[Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,40}$")]] | None = None
    assets_meet_local_rule: bool | None = None


class IncomeIn(ChangeBody):
    member_id: str | None = None
    type: IncomeType
    amount_fen: Fen
    period: Period
    effective_from: CalendarDate
    effective_to: CalendarDate | None = None
    note: Note | None = None


class IncomeCorrection(ChangeBody):
    amount_fen: Fen | None = None
    period: Period | None = None
    type: IncomeType | None = None
    effective_from: CalendarDate | None = None
    effective_to: CalendarDate | None = None


class ExpenseIn(ChangeBody):
    member_id: str | None = None
    type: ExpenseType
    amount_fen: Fen
    period: Period
    effective_from: CalendarDate
    effective_to: CalendarDate | None = None


class AssetIn(ChangeBody):
    type: Text
    description: Note = ""
    value_fen: Fen


class StatusIn(ChangeBody):
    poverty_status: PovertyStatus
    correction: bool = Field(
        default=False,
        description="an operator putting a wrong record right (county or province operator, with a reason); "
        "leaving the register is otherwise an exit case",
    )


class LifeEventIn(ChangeBody):
    type: LifeEventType
    occurred_on: CalendarDate
    member_id: str | None = None
    note: Note | None = None


class RegionIn(Body):
    code: Annotated[str, StringConstraints(pattern=r"^\d{9}(\d{3})?$")]
    name: Text
    level: Literal["township", "village"]


class Page(BaseModel):
    items: list[dict]
    next_cursor: str | None


class StatedIncome(Body):
    id_number: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=18)] | None = Field(
        default=None, description="the member's ID number; absent for an income of the whole household"
    )
    type: IncomeType
    amount_fen: Fen
    period: Period
    effective_from: CalendarDate


class Restatement(ChangeBody):
    """One row of a comparison file: what another department's data says of a registered household."""

    external_ref: Annotated[VisibleLine, StringConstraints(min_length=1, max_length=100)]
    incomes: list[StatedIncome] = Field(default_factory=list, max_length=100)
    poverty_status: PovertyStatus | None = Field(
        default=None, description="the registered-poor status the data shows; leaving the register is an exit case"
    )

    @model_validator(mode="after")
    def states_something(self) -> Restatement:
        if not self.incomes and self.poverty_status is None:
            raise ValueError("a row states incomes, a poverty_status or both")
        return self


class ImportJobView(BaseModel):
    id: str
    kind: Literal["households", "restatements"] = Field(
        description="households: registrations; restatements: a comparison's incomes and statuses (imported = applied)"
    )
    status: str
    format: str
    total: int
    processed: int
    imported: int
    unchanged: int
    failed: int
    errors: list[dict]
    created_at: datetime
    updated_at: datetime


HouseholdCreate.model_rebuild()


# --- exit cases ---------------------------------------------------------------------------------


class ExitProposal(ChangeBody):
    household_id: Annotated[str, StringConstraints(min_length=1, max_length=36, pattern=IDENTIFIER_PATTERN)]


class ExitAppraisal(ChangeBody):
    meeting_date: CalendarDate = Field(description="the day the village's democratic appraisal (民主评议) met")
    record_ref: Text = Field(description="reference of the meeting's record (会议记录)")
    household_consents: bool = Field(description="the household agrees to the exit (拟退出对象认可)")


class ExitNotice(ChangeBody):
    days: Annotated[int, Field(ge=1, le=90)] | None = Field(
        default=None, description="how long the notice runs, in days (default and minimum: the service's setting)"
    )


class ExitObjection(Body):
    summary: Note = Field(description="what the objection says (kept in the registry, never published)")


class ExitRuling(Body):
    ruling: Literal["upheld", "dismissed"]
    reason: Note


class ExitStepBody(ChangeBody):
    pass


class ExitWithdrawal(Body):
    reason: Note
