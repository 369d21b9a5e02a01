"""Events the registry publishes on topic `registry.households`, keyed by household id.

Every event carries the change and the household's resulting facts (`HouseholdFacts`), so a
consumer's read model is correct from any one event and replays are harmless (it keeps the highest
version). Personal data never travels in clear: names, ID numbers, phones and the address stay in the
registry; birth dates and health facts, which eligibility needs, travel sealed (see shared.sealing).
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from shared.events import EventPayload, event

TOPIC = "registry.households"


class MemberFacts(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    member_id: str
    relation: str
    labour_capacity: str
    self_care: str
    left_behind: str
    has_legal_supporter: bool
    active: bool


class SealedMemberFacts(BaseModel):
    """What `HouseholdFacts.sealed` opens to, one per member id."""

    birth_date: date
    sex: str
    disability_grade: int | None
    serious_illness: bool


class IncomeFacts(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    income_id: str
    member_id: str | None
    type: str
    annual_amount_fen: int
    effective_from: date
    effective_to: date | None


class ExpenseFacts(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    expense_id: str
    type: str
    annual_amount_fen: int
    effective_from: date
    effective_to: date | None


class HouseholdFacts(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    household_id: str
    version: int
    region_code: str
    poverty_status: str
    # The day the household last left the register through an exit case (公告退出); policies continue
    # for a period after it (摘帽不摘政策). Absent in events written before exits had a workflow.
    exited_on: date | None = None
    # Not sent: flags name health facts (severely_disabled, seriously_ill, elderly). Kept as an optional
    # field so events written before it was withdrawn still parse; consumers read health facts sealed.
    flags: list[str] | None = Field(default=None, exclude=True, deprecated=True)
    assets_meet_local_rule: bool
    cadre_id: str | None
    members: list[MemberFacts]
    incomes: list[IncomeFacts]
    expenses: list[ExpenseFacts]
    sealed: str  # sealed (shared/sealing.py): {member_id: SealedMemberFacts}


class HouseholdEvent(EventPayload):
    household_id: str
    version: int
    region_code: str
    occurred_at: datetime
    actor: str
    # No free-text reason here: operators write names into it. It stays in the registry's history.
    facts: HouseholdFacts


@event("registry.household.registered", topic=TOPIC)
class HouseholdRegistered(HouseholdEvent):
    """A household entered the register."""


@event("registry.household.updated", topic=TOPIC)
class HouseholdUpdated(HouseholdEvent):
    """Address, flags or asset rule of a household changed."""

    changed_fields: list[str]


@event("registry.household.member_added", topic=TOPIC)
class MemberAdded(HouseholdEvent):
    member_id: str


@event("registry.household.member_changed", topic=TOPIC)
class MemberChanged(HouseholdEvent):
    member_id: str
    changed_fields: list[str]


@event("registry.household.member_removed", topic=TOPIC)
class MemberRemoved(HouseholdEvent):
    member_id: str


@event("registry.household.income_recorded", topic=TOPIC)
class IncomeRecorded(HouseholdEvent):
    income_id: str
    income_type: str
    annual_amount_fen: int


@event("registry.household.income_corrected", topic=TOPIC)
class IncomeCorrected(HouseholdEvent):
    income_id: str
    income_type: str
    previous_annual_amount_fen: int
    annual_amount_fen: int


class RestatedIncome(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    income_id: str
    member_id: str | None
    income_type: str
    effective_from: date
    previous_annual_amount_fen: int = Field(description="the annual amount of this type in force that day before")
    annual_amount_fen: int


@event("registry.household.restated", topic=TOPIC)
class HouseholdRestated(HouseholdEvent):
    """Another department's data restated the household (a monthly comparison imported as a file, 003
    二(七)): incomes from a day on, and/or its registered-poor status. Only what changed is listed."""

    incomes: list[RestatedIncome]
    previous_status: str | None = Field(default=None, description="set when the status changed")
    status: str | None = Field(default=None, description="the status now, when it changed")


@event("registry.household.expense_recorded", topic=TOPIC)
class ExpenseRecorded(HouseholdEvent):
    expense_id: str
    expense_type: str
    annual_amount_fen: int


@event("registry.household.asset_recorded", topic=TOPIC)
class AssetRecorded(HouseholdEvent):
    asset_id: str
    asset_type: str


@event("registry.household.assignment_changed", topic=TOPIC)
class AssignmentChanged(HouseholdEvent):
    """包保: the responsible cadre or unit changed."""

    cadre_id: str
    unit: str


@event("registry.household.status_changed", topic=TOPIC)
class StatusChanged(HouseholdEvent):
    """The registered-poor status changed directly: a return to poverty, a marginal household, or (with
    `correction`) an operator putting a wrong record right. Leaving the register is `HouseholdExited`."""

    previous_status: str
    status: str
    correction: bool = False


@event("registry.household.exited", topic=TOPIC)
class HouseholdExited(HouseholdEvent):
    """The household left the register: its exit case was announced (公告退出, 001 ch.12)."""

    exit_case_id: str
    previous_status: str
    exited_on: date


@event("registry.household.life_event_reported", topic=TOPIC)
class LifeEventReported(HouseholdEvent):
    """Hospitalisation, disaster, death...: triggers the cadre's contact (四个联系) and monitoring."""

    life_event_id: str
    life_event_type: str
    occurred_on: date


class ExitCaseEvent(EventPayload):
    """A step of an exit case (leaving the register, 001 ch.12), on the household's key so it stays in
    order with the household's own events. Reasons, the appraisal record and objections' text stay in the
    registry (they name people)."""

    exit_case_id: str
    household_id: str
    region_code: str
    status: str
    step: str
    occurred_at: datetime
    actor: str
    notice_ends_on: date | None = None  # while a notice runs with no objection open
    exit_date: date | None = None


@event("registry.exit.proposed", topic=TOPIC)
class ExitProposed(ExitCaseEvent):
    """The village proposed the household for exit (拟选对象)."""


@event("registry.exit.appraised", topic=TOPIC)
class ExitAppraised(ExitCaseEvent):
    """The democratic appraisal (民主评议) agreed, and the household consented."""


@event("registry.exit.notice_started", topic=TOPIC)
class ExitNoticeStarted(ExitCaseEvent):
    """The public notice (公示) was posted."""


@event("registry.exit.objection_raised", topic=TOPIC)
class ExitObjectionRaised(ExitCaseEvent):
    """An objection stopped the notice's clock until the township rules."""

    objection_id: str


@event("registry.exit.objection_ruled", topic=TOPIC)
class ExitObjectionRuled(ExitCaseEvent):
    """The township ruled: dismissed (the clock runs on) or upheld (the case stops)."""

    objection_id: str
    ruling: str


@event("registry.exit.approved", topic=TOPIC)
class ExitApproved(ExitCaseEvent):
    """The township approved the exit (乡镇政府核准) after a complete notice."""


@event("registry.exit.announced", topic=TOPIC)
class ExitAnnounced(ExitCaseEvent):
    """The exit was announced (公告退出): the household leaves the register today."""


@event("registry.exit.stopped", topic=TOPIC)
class ExitStopped(ExitCaseEvent):
    """The case ended without an exit: withdrawn, or an objection was upheld."""
