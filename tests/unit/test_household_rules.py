from datetime import date

import pytest

from services.registry.domain.model import Household, Income, LabourCapacity, Member, PovertyStatus, RegistryRuleBroken
from tests.factories import id_number


def make_member(relation="head", **kw) -> Member:
    number = kw.pop("id_number", id_number(birth=date(1950, 1, 2)))
    return Member(
        name="赵六",
        id_number=number,
        birth_date=date(1950, 1, 2),
        sex="male" if int(number[16]) % 2 else "female",
        relation=relation,
        labour_capacity=LabourCapacity.FULL,
        **kw,
    )


def make_household() -> Household:
    h = Household(region_code="220122", address="x")
    h.add_member(make_member())
    return h


def test_one_head_only():
    h = make_household()
    with pytest.raises(RegistryRuleBroken) as e:
        h.add_member(make_member("head"))
    assert e.value.rule == "one_head"


def test_birth_date_must_match_id():
    h = make_household()
    member = make_member("spouse")
    member.birth_date = date(1951, 1, 1)
    with pytest.raises(RegistryRuleBroken) as e:
        h.add_member(member)
    assert e.value.rule == "id_consistency"


def test_last_member_cannot_be_removed_and_removed_members_are_kept():
    h = make_household()
    spouse = h.add_member(make_member("spouse"))
    h.remove_member(spouse.id)
    assert spouse in h.members and not spouse.active
    with pytest.raises(RegistryRuleBroken):
        h.remove_member(h.active_members[0].id)


def test_income_must_reference_an_active_member_and_a_valid_period():
    h = make_household()
    with pytest.raises(RegistryRuleBroken):
        h.record_income(
            Income(member_id="nobody", type="wages", amount_fen=1, period="month", effective_from=date(2026, 1, 1))
        )
    with pytest.raises(RegistryRuleBroken) as e:
        h.record_income(
            Income(
                type="wages",
                amount_fen=1,
                period="month",
                effective_from=date(2026, 2, 1),
                effective_to=date(2026, 1, 1),
            )
        )
    assert e.value.rule == "period_order"


def test_monthly_income_annualises_exactly():
    assert (
        Income(type="wages", amount_fen=33333, period="month", effective_from=date(2026, 1, 1)).annual_amount_fen
        == 399996
    )


def test_derived_flags():
    h = make_household()
    h.add_member(make_member("spouse", disability_grade=2, serious_illness=True, left_behind="elderly"))
    flags = h.derived_flags(date(2026, 1, 1))
    assert {"elderly", "severely_disabled", "seriously_ill", "left_behind_elderly"} <= set(flags)
    assert "severely_disabled" not in make_household().derived_flags(date(2026, 1, 1))


def test_return_to_poverty_only_after_lifted():
    h = make_household()
    with pytest.raises(RegistryRuleBroken):
        h.change_status(PovertyStatus.RETURNED)
    h.change_status(PovertyStatus.LIFTED)
    assert h.change_status(PovertyStatus.RETURNED) == PovertyStatus.LIFTED


def _stated(member: Member | None, amount_fen: int, effective_from: date, type: str = "wages") -> dict:
    return {
        "id_number": member.id_number if member else None,
        "type": type,
        "amount_fen": amount_fen,
        "period": "month",
        "effective_from": effective_from,
    }


def test_a_restatement_ends_what_was_in_force_and_is_idempotent():
    h = make_household()
    head = h.active_members[0]
    h.record_income(
        Income(member_id=head.id, type="wages", amount_fen=5000, period="month", effective_from=date(2026, 1, 1))
    )
    ((income, previous),) = h.restate_incomes([_stated(head, 2000, date(2026, 11, 1))])
    assert (income.amount_fen, previous) == (2000, 60_000)
    assert [(i.effective_from, i.effective_to) for i in h.incomes] == [
        (date(2026, 1, 1), date(2026, 10, 31)),
        (date(2026, 11, 1), None),
    ]
    assert h.restate_incomes([_stated(head, 2000, date(2026, 11, 1))]) == []  # already so
    # The same day again with another amount: the record of that day is corrected, not doubled.
    ((again, before),) = h.restate_incomes([_stated(head, 2100, date(2026, 11, 1))])
    assert again is income and (again.amount_fen, before) == (2100, 24_000) and len(h.incomes) == 2


def test_a_restatement_is_all_or_nothing_and_refuses_an_earlier_day_than_a_record():
    h = make_household()
    head = h.active_members[0]
    h.record_income(
        Income(member_id=head.id, type="wages", amount_fen=5000, period="month", effective_from=date(2026, 6, 1))
    )
    snapshot = [i.model_dump() for i in h.incomes]
    with pytest.raises(RegistryRuleBroken) as refused:
        h.restate_incomes([_stated(None, 100, date(2026, 11, 1), "transfer"), _stated(head, 1, date(2026, 5, 1))])
    assert (refused.value.field, refused.value.rule) == ("incomes[1].effective_from", "no_later_record")
    assert [i.model_dump() for i in h.incomes] == snapshot  # the first, valid income was not kept either
    stranger = make_member("spouse")
    with pytest.raises(RegistryRuleBroken) as unknown:
        h.restate_incomes([_stated(stranger, 1, date(2026, 11, 1))])
    assert unknown.value.rule == "member_of_household"


def test_facts_built_without_validation_equal_validated_facts():
    """facts_of constructs the event's facts from the aggregate without validating them again: they must
    be exactly what validation would make of them, sealed part included."""
    from services.registry.service_layer.services import facts_of
    from shared.contracts.registry import HouseholdFacts
    from shared.sealing import Sealer

    h = make_household()
    h.add_member(make_member("spouse", disability_grade=2, serious_illness=True))
    h.record_income(
        Income(
            member_id=h.members[1].id, type="wages", amount_fen=5000, period="month", effective_from=date(2026, 1, 1)
        )
    )
    h.record_income(
        Income(
            type="agriculture",
            amount_fen=90_000,
            period="year",
            effective_from=date(2026, 1, 1),
            effective_to=date(2026, 12, 31),
        )
    )
    h.exited_on, h.version = date(2026, 3, 1), 4
    sealer = Sealer("A" * 43)
    facts = facts_of(h, sealer)
    validated = HouseholdFacts.model_validate(facts.model_dump(mode="json"))
    assert validated.model_dump(mode="json", exclude={"sealed"}) == facts.model_dump(mode="json", exclude={"sealed"})
    assert sealer.unseal(validated.sealed) == {
        m.id: {
            "birth_date": m.birth_date.isoformat(),
            "sex": m.sex,
            "disability_grade": m.disability_grade,
            "serious_illness": m.serious_illness,
        }
        for m in h.members
    }
    assert validated.members[1].relation == "spouse" and validated.incomes[1].annual_amount_fen == 90_000


def test_a_comparison_row_is_all_or_nothing_across_incomes_and_status():
    h = make_household()
    head = h.active_members[0]
    h.poverty_status = PovertyStatus.NOT_LIFTED
    h.record_income(
        Income(member_id=head.id, type="wages", amount_fen=5000, period="month", effective_from=date(2026, 1, 1))
    )
    snapshot = [i.model_dump() for i in h.incomes]
    with pytest.raises(RegistryRuleBroken) as refused:  # leaving the register is an exit case's
        h.restate([_stated(head, 9000, date(2026, 11, 1))], PovertyStatus.LIFTED)
    assert refused.value.rule == "exit_workflow"
    assert [i.model_dump() for i in h.incomes] == snapshot and h.poverty_status == PovertyStatus.NOT_LIFTED
    assert h.restate([], PovertyStatus.NOT_LIFTED) == ([], None)  # as recorded: nothing changes
    changed, previous = h.restate([_stated(head, 9000, date(2026, 11, 1))], PovertyStatus.MARGINAL)
    assert previous == PovertyStatus.NOT_LIFTED and h.poverty_status == PovertyStatus.MARGINAL and len(changed) == 1


def test_a_refused_income_puts_the_status_of_the_same_row_back():
    h = make_household()
    head = h.active_members[0]
    h.poverty_status = PovertyStatus.NOT_LIFTED
    h.record_income(
        Income(member_id=head.id, type="wages", amount_fen=5000, period="month", effective_from=date(2026, 6, 1))
    )
    with pytest.raises(RegistryRuleBroken) as refused:  # earlier than the record: refused after the status
        h.restate([_stated(head, 1, date(2026, 5, 1))], PovertyStatus.MARGINAL)
    assert refused.value.rule == "no_later_record" and h.poverty_status == PovertyStatus.NOT_LIFTED
