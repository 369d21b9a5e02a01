from datetime import date

import pytest

from services.registry.domain.identity import (
    InvalidIdNumber,
    check_character,
    mask_id_number,
    mask_phone,
    parse_resident_id,
)

# Published example numbers whose check characters are known.
KNOWN_VALID = ["11010519491231002X", "440524188001010014"]


@pytest.mark.parametrize("number", KNOWN_VALID)
def test_known_numbers_pass_the_checksum(number):
    assert parse_resident_id(number).number == number


def test_birth_date_and_sex_come_from_the_number():
    parsed = parse_resident_id("11010519491231002X")
    assert parsed.birth_date == date(1949, 12, 31)
    assert parsed.sex == "female"  # 17th digit 2 is even
    assert parse_resident_id("440524188001010014").sex == "male"


def test_lower_case_x_is_accepted_and_normalised():
    assert parse_resident_id("11010519491231002x").number == "11010519491231002X"


@pytest.mark.parametrize(
    "number,rule",
    [
        ("110105194912310021", "id_checksum"),
        ("11010519491231002", "id_format"),
        ("1101051949123100AX", "id_format"),
        ("110105194902300020", "id_birth_date"),  # 30 February
        ("110105299901010020", "id_birth_date"),  # in the future
        ("١١0105194912310021", "id_format"),  # digits of another script are not an ID number's
    ],
)
def test_invalid_numbers_name_their_rule(number, rule):
    with pytest.raises(InvalidIdNumber) as error:
        parse_resident_id(number, today=date(2026, 11, 25))
    assert error.value.rule == rule


def test_every_wrong_check_character_is_refused():
    first17 = "22012219600517161"
    right = check_character(first17)
    for wrong in "0123456789X":
        if wrong != right:
            with pytest.raises(InvalidIdNumber):
                parse_resident_id(first17 + wrong)


def test_masks():
    assert mask_id_number("11010519491231002X") == "110105***********X"
    assert mask_phone("13912345678") == "139****5678"
