"""The notifications domain: which events alert whom, the Chinese wording, dedupe keys, escalation, webhook
retry rules, grouping and trace trees. Pure: no database, no clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.notifications.domain import alerts, grouping, rules, templates, traces, webhooks
from services.notifications.domain.rules import HouseholdEntry, RecipientKind, Severity

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
HOUSEHOLD = {"household_id": "h1", "region_code": "220122101201", "cadre_id": "cadre-7"}


def test_a_monitoring_signal_alerts_the_cadre_and_tells_the_township():
    notices = rules.notices_for("eligibility.signal.raised", HOUSEHOLD | {"kind": "income_drop"}, None)
    cadre, township = notices
    assert (cadre.recipient_kind, cadre.recipient_id, cadre.alert) == (RecipientKind.CADRE, "cadre-7", True)
    assert (township.recipient_kind, township.recipient_id) == (RecipientKind.TOWNSHIP, "220122101")
    assert township.grouped and not cadre.grouped
    assert templates.render(cadre.category, cadre.fields)[1] == "您包保的家庭出现预警：收入骤减，请及时核实走访。"


def test_a_household_without_a_cadre_alerts_its_township_and_the_directory_supplies_a_cadre():
    data = HOUSEHOLD | {"cadre_id": None, "kind": "expense_spike"}
    alone = rules.notices_for("eligibility.signal.raised", data, None)[0]
    assert (alone.recipient_kind, alone.recipient_id, alone.alert) == (RecipientKind.TOWNSHIP, "220122101", True)
    known = rules.notices_for("eligibility.signal.raised", data, HouseholdEntry("h1", "220122101201", "cadre-9"))[0]
    assert (known.recipient_kind, known.recipient_id) == (RecipientKind.CADRE, "cadre-9")


def test_decisions_tell_the_household_in_chinese_with_exact_yuan():
    data = HOUSEHOLD | {"change": "granted", "programme": "dibao", "monthly_amount_fen": 123_405}
    household, township = rules.notices_for("eligibility.decision.changed", data, None)
    assert household.recipient_kind is RecipientKind.HOUSEHOLD and household.recipient_id == "h1"
    title, body = templates.render(household.category, household.fields)
    assert title == "救助申请已批准"
    assert body == "您家已纳入最低生活保障（低保），每月 1234.05 元。"
    assert township.grouped
    # A decision that changes nothing people need to hear about gives no notice.
    assert rules.notices_for("eligibility.decision.changed", data | {"change": "recomputed"}, None) == []


@pytest.mark.parametrize(
    ("fen", "text"), [(0, "0.00"), (5, "0.05"), (100, "1.00"), (123_456_789, "1234567.89"), (-250, "-2.50")]
)
def test_yuan_is_exact(fen, text):
    assert templates.yuan(fen) == text


def test_a_same_day_deadline_at_risk_is_critical_and_never_grouped():
    data = HOUSEHOLD | {"kind": "emergency", "cause": "epidemic", "approved_amount_fen": 50_000, "step": "approved"}
    (notice,) = rules.notices_for("disbursement.aid.deadline_at_risk", data, None)
    assert notice.severity is Severity.CRITICAL and notice.alert and not notice.grouped
    assert notice.recipient_kind is RecipientKind.TOWNSHIP
    assert "今日 24 时前" in templates.render(notice.category, notice.fields)[1]
    (missed,) = rules.notices_for("disbursement.aid.deadline_missed", data, None)
    assert missed.recipient_kind is RecipientKind.COUNTY and missed.recipient_id == "220122"


def test_payments_rejected_tell_county_and_household_unknown_only_the_county():
    data = HOUSEHOLD | {"programme": "dibao", "month": "2026-11", "amount_fen": 30_000}
    rejected = rules.notices_for("disbursement.payment.rejected", data | {"status": "rejected"}, None)
    assert {n.recipient_kind for n in rejected} == {RecipientKind.COUNTY, RecipientKind.HOUSEHOLD}
    unknown = rules.notices_for("disbursement.payment.unknown", data | {"status": "unknown"}, None)
    assert [n.recipient_kind for n in unknown] == [RecipientKind.COUNTY]
    (paid,) = rules.notices_for("disbursement.payment.paid", data | {"status": "paid"}, None)
    assert templates.render(paid.category, paid.fields)[1] == "2026-11 最低生活保障（低保） 300.00 元已发放到账。"


@pytest.mark.parametrize(
    ("life_event", "contact"),
    [("hospitalisation", "hospitalisation"), ("disaster", "disaster_or_hardship"), ("major_dispute", "dispute")],
)
def test_the_four_contacts_alert_the_cadre(life_event, contact):
    data = HOUSEHOLD | {"life_event_type": life_event, "occurred_on": "2026-11-30"}
    (notice,) = rules.notices_for("registry.household.life_event_reported", data, None)
    assert notice.category == f"contact.{contact}" and notice.alert and notice.recipient_id == "cadre-7"
    assert rules.notices_for("registry.household.life_event_reported", data | {"life_event_type": "other"}, None) == []


def test_an_exit_tells_the_household_its_notice_and_announcement_and_the_township_an_objection():
    noticed = rules.notices_for("registry.exit.notice_started", HOUSEHOLD | {"notice_ends_on": "2026-09-08"}, None)
    assert [n.recipient_kind for n in noticed] == [RecipientKind.HOUSEHOLD]
    assert "2026-09-08" in templates.render(noticed[0].category, noticed[0].fields)[1]
    [objection] = rules.notices_for("registry.exit.objection_raised", HOUSEHOLD, None)
    assert (objection.recipient_kind, objection.recipient_id, objection.alert) == (
        RecipientKind.TOWNSHIP,
        "220122101",
        True,
    )
    household, cadre = rules.notices_for("registry.exit.announced", HOUSEHOLD | {"exit_date": "2026-09-11"}, None)
    assert cadre.recipient_id == "cadre-7"
    assert "摘帽不摘政策" in templates.render(household.category, household.fields)[1]


def test_dedupe_key_is_recipient_household_cause_and_window():
    data = HOUSEHOLD | {"change": "amount_changed", "programme": "dibao", "monthly_amount_fen": 100}
    notice = rules.notices_for("eligibility.decision.changed", data, None)[0]
    key = notice.dedupe_key(NOW)
    assert key == notice.dedupe_key(NOW + timedelta(minutes=59))  # same window
    assert key != notice.dedupe_key(NOW + timedelta(hours=1))  # next window
    other_amount = rules.notices_for("eligibility.decision.changed", data | {"monthly_amount_fen": 200}, None)[0]
    assert other_amount.dedupe_key(NOW) != key  # different content is a different notice
    other_house = rules.notices_for("eligibility.decision.changed", data | {"household_id": "h2"}, None)[0]
    assert other_house.dedupe_key(NOW) != key


def test_templates_never_fail_on_a_field_an_old_event_lacks():
    assert templates.render("payment.paid", {}) == ("救助金已发放", "— 救助 — 元已发放到账。")


# --- escalation -----------------------------------------------------------------------------------------
def _alert(category: str = "monitoring.income_drop", first=alerts.Level.CADRE) -> alerts.Alert:
    return alerts.raise_alert("a1", category, "warning", "h1", "220122101201", "cadre-7", first, NOW)


def test_an_unacknowledged_alert_escalates_cadre_then_township_then_county_then_reminds():
    alert = _alert()
    assert alert.level is alerts.Level.CADRE and alert.due_at == NOW + timedelta(hours=24)
    assert alerts.escalate(alert, NOW + timedelta(hours=23, minutes=59)) is None
    township = alerts.escalate(alert, NOW + timedelta(hours=24))
    assert township.level is alerts.Level.TOWNSHIP and township.due_at == NOW + timedelta(hours=48)
    county = alerts.escalate(township, NOW + timedelta(hours=48))
    assert county.level is alerts.Level.COUNTY
    first = alerts.escalate(county, county.due_at)
    second = alerts.escalate(first, first.due_at)
    assert (first.reminders, second.reminders, second.due_at) == (1, 2, None)  # repeat=2, then quiet
    assert alerts.escalate(second, NOW + timedelta(days=30)) is None


def test_acknowledged_or_resolved_alerts_never_escalate():
    alert = alerts.acknowledge(_alert(), "cadre-7", NOW + timedelta(hours=1))
    assert alert.status is alerts.AlertStatus.ACKNOWLEDGED and alert.due_at is None
    assert alerts.escalate(alert, NOW + timedelta(days=3)) is None
    assert alerts.acknowledge(alert, "other", NOW + timedelta(hours=2)).acknowledged_by == "cadre-7"
    resolved = alerts.resolve(alert, "township-1", NOW + timedelta(hours=3))
    with pytest.raises(alerts.AlertStepRefused):
        alerts.acknowledge(resolved, "cadre-7", NOW + timedelta(hours=4))


def test_a_same_day_alert_starts_at_the_township_and_escalates_within_the_hour():
    alert = _alert("aid.deadline_at_risk", alerts.Level.TOWNSHIP)
    assert alert.policy == "same_day" and alert.level is alerts.Level.TOWNSHIP
    county = alerts.escalate(alert, NOW + timedelta(hours=1))
    assert county.level is alerts.Level.COUNTY


# --- webhooks -------------------------------------------------------------------------------------------
def test_retry_schedule_is_the_standard_one_then_failed():
    failure = webhooks.AttemptOutcome(500)
    delays = []
    for made in range(1, 9):
        step = webhooks.after_attempt(made, failure, NOW, NOW)
        delays.append(None if step.next_attempt_at is None else step.next_attempt_at - NOW)
    assert delays[:7] == [
        timedelta(seconds=5),
        timedelta(minutes=5),
        timedelta(minutes=30),
        timedelta(hours=2),
        timedelta(hours=5),
        timedelta(hours=10),
        timedelta(hours=10),
    ]
    assert delays[7] is None and webhooks.after_attempt(8, failure, NOW, NOW).status is webhooks.DeliveryStatus.FAILED


def test_only_2xx_succeeds_410_disables_and_five_days_of_failure_disable():
    assert (
        webhooks.after_attempt(1, webhooks.AttemptOutcome(204), NOW, None).status is webhooks.DeliveryStatus.SUCCEEDED
    )
    assert webhooks.after_attempt(1, webhooks.AttemptOutcome(301), NOW, None).status is webhooks.DeliveryStatus.PENDING
    gone = webhooks.after_attempt(1, webhooks.AttemptOutcome(410), NOW, None)
    assert gone.status is webhooks.DeliveryStatus.FAILED and gone.disable_subscription
    tired = webhooks.after_attempt(1, webhooks.AttemptOutcome(None, error="ConnectError"), NOW, NOW - timedelta(days=5))
    assert tired.disable_subscription == "every delivery failed for five days"


def test_retry_after_is_honoured_as_seconds_or_date():
    slow = webhooks.AttemptOutcome(503, retry_after=webhooks.parse_retry_after("120", NOW))
    assert webhooks.after_attempt(1, slow, NOW, NOW).next_attempt_at == NOW + timedelta(seconds=120)
    dated = webhooks.parse_retry_after("Tue, 01 Dec 2026 03:00:00 GMT", NOW)
    assert dated == timedelta(hours=1)
    assert webhooks.parse_retry_after("soon", NOW) is None
    huge = webhooks.AttemptOutcome(429, retry_after=timedelta(days=30))
    assert webhooks.after_attempt(1, huge, NOW, NOW).next_attempt_at == NOW + webhooks.MAX_RETRY_AFTER


# --- grouping -------------------------------------------------------------------------------------------
def test_a_group_waits_then_respects_its_interval():
    timing = grouping.GroupTiming(timedelta(seconds=30), timedelta(minutes=5))
    assert grouping.flush_due_at(NOW, None, timing) == NOW + timedelta(seconds=30)
    # Right after a digest, new notices wait for the interval, not just the group wait.
    assert grouping.flush_due_at(NOW, NOW - timedelta(minutes=1), timing) == NOW + timedelta(minutes=4)


# --- traces ---------------------------------------------------------------------------------------------
def _event(event_id, cause, seconds, service="registry"):
    at = NOW + timedelta(seconds=seconds)
    return traces.TraceEvent(event_id, f"{service}.x", service, "t1", cause, "h1", "220122", at, at)


def test_a_trace_is_a_causation_tree_with_hop_latencies_and_its_critical_path():
    events = [
        _event("r1", None, 0),
        _event("d1", "r1", 0.05, "eligibility"),
        _event("s1", "r1", 0.04, "eligibility"),
        _event("n1", "d1", 0.2, "notifications"),
        _event("p1", "elsewhere", 5, "disbursement"),  # caused by an event of another trace: a link
    ]
    trace = traces.build_trace("t1", events)
    assert [root.event.id for root in trace.roots] == ["r1", "p1"]
    r1 = trace.roots[0]
    assert sorted(child.event.id for child in r1.children) == ["d1", "s1"]
    d1 = next(child for child in r1.children if child.event.id == "d1")
    assert d1.latency_ms == 50.0 and d1.children[0].latency_ms == 150.0
    assert trace.roots[1].linked_to == "elsewhere" and trace.roots[1].latency_ms is None
    # The last event is the link's: the critical path is that event alone (its cause is elsewhere).
    assert trace.critical_path == ["p1"]
    without_link = traces.build_trace("t1", events[:4])
    assert without_link.critical_path == ["r1", "d1", "n1"] and without_link.duration_ms == 200.0


def test_holiday_reminders_fall_due_three_days_before_until_the_day():
    from datetime import date

    from services.notifications.domain import holidays

    assert holidays.reminders_due(date(2026, 9, 21)) == []
    assert holidays.reminders_due(date(2026, 9, 22)) == [holidays.Holiday(date(2026, 9, 25), "中秋节")]
    assert holidays.reminders_due(date(2026, 9, 25)) == [holidays.Holiday(date(2026, 9, 25), "中秋节")]
    # On 28 September Mid-Autumn has passed and National Day's reminder is due.
    assert [h.name for h in holidays.reminders_due(date(2026, 9, 28))] == ["国庆节"]
    assert holidays.reminders_due(date(2026, 9, 26)) == []
    assert templates.render("contact.holiday", {"holiday": "春节"})[1] == "春节将至，请联系走访您包保的家庭。"
