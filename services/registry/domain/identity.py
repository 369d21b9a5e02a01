"""Resident identity numbers (GB 11643-1999): 17 digits and an ISO 7064 MOD 11-2 check character."""

from __future__ import annotations

import operator
from dataclasses import dataclass
from datetime import date

_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
_CHECK = "10X98765432"
_ASCII_ZERO_TOTAL = 48 * sum(_WEIGHTS)  # the digits' bytes are 48 + digit


class InvalidIdNumber(ValueError):
    def __init__(self, rule: str, message: str):
        super().__init__(message)
        self.rule = rule


@dataclass(frozen=True)
class ResidentId:
    number: str
    birth_date: date
    sex: str  # "male" | "female": odd sequence digit is male

    @property
    def masked(self) -> str:
        return mask_id_number(self.number)


def check_character(first17: str) -> str:
    if len(first17) != 17 or not (first17.isascii() and first17.isdigit()):
        raise ValueError("the check character is computed over 17 digits")
    # Byte arithmetic in C (map over the bytes): a bulk import checks every member's number more than once.
    return _CHECK[(sum(map(operator.mul, first17.encode(), _WEIGHTS)) - _ASCII_ZERO_TOTAL) % 11]


def parse_resident_id(value: str, today: date | None = None) -> ResidentId:
    """`today` bounds the birth date inside the number; None skips that bound (a number already
    accepted on entry is parsed again only for its birth date and sex)."""
    number = value.strip().upper()
    known = _recently_parsed.get(number)
    if known is not None and (today is None or known.birth_date <= today):
        return known
    if (
        len(number) != 18
        or not number.isascii()
        or not number[:17].isdigit()
        or not (number[17].isdigit() or number[17] == "X")
    ):
        raise InvalidIdNumber("id_format", "a resident ID number has 17 digits and a check digit or X")
    try:
        birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise InvalidIdNumber("id_birth_date", "the birth date inside the ID number is not a real date") from None
    if birth.year < 1880 or (today is not None and birth > today):
        raise InvalidIdNumber("id_birth_date", "the birth date inside the ID number is out of range")
    if check_character(number[:17]) != number[17]:
        raise InvalidIdNumber("id_checksum", "the ID number's check digit does not match (GB 11643-1999)")
    identity = ResidentId(number, birth, "male" if int(number[16]) % 2 else "female")
    if len(_recently_parsed) >= _RECENT_LIMIT:
        _recently_parsed.clear()
    _recently_parsed[number] = identity
    return identity


# A member's number is parsed on entry and again by the household's own check (the domain enforces it on
# every path); a bulk import does both for every member of a chunk. Valid numbers only, each an
# immutable ResidentId; bounded (cleared when full).
_RECENT_LIMIT = 4096
_recently_parsed: dict[str, ResidentId] = {}


def mask_id_number(number: str) -> str:
    # Region prefix and check digit stay visible; birth date and sequence are hidden.
    return number[:6] + "*" * 11 + number[-1] if len(number) == 18 else "*" * len(number)


def mask_phone(phone: str | None) -> str | None:
    if not phone:
        return phone
    return phone[:3] + "*" * max(0, len(phone) - 7) + phone[-4:] if len(phone) >= 7 else "*" * len(phone)


def mask_name(name: str) -> str:
    return name[:1] + "*" * (len(name) - 1) if name else name
