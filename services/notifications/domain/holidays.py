"""The major holidays of the "four contacts" (四个联系, 004): before each, the cadre contacts the households
assigned to it. The dates are the State Council's published holiday arrangements (国务院办公厅关于节假日
安排的通知; not in the seeds, said so): lunar holidays move every year, so they are data, listed per year
and replaceable by configuration (NOTIFICATIONS_HOLIDAYS), never computed. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

SOURCE = "国务院办公厅关于节假日安排的通知（各年度；非本项目所附文件）"
HOLIDAYS: Mapping[date, str] = {
    date(2026, 1, 1): "元旦",
    date(2026, 2, 17): "春节",
    date(2026, 6, 19): "端午节",
    date(2026, 9, 25): "中秋节",
    date(2026, 10, 1): "国庆节",
    date(2027, 1, 1): "元旦",
    date(2027, 2, 6): "春节",
    date(2027, 6, 9): "端午节",
    date(2027, 9, 15): "中秋节",
    date(2027, 10, 1): "国庆节",
}
LEAD = timedelta(days=3)


@dataclass(frozen=True)
class Holiday:
    day: date
    name: str


def reminders_due(today: date, holidays: Mapping[date, str] = HOLIDAYS, lead: timedelta = LEAD) -> list[Holiday]:
    """Holidays whose reminder falls due today or fell due and the holiday has not yet come (a service down
    on the due day still reminds before the holiday); the caller's dedupe sends each once per cadre."""
    return [Holiday(day, name) for day, name in sorted(holidays.items()) if day - lead <= today <= day]
