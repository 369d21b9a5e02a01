"""The public-notice clock (公示): calendar days from posting, stopped while an objection is open."""

from __future__ import annotations

from datetime import date

import pytest

from shared.public_notice import NoticeProblem, Objection, PublicNotice, Ruling

START = date(2026, 9, 1)


def objection(n: int, raised: date) -> Objection:
    return Objection(id=f"o{n}", raised_on=raised, raised_by="someone", summary="异议")


def test_a_notice_without_objections_ends_after_its_days():
    notice = PublicNotice(place="village", started_on=START, days=7)
    assert notice.ends_on() == date(2026, 9, 8)
    assert not notice.complete_on(date(2026, 9, 7)) and notice.complete_on(date(2026, 9, 8))


def test_overlapping_objections_stop_the_clock_once_for_the_days_they_share():
    notice = PublicNotice(place="village", started_on=START, days=7)
    notice.object(objection(1, date(2026, 9, 3)), date(2026, 9, 3))
    notice.object(objection(2, date(2026, 9, 4)), date(2026, 9, 4))
    assert notice.ends_on() is None  # open objections: no end can be told
    notice.rule("o1", Ruling.DISMISSED, "township", "不属实", date(2026, 9, 5))
    assert notice.ends_on() is None
    notice.rule("o2", Ruling.DISMISSED, "township", "不属实", date(2026, 9, 7))
    # Stopped from the 3rd to the 7th: four days, not 2 + 3.
    assert notice.stopped_days() == 4 and notice.ends_on() == date(2026, 9, 12)


def test_an_upheld_objection_fails_the_notice_and_nothing_more_is_taken():
    notice = PublicNotice(place="township", started_on=START, days=5)
    notice.object(objection(1, START), START)
    notice.rule("o1", Ruling.UPHELD, "township", "属实", date(2026, 9, 2))
    assert notice.failed and notice.ends_on() is None and not notice.complete_on(date(2026, 12, 1))
    with pytest.raises(NoticeProblem) as refused:
        notice.object(objection(2, date(2026, 9, 3)), date(2026, 9, 3))
    assert refused.value.rule == "notice_running"


def test_objections_only_while_the_notice_runs_and_rulings_only_once():
    notice = PublicNotice(place="village", started_on=START, days=3)
    with pytest.raises(NoticeProblem):
        notice.object(objection(1, date(2026, 8, 31)), date(2026, 8, 31))
    with pytest.raises(NoticeProblem):
        notice.object(objection(1, date(2026, 9, 4)), date(2026, 9, 4))
    notice.object(objection(1, date(2026, 9, 2)), date(2026, 9, 2))
    notice.rule("o1", Ruling.DISMISSED, "township", "", date(2026, 9, 2))
    with pytest.raises(NoticeProblem) as twice:
        notice.rule("o1", Ruling.UPHELD, "township", "", date(2026, 9, 3))
    assert twice.value.rule == "objection_open"
