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
