"""The one clock: instants are UTC; the business day is the date in Asia/Shanghai (a decision, a
deadline or an age is reckoned on the province's calendar, not the server's). Domain code never reads
the clock: the runtime hands `now` and `today` in (and tests replace the runtime's clock)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

BUSINESS_TZ = ZoneInfo("Asia/Shanghai")
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def business_day(moment: datetime) -> date:
    """The date in Asia/Shanghai at `moment` (an aware datetime)."""
    return moment.astimezone(BUSINESS_TZ).date()
