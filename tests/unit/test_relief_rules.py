"""The disaster-relief case's rules, pure (002 二(六)): the order of the three reviews and two notices,
objections and what an upheld one does, amendments, approval and payment."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from services.disbursement.domain.relief import (
    Amendment,
    Disaster,
    DisasterKind,
    LineStatus,
    Need,
    ReliefCase,
    ReliefLine,
    ReliefRuleBroken,
    ReliefStatus,
)
from shared.public_notice import Ruling, Step

DAY0 = date(2026, 7, 20)


def step(name: str, day: int, by: str = "someone") -> Step:
    on = DAY0 + timedelta(days=day)
    return Step(step=name, on=on, at=datetime(on.year, on.month, on.day, 2, tzinfo=UTC), by=by)


def case(*households: str) -> ReliefCase:
    lines = [
        ReliefLine(household_id=h, region_code="220122101201", amount_fen=10_000, needs=[Need.FOOD])
        for h in households or ("a", "b")
    ]
    disaster = Disaster(kind=DisasterKind.FLOOD, occurred_on=DAY0, summary="暴雨")
    return ReliefCase.propose("220122101201", disaster, lines, step("proposed", 0))


def through_village_notice(relief: ReliefCase) -> ReliefCase:
    relief.review(DAY0, "村评议", [], step("reviewed", 0))
    relief.post_notice(7, 7, step("notice_posted", 0))
    return relief


def test_the_levels_take_turns_and_each_notice_must_complete():
    relief = case()
    assert relief.reviewing_level() == "village" and relief.notice_level() is None
    through_village_notice(relief)
    assert relief.status == ReliefStatus.VILLAGE_NOTICE and relief.ruling_level() == "township"
    with pytest.raises(ReliefRuleBroken) as early:
        relief.review(DAY0 + timedelta(days=6), "乡镇审核", [], step("reviewed", 6))
    assert early.value.rule == "notice_complete"
    relief.review(DAY0 + timedelta(days=7), "乡镇审核", [], step("reviewed", 7))
    relief.post_notice(7, 7, step("notice_posted", 7))
    assert relief.ruling_level() == "county"
    with pytest.raises(ReliefRuleBroken) as waiting:
        relief.approve(step("approved", 13))
    assert waiting.value.rule == "notice_complete"
    to_pay = relief.approve(step("approved", 14))
    assert [line.status for line in to_pay] == [LineStatus.PAYING, LineStatus.PAYING]
    with pytest.raises(ReliefRuleBroken) as twice:
        relief.approve(step("approved", 14))
    assert twice.value.rule == "step_order"


def test_an_upheld_objection_strikes_its_household_and_sends_the_list_back_to_review():
    relief = through_village_notice(case("a", "b"))
    objection = relief.raise_objection("未受灾", "a", step("objection_raised", 1))
    relief.rule_on_objection(objection.id, Ruling.UPHELD, step("objection_ruled", 2))
    assert relief.status == ReliefStatus.VILLAGE_REVIEWED and relief.notices[-1].failed
    assert [line.status for line in relief.lines] == [LineStatus.STRUCK, LineStatus.LISTED]
    assert relief.total_fen == 10_000
    relief.post_notice(7, 7, step("notice_posted", 2))  # posted again, a fresh notice
    assert len(relief.notices) == 2 and not relief.notice.failed


def test_an_upheld_objection_to_the_whole_list_keeps_its_households_for_the_review_to_amend():
    relief = through_village_notice(case("a", "b"))
    objection = relief.raise_objection("名单不全", None, step("objection_raised", 1))
    relief.rule_on_objection(objection.id, Ruling.UPHELD, step("objection_ruled", 2))
    assert relief.status == ReliefStatus.VILLAGE_REVIEWED and len(relief.listed) == 2
    relief.review(DAY0 + timedelta(days=2), "再次评议", [Amendment(household_id="b", amount_fen=5_000)], step("r", 2))
    assert relief.total_fen == 15_000


def test_striking_the_last_household_stops_the_case():
    relief = through_village_notice(case("a"))
    objection = relief.raise_objection("未受灾", "a", step("objection_raised", 1))
    relief.rule_on_objection(objection.id, Ruling.UPHELD, step("objection_ruled", 1))
    assert relief.status == ReliefStatus.STOPPED and not relief.open


def test_amendments_change_only_listed_households_and_never_empty_the_list():
    relief = case("a", "b")
    with pytest.raises(ReliefRuleBroken) as new:
        relief.review(DAY0, "评议", [Amendment(household_id="c", amount_fen=1)], step("reviewed", 0))
    assert new.value.rule == "listed_household" and new.value.field == "amendments[0].household_id"
    with pytest.raises(ReliefRuleBroken) as empty:
        relief.review(
            DAY0,
            "评议",
            [Amendment(household_id="a", amount_fen=0), Amendment(household_id="b", amount_fen=0)],
            step("reviewed", 0),
        )
    assert empty.value.rule == "min_items"
    with pytest.raises(ReliefRuleBroken) as before:
        relief.review(DAY0 - timedelta(days=1), "评议", [], step("reviewed", 0))
    assert before.value.rule == "date_order"


def test_a_case_is_paid_once_every_listed_household_is_paid_and_a_repeat_changes_nothing():
    relief = through_village_notice(case("a", "b"))
    relief.review(DAY0 + timedelta(days=7), "乡镇审核", [], step("reviewed", 7))
    relief.post_notice(7, 7, step("notice_posted", 7))
    first, second = relief.approve(step("approved", 14))
    assert relief.line_paid(first.id, step("paid", 14)) is False
    assert relief.line_paid(first.id, step("paid", 14)) is False  # again: already paid
    assert relief.status == ReliefStatus.APPROVED
    assert relief.line_paid(second.id, step("paid", 15)) is True
    assert relief.status == ReliefStatus.PAID
    assert relief.line_paid(second.id, step("paid", 15)) is False


def test_a_proposal_lists_each_household_once_and_no_future_disaster():
    lines = [
        ReliefLine(household_id="a", region_code="220122101201", amount_fen=1, needs=[Need.WATER]) for _ in range(2)
    ]
    with pytest.raises(ReliefRuleBroken) as twice:
        ReliefCase.propose("220122101201", Disaster(kind="flood", occurred_on=DAY0, summary="x"), lines, step("p", 0))
    assert twice.value.rule == "unique_household" and twice.value.field == "lines[1].household_id"
    with pytest.raises(ReliefRuleBroken) as future:
        ReliefCase.propose(
            "220122101201",
            Disaster(kind="flood", occurred_on=DAY0 + timedelta(days=1), summary="x"),
            lines,
            step("p", 0),
        )
    assert future.value.rule == "date_order"
