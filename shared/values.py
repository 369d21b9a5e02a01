"""The bounds every request value of the system lives within, one definition each: money in fen, calendar
days and months. Values outside them are refused at the edge with the rule broken (422), before the
arithmetic (a month's last day, a year of payments summed) or the database (64-bit columns) meets them."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field

# Ten billion yuan: above any single amount of this system, and low enough that a province's sum of them
# (incomes × 12 months × members, a run's total) stays far inside a signed 64-bit column.
MAX_FEN = 10**12
Fen = Annotated[int, Field(strict=True, ge=0, le=MAX_FEN, description="amount in fen (1 yuan = 100 fen)")]

# Birth dates of living people to the end of any standard's validity: dates beyond are typing errors, and
# the day after 9999-12-31 does not exist.
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2999, 12, 31)


_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _iso_day(value: object) -> object:
    # Pydantic's lax date also reads numbers and numeric strings as Unix timestamps ("0.0" → 1970-01-01):
    # a day is written YYYY-MM-DD here, nothing else.
    if isinstance(value, str) and not _ISO_DAY.match(value):
        raise ValueError("a day written YYYY-MM-DD")
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError("a day written YYYY-MM-DD")
    return value


def _in_calendar(value: date) -> date:
    if not FIRST_DAY <= value <= LAST_DAY:
        raise ValueError(f"a date from {FIRST_DAY} to {LAST_DAY}")
    return value


CalendarDate = Annotated[
    date,
    BeforeValidator(_iso_day),
    AfterValidator(_in_calendar),
    Field(description=f"a calendar day, {FIRST_DAY} to {LAST_DAY}"),
]
# A month this system pays or reports on (YYYY-MM, years 2000-2199).
MONTH_PATTERN = r"^2[01]\d{2}-(0[1-9]|1[0-2])$"
# A reporting period: a month (YYYY-MM) or a quarter (YYYY-Qn).
PERIOD_PATTERN = r"^2[01]\d{2}-(0[1-9]|1[0-2]|Q[1-4])$"
