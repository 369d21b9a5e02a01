"""The reports' rules, pure (003 四(四), 002 三(二)): periods and their deadlines, the facts each event
contributes, the roll-up from counties to cities and the province, differences between versions, and the
Chinese headings."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.notifications.domain import reports as rules
from services.notifications.domain.reports import Level, Period, ReportKind


def test_a_quarter_is_due_to_the_city_by_the_5th_and_to_the_province_by_the_10th():
    q3 = Period.parse(ReportKind.QUARTERLY, "2026-Q3")
    assert (q3.start, q3.end, q3.months) == (date(2026, 7, 1), date(2026, 9, 30), ["2026-07", "2026-08", "2026-09"])
    assert q3.due_on(Level.COUNTY) == date(2026, 10, 5) and q3.due_to(Level.COUNTY) == "city"
    assert q3.due_on(Level.CITY) == date(2026, 10, 10) and q3.due_to(Level.CITY) == "province"
    assert q3.due_on(Level.PROVINCE) is None
    q4 = Period.parse(ReportKind.QUARTERLY, "2026-Q4")
    assert q4.end == date(2026, 12, 31) and q4.due_on(Level.COUNTY) == date(2027, 1, 5)
    month = Period.parse(ReportKind.MONTHLY, "2026-11")
    assert month.end == date(2026, 11, 30) and month.due_on(Level.COUNTY) == date(2026, 12, 5)
    assert month.due_on(Level.CITY) is None


@pytest.mark.parametrize("label", ["2026-Q5", "2026-Q0", "2026-13", "2026", "Q3-2026"])
def test_a_period_written_otherwise_is_refused_with_the_form_it_needs(label):
    kind = ReportKind.QUARTERLY if "Q" in label else ReportKind.MONTHLY
    with pytest.raises(ValueError, match="YYYY"):
        Period.parse(kind, label)


def test_the_period_being_prepared_is_the_last_complete_one():
    assert rules.last_complete(ReportKind.QUARTERLY, date(2026, 10, 2)).label == "2026-Q3"
    assert rules.last_complete(ReportKind.QUARTERLY, date(2027, 1, 9)).label == "2026-Q4"
    assert rules.last_complete(ReportKind.MONTHLY, date(2027, 1, 3)).label == "2026-12"


def test_a_deadline_is_open_then_due_soon_then_missed_unless_submitted():
    due = date(2026, 10, 5)
    assert rules.deadline_state(due, date(2026, 10, 1), False) == "open"
    assert rules.deadline_state(due, date(2026, 10, 2), False) == "due_soon"
    assert rules.deadline_state(due, date(2026, 10, 5), False) == "due_soon"
    assert rules.deadline_state(due, date(2026, 10, 6), False) == "missed"
    assert rules.deadline_state(due, date(2026, 10, 6), True) == "submitted"


def test_counties_roll_up_to_their_city_and_the_province():
    a = rules.empty_figures() | {"households.household": 2, "paid_fen.dibao": 100}
    b = rules.empty_figures() | {"households.household": 3, "paid_fen.dibao": 50}
    c = rules.empty_figures() | {"households.household": 7}
    rows = rules.roll_up({"220122": a, "220182": b, "220303": c}, "22")
    assert list(rows) == ["22", "2201", "220122", "220182", "2203", "220303"]
    assert rows["2201"]["households.household"] == 5 and rows["2201"]["paid_fen.dibao"] == 150
    assert rows["22"]["households.household"] == 12
    city = rules.roll_up({"220122": a, "220182": b, "220303": c}, "2201")
    assert list(city) == ["2201", "220122", "220182"]
    empty = rules.roll_up({}, "220122")
    assert empty == {"220122": rules.empty_figures()}


def test_differences_name_the_region_and_figure_with_both_values():
    before = {"220122": {"households.household": 2, "exits.households": 1}}
    after = {"220122": {"households.household": 1, "exits.households": 1}, "2201": {"households.household": 1}}
    assert rules.differences(before, after) == [
        {"region_code": "2201", "figure": "households.household", "before": 0, "after": 1},
        {"region_code": "220122", "figure": "households.household", "before": 2, "after": 1},
    ]
    assert rules.differences(after, after) == []


def test_the_same_day_rate_is_exact_to_two_decimals():
    assert rules.same_day_rate({"aid_same_day.cases": 3, "aid_same_day.on_time": 2}) == "66.67"
    assert rules.same_day_rate({"aid_same_day.cases": 0}) is None


def test_events_contribute_their_facts():
    at = datetime(2026, 9, 30, 17, 0, tzinfo=UTC)  # 1 October in Asia/Shanghai
    decision = rules.facts_of(
        "eligibility.decision.changed",
        "e1",
        at,
        {
            "household_id": "h",
            "region_code": "220122101201",
            "programme": "dibao",
            "member_id": None,
            "status": "eligible",
            "basis": "household",
            "valid_from": "2026-09-01",
            "as_of": "2026-10-01",
            "decision_sequence": 4,
            "monthly_amount_fen": 500,
        },
    )
    assert decision[0]["effective_on"] == date(2026, 9, 1)
    assert (decision[0]["key"], decision[0]["category"], decision[0]["people"]) == ("h|dibao|", "household", None)
    revoked = rules.facts_of(
        "eligibility.decision.changed",
        "e2",
        at,
        {
            "household_id": "h",
            "region_code": "2201",
            "programme": "dibao",
            "status": "not_eligible",
            "as_of": "2026-10-01",
        },
    )
    assert revoked[0]["category"] is None and revoked[0]["effective_on"] == date(2026, 10, 1)
    household = rules.facts_of(
        "registry.household.exited",
        "e3",
        at,
        {
            "household_id": "h",
            "region_code": "2201",
            "version": 3,
            "exited_on": "2026-09-30",
            "facts": {"poverty_status": "lifted", "members": [{"active": True}, {"active": False}]},
        },
    )
    assert [(f["kind"], f["effective_on"]) for f in household] == [
        ("household", date(2026, 10, 1)),
        ("exit", date(2026, 9, 30)),
    ]
    assert household[0]["people"] == 1 and household[0]["category"] == "lifted"
    scheduled = {"payment_id": "p", "region_code": "2201", "programme": "dibao", "status": "scheduled"}
    assert rules.facts_of("disbursement.payment.scheduled", "e4", at, scheduled) == []
    assert rules.facts_of("notifications.notice.created", "e5", at, {}) == []


def test_every_figure_has_a_chinese_heading():
    rows = list(rules.table({"220122": rules.empty_figures() | {"paid_fen.dibao": 12345}}))
    assert rows[0][:2] == ["地区代码", "层级"] and len(rows[0]) == len(rows[1])
    assert all(heading and heading.isascii() is False for heading in rows[0])
    assert rows[1][rows[0].index("低保发放金额（元）")] == "123.45"
