"""Registry application services: load the aggregate, apply one change, save it with its version
history, emit its event. They never commit: the caller's unit of work does (see shared.commands)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from services.registry.adapters.uow import RegistryUnitOfWork
from services.registry.domain.identity import InvalidIdNumber, parse_resident_id
from services.registry.domain.model import (
    Asset,
    Assignment,
    Expense,
    Household,
    Income,
    LifeEvent,
    Member,
    PersonRegisteredElsewhere,
    PovertyStatus,
    RegistryRuleBroken,
    StaleVersion,
)
from shared.auth import Principal
from shared.contracts import registry as events
from shared.errors import Conflict, Forbidden, NotFound, ValidationProblem
from shared.sealing import Sealer


def facts_of(household: Household, sealer: Sealer) -> events.HouseholdFacts:
    # Built from the aggregate, whose own rules made every value valid: constructed without a second
    # validation (a bulk import builds one per household). The contract tests hold these equal to
    # validated facts.
    sealed = {
        m.id: {
            "birth_date": m.birth_date.isoformat(),
            "sex": m.sex,
            "disability_grade": m.disability_grade,
            "serious_illness": m.serious_illness,
        }
        for m in household.members
    }
    return events.HouseholdFacts.model_construct(
        household_id=household.id,
        version=household.version,
        region_code=household.region_code,
        poverty_status=household.poverty_status.value,
        exited_on=household.exited_on,
        assets_meet_local_rule=household.assets_meet_local_rule,
        cadre_id=household.assignment.cadre_id if household.assignment else None,
        members=[
            events.MemberFacts.model_construct(
                member_id=m.id,
                relation=m.relation.value,
                labour_capacity=m.labour_capacity.value,
                self_care=m.self_care.value,
                left_behind=m.left_behind.value,
                has_legal_supporter=m.has_legal_supporter,
                active=m.active,
            )
            for m in household.members
        ],
        incomes=[
            events.IncomeFacts.model_construct(
                income_id=i.id,
                member_id=i.member_id,
                type=i.type.value,
                annual_amount_fen=i.annual_amount_fen,
                effective_from=i.effective_from,
                effective_to=i.effective_to,
            )
            for i in household.incomes
        ],
        expenses=[
            events.ExpenseFacts.model_construct(
                expense_id=e.id,
                type=e.type.value,
                annual_amount_fen=e.annual_amount_fen,
                effective_from=e.effective_from,
                effective_to=e.effective_to,
            )
            for e in household.expenses
        ],
        sealed=sealer.seal(sealed),
    )


def new_member(fields: dict, today: date) -> Member:
    """A member from API input: birth date and sex come from the ID number, or must agree with it."""
    try:
        identity = parse_resident_id(fields["id_number"], today)
    except InvalidIdNumber as exc:
        raise ValidationProblem.field("id_number", exc.rule, str(exc)) from None
    for key, derived in (("birth_date", identity.birth_date), ("sex", identity.sex)):
        given = fields.get(key)
        if given is not None and given != derived:
            raise ValidationProblem.field(key, "id_consistency", f"{key} does not agree with the ID number")
    return Member(**{**fields, "id_number": identity.number, "birth_date": identity.birth_date, "sex": identity.sex})


async def check_region(uow: RegistryUnitOfWork, region_code: str, actor: Principal) -> None:
    # Scope first: outside it every code gets the same answer, so codes cannot be probed for existence.
    if not actor.covers_region(region_code):
        raise Forbidden(f"region {region_code} is outside your scope ({actor.region})")
    if await uow.regions.get(region_code) is None:
        raise ValidationProblem.field("region_code", "known_region", f"unknown region code {region_code}")


def new_household(
    data: dict,
    members: list[dict],
    today: date,
    incomes: Sequence[dict[str, Any]] = (),
    expenses: Sequence[dict[str, Any]] = (),
) -> Household:
    """A household from registration input, its rules checked (no I/O: imports build many before saving)."""
    household = Household(**data)
    try:
        added = [household.add_member(new_member(fields, today)) for fields in members]
        records: tuple[tuple[str, Sequence[dict[str, Any]], Callable[[Any], Any]], ...] = (
            ("incomes", incomes, household.record_income),
            ("expenses", expenses, household.record_expense),
        )
        for field, items, record in records:
            for index, fields in enumerate(items):
                position = fields.get("member_id")
                if position is not None:
                    if not (position.isdigit() and int(position) < len(added)):
                        raise RegistryRuleBroken(
                            f"{field}[{index}].member_id",
                            "member_position",
                            "at registration, member_id is the member's position in members",
                        )
                    fields = {**fields, "member_id": added[int(position)].id}
                record((Income if field == "incomes" else Expense)(**fields))
    except RegistryRuleBroken as exc:
        field = exc.field if "[" in exc.field else f"members.{exc.field}"
        raise ValidationProblem.field(field, exc.rule, str(exc)) from None
    return household


async def register_household(
    uow: RegistryUnitOfWork,
    data: dict,
    members: list[dict],
    actor: Principal,
    reason: str | None = None,
    incomes: Sequence[dict[str, Any]] = (),
    expenses: Sequence[dict[str, Any]] = (),
) -> Household:
    await check_region(uow, data["region_code"], actor)
    household = new_household(data, members, uow.today(), incomes, expenses)
    await _save(uow, household, None, actor, reason, "registered")
    uow.emit(events.HouseholdRegistered(**_common(household, actor, reason, uow)), subject=household.id)
    return household


async def register_households(
    uow: RegistryUnitOfWork, registrations: Sequence[tuple[Household, str]], actor: Principal
) -> None:
    """Save many new households, each with its reason, in one set of statements (bulk import). The caller
    has checked their regions, external refs and that no member is registered elsewhere; a race lost
    since then fails the whole set with an IntegrityError, so the caller can retry row by row."""
    today = uow.today()
    await uow.households.add_many(
        [(h, reason, h.derived_flags(today)) for h, reason in registrations], actor=actor.subject, change="registered"
    )
    for household, reason in registrations:
        uow.emit(events.HouseholdRegistered(**_common(household, actor, reason, uow)), subject=household.id)


# A household a comparison restated: (household, reason, incomes changed, status before if it changed).
Restated = tuple[Household, str, list[tuple[Income, int]], PovertyStatus | None]


async def restate_households(uow: RegistryUnitOfWork, restated: Sequence[Restated], actor: Principal) -> None:
    """Save households a comparison restated (bulk import), each as its next version with its reason, in
    one set of statements, each with its event. The caller loaded them locked in this unit of work
    (`get_many_by_external_refs`)."""
    today = uow.today()
    await uow.households.save_many(
        [(h, reason, h.derived_flags(today)) for h, reason, _, _ in restated], actor=actor.subject, change="restated"
    )
    for household, reason, incomes, previous_status in restated:
        uow.emit(
            events.HouseholdRestated(
                **_common(household, actor, reason, uow),
                incomes=[
                    events.RestatedIncome(
                        income_id=income.id,
                        member_id=income.member_id,
                        income_type=income.type.value,
                        effective_from=income.effective_from,
                        previous_annual_amount_fen=previous,
                        annual_amount_fen=income.annual_amount_fen,
                    )
                    for income, previous in incomes
                ],
                previous_status=previous_status.value if previous_status else None,
                status=household.poverty_status.value if previous_status else None,
            ),
            subject=household.id,
        )


async def load_for(
    uow: RegistryUnitOfWork, household_id: str, actor: Principal, *, for_update: bool = False
) -> Household:
    household = await uow.households.get(household_id, for_update=for_update)
    # A household outside the caller's scope is reported as absent, so ids cannot be probed.
    if household is None or not actor.may_see_household(household.id, household.region_code):
        raise NotFound(f"household {household_id} not found")
    return household


Mutation = Callable[[Household, date], Callable[[dict], events.HouseholdEvent]]


async def change_household(
    uow: RegistryUnitOfWork,
    household_id: str,
    expected_version: int | None,
    actor: Principal,
    reason: str | None,
    change: str,
    mutate: Mutation,
) -> Household:
    """Load (locked), apply `mutate`, save as the next version and emit the event `mutate` describes."""
    household = await load_for(uow, household_id, actor, for_update=True)
    if expected_version is not None and expected_version != household.version:
        raise StaleVersion(
            f"household {household_id} is at version {household.version}, "
            f"not {expected_version}; read it again and retry"
        )
    current = household.version
    try:
        make_event = mutate(household, uow.today())
    except RegistryRuleBroken as exc:
        raise ValidationProblem.field(exc.field, exc.rule, str(exc)) from None
    await check_region(uow, household.region_code, actor)
    await _save(uow, household, current, actor, reason, change)
    uow.emit(make_event(_common(household, actor, reason, uow)), subject=household.id)
    return household


async def _save(
    uow: RegistryUnitOfWork,
    household: Household,
    expected_version: int | None,
    actor: Principal,
    reason: str | None,
    change: str,
) -> None:
    try:
        await uow.households.save(
            household,
            expected_version=expected_version,
            actor=actor.subject,
            reason=reason,
            change=change,
            flags=household.derived_flags(uow.today()),
        )
    except PersonRegisteredElsewhere as exc:
        other = await uow.households.get(exc.household_id)
        raise person_registered_elsewhere(exc.household_id, other.region_code if other else None, actor) from None


def person_registered_elsewhere(household_id: str, region_code: str | None, actor: Principal) -> Conflict:
    # The other household is named only to a caller who may see it: otherwise the answer would tell
    # a county operator which household, in which county, a person belongs to.
    visible = region_code is not None and actor.may_see_household(household_id, region_code)
    return Conflict(
        "a member's ID number is already registered in another household",
        errors=[
            {
                "field": "id_number",
                "rule": "unique_id_number",
                "message": f"registered in household {household_id}"
                if visible
                else "registered in a household outside your scope; its registry office can move them",
            }
        ],
    )


def _common(household: Household, actor: Principal, reason: str | None, uow: RegistryUnitOfWork) -> dict:
    return dict(
        household_id=household.id,
        version=household.version,
        region_code=household.region_code,
        occurred_at=uow.now(),
        actor=actor.subject,
        facts=facts_of(household, uow.sealer),
    )


# --- the individual changes: each returns the event factory for what it did --------------------


def update_fields(changes: dict) -> Mutation:
    def mutate(h: Household, today: date):
        for key, value in changes.items():
            setattr(h, key, value)
        return lambda common: events.HouseholdUpdated(**common, changed_fields=sorted(changes))

    return mutate


def add_member(fields: dict) -> Mutation:
    def mutate(h: Household, today: date):
        member = h.add_member(new_member(fields, today))
        return lambda common: events.MemberAdded(**common, member_id=member.id)

    return mutate


def change_member(member_id: str, changes: dict) -> Mutation:
    def mutate(h: Household, today: date):
        h.change_member(member_id, changes)
        return lambda common: events.MemberChanged(**common, member_id=member_id, changed_fields=sorted(changes))

    return mutate


def remove_member(member_id: str) -> Mutation:
    def mutate(h: Household, today: date):
        h.remove_member(member_id)
        return lambda common: events.MemberRemoved(**common, member_id=member_id)

    return mutate


def record_income(fields: dict) -> Mutation:
    def mutate(h: Household, today: date):
        income = h.record_income(Income(**fields))
        return lambda common: events.IncomeRecorded(
            **common, income_id=income.id, income_type=income.type.value, annual_amount_fen=income.annual_amount_fen
        )

    return mutate


def correct_income(income_id: str, changes: dict) -> Mutation:
    def mutate(h: Household, today: date):
        income, previous = h.correct_income(income_id, changes)
        return lambda common: events.IncomeCorrected(
            **common,
            income_id=income.id,
            income_type=income.type.value,
            previous_annual_amount_fen=previous,
            annual_amount_fen=income.annual_amount_fen,
        )

    return mutate


def record_expense(fields: dict) -> Mutation:
    def mutate(h: Household, today: date):
        expense = h.record_expense(Expense(**fields))
        return lambda common: events.ExpenseRecorded(
            **common,
            expense_id=expense.id,
            expense_type=expense.type.value,
            annual_amount_fen=expense.annual_amount_fen,
        )

    return mutate


def record_asset(fields: dict) -> Mutation:
    def mutate(h: Household, today: date):
        asset = h.record_asset(Asset(**fields))
        return lambda common: events.AssetRecorded(**common, asset_id=asset.id, asset_type=asset.type)

    return mutate


def assign(fields: dict) -> Mutation:
    def mutate(h: Household, today: date):
        assignment = h.assign(Assignment(**fields))
        return lambda common: events.AssignmentChanged(**common, cadre_id=assignment.cadre_id, unit=assignment.unit)

    return mutate


def change_status(status: PovertyStatus, correction: bool = False) -> Mutation:
    def mutate(h: Household, today: date):
        previous = h.change_status(status, correction=correction)
        return lambda common: events.StatusChanged(
            **common, previous_status=previous.value, status=status.value, correction=correction
        )

    return mutate


def report_life_event(fields: dict) -> Mutation:
    def mutate(h: Household, today: date):
        life_event = h.report_life_event(LifeEvent(**fields))
        return lambda common: events.LifeEventReported(
            **common,
            life_event_id=life_event.id,
            life_event_type=life_event.type.value,
            occurred_on=life_event.occurred_on,
        )

    return mutate


async def add_region(uow: RegistryUnitOfWork, region: dict, actor: Principal) -> dict:
    code = region["code"]
    if not actor.covers_region(code):
        raise Forbidden(f"region {code} is outside your scope ({actor.region})")
    if await uow.regions.get(code):
        raise Conflict(f"region {code} already exists")
    expected_parent_length = {"township": 6, "village": 9}[region["level"]]
    parent = code[:expected_parent_length]
    if len(code) != expected_parent_length + 3 or await uow.regions.get(parent) is None:
        raise ValidationProblem.field(
            "code", "region_hierarchy", f"a {region['level']} code extends a known parent code by 3 digits"
        )
    row = {**region, "parent_code": parent, "prefecture": None, "two_lines_year": None}
    await uow.regions.add(row)
    return row
