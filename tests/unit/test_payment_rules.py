"""The pure rules of payments, reconciliation and temporary aid."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.disbursement.domain import aid
from services.disbursement.domain.payments import (
    Outcome,
    Payment,
    PaymentStatus,
    after_outcome,
    amount_text,
    fen_of,
    parse_month,
    reference_id,
)
from services.disbursement.domain.reconciliation import StatementInvalid, parse_statement, reconcile


@given(st.integers(min_value=0, max_value=10**15 - 1))  # DCI's range: 13 digits of yuan
def test_amounts_go_to_the_dci_string_and_back_exactly(fen):
    text = amount_text(fen)
    assert fen_of(text) == fen
    assert text.count(".") == 1 and len(text.split(".")[1]) == 2


def test_amounts_with_more_than_two_decimals_or_negative_are_refused():
    for fen in (-1, 10**15):
        with pytest.raises(ValueError):
            amount_text(fen)
    for bad in ("1.234", "-1.00", "abc"):
        with pytest.raises(ValueError):
            fen_of(bad)


def test_months_and_references():
    assert parse_month("2026-02") == (date(2026, 2, 1), date(2026, 2, 28))
    assert parse_month("2028-12") == (date(2028, 12, 1), date(2028, 12, 31))
    for bad in ("2026-13", "2026-1", "26-01"):
        with pytest.raises(ValueError):
            parse_month(bad)
    assert reference_id("e1", "2026-11", 2) == "e1.202611.2"


def test_outcomes_move_a_payment_only_forward_and_never_twice():
    paid = Outcome("r", PaymentStatus.PAID)
    assert after_outcome(PaymentStatus.SUBMITTED, paid) == PaymentStatus.PAID
    assert after_outcome(PaymentStatus.UNKNOWN, paid) == PaymentStatus.PAID
    assert after_outcome(PaymentStatus.PAID, paid) is None  # a duplicate callback
    assert after_outcome(PaymentStatus.PAID, Outcome("r", PaymentStatus.SUBMITTED)) is None  # a late "pending"
    assert after_outcome(PaymentStatus.REJECTED, paid) is None  # a contradiction is the statement's to flag
    assert after_outcome(PaymentStatus.PAID, Outcome("r", PaymentStatus.RETURNED)) == PaymentStatus.RETURNED
    assert after_outcome(PaymentStatus.SCHEDULED, paid) is None  # never sent: nothing to settle


def payment(pid: str, status: PaymentStatus, amount: int = 1000) -> Payment:
    return Payment(
        pid,
        "run",
        f"e-{pid}",
        f"h-{pid}",
        "220122101201",
        "dibao",
        "",
        "2026-11",
        "regular",
        amount,
        status,
        1,
        f"e-{pid}.202611.1",
    )


def test_reconciliation_reports_each_kind_and_settles_what_it_can():
    a, b, c, d = (payment(x, PaymentStatus.UNKNOWN) for x in "abcd")
    e = payment("e", PaymentStatus.REJECTED)
    statement = "\n".join(
        [
            "reference_id,amount,status,reason",
            f"{a.reference_id},10.00,paid,",
            f"{c.reference_id},10.01,paid,",
            f"{d.reference_id},10.00,paid,",
            f"{d.reference_id},10.00,paid,",
            f"{e.reference_id},10.00,paid,",
            "stranger.1,1.00,paid,",
        ]
    )
    lines = parse_statement(statement)
    owners = {p.reference_id: p for p in (a, c, d, e)}
    items, outcomes = reconcile(lines, owners, [a, b, c, d, e], {p.id: True for p in (a, b, c, d, e)})
    kinds = sorted(i.kind for i in items)
    assert kinds == ["amount_mismatch", "duplicate", "missing", "paid", "paid", "status_mismatch", "unknown_reference"]
    assert sorted(o.reference_id for o in outcomes) == sorted([a.reference_id, d.reference_id])


def test_a_statement_that_breaks_a_rule_names_its_line_and_field():
    with pytest.raises(StatementInvalid) as caught:
        parse_statement("reference_id,amount,status\nx.1,1.00,paid\nx.2,1.00,lost\n")
    assert (caught.value.line, caught.value.field, caught.value.rule) == (3, "status", "enum")
    with pytest.raises(StatementInvalid) as caught:
        parse_statement("reference_id,status\n")
    assert caught.value.field == "amount"


def test_fast_track_is_members_times_one_month_of_the_standard_rounded_half_up():
    assert aid.monthly_standard_fen(600_006) == 50_001  # 50000.5 → 50001
    assert aid.monthly_standard_fen(600_005) == 50_000  # 50000.41…
    assert aid.fast_track_amount_fen(600_006, 3) == 150_003


def test_who_approves_and_when_the_deadline_falls():
    parameters = aid.parameters_on(date(2026, 11, 25))
    cap = aid.township_cap_fen(600_000, 2, parameters)
    assert cap == 50_000 * parameters.township_cap_months * 2
    assert aid.approving_level(cap, cap, False) == aid.Level.TOWNSHIP
    assert aid.approving_level(cap + 1, cap, False) == aid.Level.COUNTY
    assert aid.approving_level(1, cap, True) == aid.Level.COUNTY
    assert aid.same_day(aid.AidCause.EPIDEMIC, False) and aid.same_day(aid.AidCause.OTHER, True)
    assert not aid.same_day(aid.AidCause.ILLNESS, False)
    # Approved at 23:30 local on the 25th (15:30 UTC): due by 23:59:59 local that day.
    deadline = aid.deadline_of(datetime(2026, 11, 25, 15, 30, tzinfo=UTC))
    assert deadline.astimezone(UTC) == datetime(2026, 11, 25, 15, 59, 59, tzinfo=UTC)
    lead = timedelta(hours=2)
    assert aid.deadline_state(deadline, deadline - timedelta(hours=3), lead) is None
    assert aid.deadline_state(deadline, deadline - timedelta(hours=1), lead) == "at_risk"
    assert aid.deadline_state(deadline, deadline + timedelta(seconds=1), lead) == "missed"


def test_steps_follow_the_workflow():
    assert aid.allowed(aid.AidStatus.SUBMITTED, "review") and not aid.allowed(aid.AidStatus.SUBMITTED, "approve")
    assert aid.allowed(aid.AidStatus.PAID, "file") and not aid.allowed(aid.AidStatus.FILED, "reject")
