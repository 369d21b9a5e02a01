"""The household aggregate (建档立卡 record). Pure: no I/O, every change goes through a method that
checks the rules, bumps the version and returns the event describing it.

Source: POLICY §1 (001 ch.12 dynamic management, 003, 004 包保 assignment).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from services.registry.domain.identity import parse_resident_id
from shared.ids import new_entity_id


class PovertyStatus(StrEnum):
    NOT_LIFTED = "not_lifted"  # 未脱贫
    LIFTED = "lifted"  # 已脱贫
    RETURNED = "returned"  # 返贫
    MARGINAL = "marginal"  # 边缘
    NONE = "none"


REGISTERED_POOR = (PovertyStatus.NOT_LIFTED, PovertyStatus.RETURNED)


class LabourCapacity(StrEnum):
    FULL = "full"
    PARTIAL = "partial"
    NONE = "none"


class SelfCare(StrEnum):
    FULL = "full"
    PARTIAL = "partial"
    NONE = "none"


class LeftBehind(StrEnum):
    NONE = "none"
    CHILD = "child"
    WOMAN = "woman"
    ELDERLY = "elderly"


class Relation(StrEnum):
    HEAD = "head"
    SPOUSE = "spouse"
    CHILD = "child"
    PARENT = "parent"
    GRANDCHILD = "grandchild"
    GRANDPARENT = "grandparent"
    SIBLING = "sibling"
    OTHER = "other"


class IncomeType(StrEnum):
    WAGES = "wages"
    AGRICULTURE = "agriculture"
    BUSINESS = "business"
    PROPERTY = "property"
    TRANSFER = "transfer"
    BASIC_PENSION = "basic_pension"
    POVERTY_PROJECT_GUARANTEED = "poverty_project_guaranteed"
    OTHER = "other"


class ExpenseType(StrEnum):
    MEDICAL_SELF_PAID = "medical_self_paid"
    EDUCATION = "education"
    OTHER = "other"


class Period(StrEnum):
    MONTH = "month"
    YEAR = "year"


class LifeEventType(StrEnum):
    HOSPITALISATION = "hospitalisation"
    DISASTER = "disaster"
    ACCIDENT = "accident"
    DEATH = "death"
    SERIOUS_ILLNESS = "serious_illness"
    MAJOR_DISPUTE = "major_dispute"
    OTHER = "other"


ELDERLY_AGE = 60


class RegistryRuleBroken(ValueError):
    """A change the domain refuses; `field` and `rule` go into the problem+json answer."""

    def __init__(self, field: str, rule: str, message: str):
        super().__init__(message)
        self.field, self.rule = field, rule


class StaleVersion(Exception):
    """The household changed since the version the caller read (optimistic concurrency)."""


class PersonRegisteredElsewhere(Exception):
    """A person (by ID number) already belongs to another household; one person, one household."""

    def __init__(self, household_id: str):
        super().__init__("a member's ID number is already registered in another household")
        self.household_id = household_id


# Flags that state a health or age fact: personal data, withheld from roles that see masked data.
HEALTH_FLAGS = frozenset({"elderly", "severely_disabled", "seriously_ill"})


class _Entity(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Member(_Entity):
    id: str = Field(default_factory=new_entity_id)
    name: str
    id_number: str
    birth_date: date
    sex: str
    phone: str | None = None
    relation: Relation
    labour_capacity: LabourCapacity
    disability_grade: int | None = Field(default=None, ge=1, le=4)
    serious_illness: bool = False
    self_care: SelfCare = SelfCare.FULL
    left_behind: LeftBehind = LeftBehind.NONE
    has_legal_supporter: bool = True
    active: bool = True

    def age_on(self, day: date) -> int:
        return day.year - self.birth_date.year - ((day.month, day.day) < (self.birth_date.month, self.birth_date.day))

    @property
    def severely_disabled(self) -> bool:
        return self.disability_grade is not None and self.disability_grade <= 2


class Income(_Entity):
    id: str = Field(default_factory=new_entity_id)
    member_id: str | None = None
    type: IncomeType
    amount_fen: int = Field(ge=0)
    period: Period
    effective_from: date
    effective_to: date | None = None
    note: str | None = None

    @property
    def annual_amount_fen(self) -> int:
        return self.amount_fen * 12 if self.period == Period.MONTH else self.amount_fen

    def applies_on(self, day: date) -> bool:
        return self.effective_from <= day and (self.effective_to is None or day <= self.effective_to)


class Expense(_Entity):
    id: str = Field(default_factory=new_entity_id)
    member_id: str | None = None
    type: ExpenseType
    amount_fen: int = Field(ge=0)
    period: Period
    effective_from: date
    effective_to: date | None = None

    @property
    def annual_amount_fen(self) -> int:
        return self.amount_fen * 12 if self.period == Period.MONTH else self.amount_fen


class Asset(_Entity):
    id: str = Field(default_factory=new_entity_id)
    type: str
    description: str = ""
    value_fen: int = Field(ge=0)


class Assignment(_Entity):
    """包保: the responsible cadre and unit (004)."""

    cadre_id: str
    cadre_name: str
    cadre_phone: str | None = None
    unit: str
    since: date


class LifeEvent(_Entity):
    id: str = Field(default_factory=new_entity_id)
    type: LifeEventType
    occurred_on: date
    member_id: str | None = None
    note: str | None = None


class Household(_Entity):
    id: str = Field(default_factory=new_entity_id)
    external_ref: str | None = None
    region_code: str
    address: str
    poverty_status: PovertyStatus = PovertyStatus.NONE
    exited_on: date | None = None  # the day it last left the register through an exit case (公告退出)
    flags: list[str] = Field(default_factory=list)
    assets_meet_local_rule: bool = True
    members: list[Member] = Field(default_factory=list)
    incomes: list[Income] = Field(default_factory=list)
    expenses: list[Expense] = Field(default_factory=list)
    assets: list[Asset] = Field(default_factory=list)
    assignment: Assignment | None = None
    life_events: list[LifeEvent] = Field(default_factory=list)
    version: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None

    # --- queries -----------------------------------------------------------------------------
    @property
    def active_members(self) -> list[Member]:
        return [m for m in self.members if m.active]

    def member(self, member_id: str) -> Member:
        for m in self.members:
            if m.id == member_id and m.active:
                return m
        raise RegistryRuleBroken("member_id", "member_exists", f"no active member {member_id} in this household")

    def derived_flags(self, today: date) -> list[str]:
        """Facts the monitoring and filters look for (POLICY §2.5: elderly, ill, severely disabled)."""
        flags = set(self.flags)
        for m in self.active_members:
            if m.age_on(today) >= ELDERLY_AGE:
                flags.add("elderly")
            if m.severely_disabled:
                flags.add("severely_disabled")
            if m.serious_illness:
                flags.add("seriously_ill")
            if m.left_behind != LeftBehind.NONE:
                flags.add(f"left_behind_{m.left_behind.value}")
            if m.labour_capacity == LabourCapacity.NONE:
                flags.add("no_labour_capacity")
        return sorted(flags)

    # --- changes -----------------------------------------------------------------------------
    def add_member(self, member: Member) -> Member:
        identity = parse_resident_id(member.id_number)
        if identity.birth_date != member.birth_date or identity.sex != member.sex:
            raise RegistryRuleBroken("id_number", "id_consistency", "birth date and sex must agree with the ID number")
        if any(m.id_number == member.id_number and m.active for m in self.members):
            raise RegistryRuleBroken("id_number", "unique_id_number", "this person is already a member")
        if member.relation == Relation.HEAD and any(m.relation == Relation.HEAD for m in self.active_members):
            raise RegistryRuleBroken("relation", "one_head", "the household already has a head")
        self.members.append(member)
        return member

    def change_member(self, member_id: str, changes: dict[str, Any]) -> Member:
        member = self.member(member_id)
        if (
            changes.get("relation") == Relation.HEAD
            and member.relation != Relation.HEAD
            and any(m.relation == Relation.HEAD for m in self.active_members)
        ):
            raise RegistryRuleBroken("relation", "one_head", "the household already has a head")
        for key, value in changes.items():
            setattr(member, key, value)
        return member

    def remove_member(self, member_id: str) -> Member:
        member = self.member(member_id)
        if len(self.active_members) == 1:
            raise RegistryRuleBroken(
                "member_id", "last_member", "the last member cannot be removed; close the household instead"
            )
        member.active = False  # kept for history; no longer counted
        return member

    def _check_member_ref(self, member_id: str | None) -> None:
        if member_id is not None:
            self.member(member_id)

    def record_income(self, income: Income) -> Income:
        self._check_member_ref(income.member_id)
        _check_range(income.effective_from, income.effective_to)
        self.incomes.append(income)
        return income

    def correct_income(self, income_id: str, changes: dict[str, Any]) -> tuple[Income, int]:
        income = next((i for i in self.incomes if i.id == income_id), None)
        if income is None:
            raise RegistryRuleBroken("income_id", "income_exists", f"no income record {income_id}")
        previous = income.annual_amount_fen
        for key, value in changes.items():
            setattr(income, key, value)
        self._check_member_ref(income.member_id)
        _check_range(income.effective_from, income.effective_to)
        return income, previous

    def restate_income(
        self, member_id: str | None, type: IncomeType, amount_fen: int, period: Period, effective_from: date
    ) -> tuple[Income, int] | None:
        """Another department's data says: from `effective_from`, this member's (or the household's, with
        no member) income of this type is `amount_fen` a `period` (a monthly comparison, 003 二(七)).
        Records of that member and type still in force that day end the day before; one that starts
        that very day is corrected in place. Returns the income now in force and the annual amount in
        force before, or None when the record already says so (re-running a file changes nothing)."""
        self._check_member_ref(member_id)
        in_force = [
            i
            for i in self.incomes
            if i.member_id == member_id
            and i.type == type
            and (i.effective_to is None or i.effective_to >= effective_from)
        ]
        starting = [i for i in in_force if i.effective_from >= effective_from]
        if len(starting) > 1 or any(i.effective_from > effective_from for i in starting):
            raise RegistryRuleBroken(
                "effective_from",
                "no_later_record",
                "other income records of this member and type start on or after that day; "
                "correct them through the income's own endpoint",
            )
        stated = Income(
            member_id=member_id, type=type, amount_fen=amount_fen, period=period, effective_from=effective_from
        )
        previous = sum(i.annual_amount_fen for i in in_force)
        if len(in_force) == 1 and in_force[0].effective_to is None and previous == stated.annual_amount_fen:
            return None
        for income in in_force:
            if income.effective_from < effective_from:
                income.effective_to = effective_from - timedelta(days=1)
        if starting:  # a record from that very day: corrected in place, so the income keeps its id
            stated = starting[0]
            stated.amount_fen, stated.period, stated.effective_to = amount_fen, period, None
        else:
            self.incomes.append(stated)
        return stated, previous

    def restate_incomes(self, stated: list[dict[str, Any]]) -> list[tuple[Income, int]]:
        """Several `restate_income`s, all or none: a refused one leaves the incomes as they were. Each
        of `stated` has id_number (or None), type, amount_fen, period, effective_from."""
        before = [i.model_copy() for i in self.incomes]
        changed: list[tuple[Income, int]] = []
        seen: set[tuple[str | None, str]] = set()
        try:
            for index, fields in enumerate(stated):
                member_id = None
                if fields.get("id_number") is not None:
                    member_id = next((m.id for m in self.active_members if m.id_number == fields["id_number"]), None)
                    if member_id is None:
                        raise RegistryRuleBroken(
                            f"incomes[{index}].id_number",
                            "member_of_household",
                            "no active member of this household has this ID number",
                        )
                if (member_id, fields["type"]) in seen:
                    raise RegistryRuleBroken(
                        f"incomes[{index}].type", "one_per_member_and_type", "stated twice for the same member"
                    )
                seen.add((member_id, fields["type"]))
                try:
                    result = self.restate_income(
                        member_id, fields["type"], fields["amount_fen"], fields["period"], fields["effective_from"]
                    )
                except RegistryRuleBroken as exc:
                    raise RegistryRuleBroken(f"incomes[{index}].{exc.field}", exc.rule, str(exc)) from None
                if result is not None:
                    changed.append(result)
        except RegistryRuleBroken:
            self.incomes = before
            raise
        return changed

    def restate(
        self, stated_incomes: list[dict[str, Any]], status: PovertyStatus | None
    ) -> tuple[list[tuple[Income, int]], PovertyStatus | None]:
        """A comparison row, all or nothing: its incomes (`restate_incomes`) and the status the data shows
        (a status already held changes nothing; leaving the register stays an exit case's). Returns the
        incomes changed and the status before, if it changed."""
        # The status first: its rule refuses before any income is touched, and restate_incomes restores
        # the incomes itself, so a refused income only has the status to put back.
        previous = self.change_status(status) if status is not None and status != self.poverty_status else None
        try:
            changed = self.restate_incomes(stated_incomes)
        except RegistryRuleBroken:
            if previous is not None:
                self.poverty_status = previous
            raise
        return changed, previous

    def record_expense(self, expense: Expense) -> Expense:
        self._check_member_ref(expense.member_id)
        _check_range(expense.effective_from, expense.effective_to)
        self.expenses.append(expense)
        return expense

    def record_asset(self, asset: Asset) -> Asset:
        self.assets.append(asset)
        return asset

    def assign(self, assignment: Assignment) -> Assignment:
        self.assignment = assignment
        return assignment

    def change_status(self, status: PovertyStatus, *, correction: bool = False) -> PovertyStatus:
        previous = self.poverty_status
        if previous == status:
            raise RegistryRuleBroken("poverty_status", "status_changes", f"the household is already {status}")
        if status == PovertyStatus.LIFTED and previous in REGISTERED_POOR and not correction:
            raise RegistryRuleBroken(
                "poverty_status",
                "exit_workflow",
                "a registered-poor household leaves the register only through an exit case (POST /v1/exit-cases); "
                "an operator correcting a wrong record says so (correction: true, with a reason)",
            )
        if status == PovertyStatus.RETURNED and previous not in (PovertyStatus.LIFTED, PovertyStatus.MARGINAL):
            raise RegistryRuleBroken(
                "poverty_status", "returned_after_lifted", "only a lifted or marginal household can return to poverty"
            )
        self.poverty_status = status
        return previous

    def leave_register(self, on: date) -> PovertyStatus:
        """The announcement of an exit case (公告退出): lifted from that day."""
        previous = self.poverty_status
        if previous not in REGISTERED_POOR:
            raise RegistryRuleBroken(
                "poverty_status", "registered_poor", f"the household is {previous}, not registered poor"
            )
        self.poverty_status, self.exited_on = PovertyStatus.LIFTED, on
        return previous

    def report_life_event(self, life_event: LifeEvent) -> LifeEvent:
        self._check_member_ref(life_event.member_id)
        self.life_events.append(life_event)
        return life_event


def _check_range(start: date, end: date | None) -> None:
    if end is not None and end < start:
        raise RegistryRuleBroken("effective_to", "period_order", "effective_to is before effective_from")
