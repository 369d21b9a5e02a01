"""Disbursement's pure rules: entitlements from decisions (duplicates, replays, out of order) and the
ledger's transfer semantics (every transaction balances; two-phase transfers)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.disbursement.domain.entitlements import DecisionFacts, EntitlementStatus, apply_decision
from services.disbursement.domain.ledger import (
    PendingState,
    Transfer,
    TransferKind,
    TransferRefused,
    balance_holds,
    movements,
)


def decision(seq: int | None, amount: int = 30_000, status: str = "eligible", decision_id: str | None = None, **kw):
    return DecisionFacts(
        decision_id=decision_id or f"d{seq}",
        household_id="h1",
        region_code="220122101",
        programme=kw.pop("programme", "dibao"),
        member_id=None,
        status=status,
        monthly_amount_fen=amount,
        valid_from=date(2026, 7, 1),
        valid_until=None,
        as_of=date(2026, 7, 1),
        decision_sequence=seq,
        **kw,
    )


def fold(decisions):
    current = None
    for n, d in enumerate(decisions):
        current = apply_decision(current, d, f"e{n}") or current
    return current


def test_a_decision_delivered_three_times_makes_one_entitlement_version():
    first = apply_decision(None, decision(1), "e1")
    assert first is not None and first.version == 1
    assert apply_decision(first, decision(1), "e2") is None
    assert apply_decision(first, decision(1), "e3") is None


def test_the_newest_decision_wins_whatever_the_arrival_order():
    ordered = [decision(1, 30_000), decision(2, 25_000), decision(3, 0, status="not_eligible")]
    for arrival in ([0, 1, 2], [2, 1, 0], [1, 2, 0], [0, 2, 1, 2, 0]):
        final = fold([ordered[i] for i in arrival])
        assert final is not None
        assert (final.status, final.monthly_amount_fen, final.decision_id) == (EntitlementStatus.ENDED, 0, "d3")


def test_a_refusal_arriving_first_is_kept_ended_and_other_programmes_are_not_paid():
    ended = apply_decision(None, decision(2, 0, status="not_eligible"), "e")
    assert ended is not None and ended.status == EntitlementStatus.ENDED
    assert not ended.payable_in(date(2026, 8, 1), date(2026, 8, 31))
    assert apply_decision(ended, decision(1), "e") is None  # the older grant, late: nothing
    assert apply_decision(None, decision(1, programme="temporary_assessment"), "e") is None


def test_without_a_sequence_the_time_ordered_decision_id_decides():
    older = decision(None, 30_000, decision_id="0190a000-0000-7000-8000-000000000001")
    newer = decision(None, 20_000, decision_id="0190a000-0000-7000-8000-000000000002")
    assert fold([newer, older]).monthly_amount_fen == 20_000


def test_gradual_exit_stays_payable_and_is_marked():
    final = fold([decision(1), decision(2, 15_000, status="gradual_exit")])
    assert final.status == EntitlementStatus.ACTIVE and final.gradual_exit and final.monthly_amount_fen == 15_000
    assert final.payable_in(date(2026, 8, 1), date(2026, 8, 31))


ACCOUNTS = ["fund", "payable", "flight", "paid"]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(ACCOUNTS), st.sampled_from(ACCOUNTS), st.integers(1, 10**9), st.booleans()),
        min_size=1,
        max_size=30,
    )
)
def test_every_transfer_balances(steps):
    """Whatever transfers are made, total debits equal total credits, pending and posted alike."""
    totals = {"debits_pending": 0, "debits_posted": 0, "credits_pending": 0, "credits_posted": 0}
    pending: list[Transfer] = []
    for n, (debit, credit, amount, two_phase) in enumerate(steps):
        transfer = Transfer(f"t{n}", debit, credit, amount, TransferKind.PENDING if two_phase else TransferKind.SINGLE)
        try:
            moves = movements(transfer)
        except TransferRefused as refused:
            assert refused.code == "accounts_must_be_different" and debit == credit
            continue
        if two_phase:
            pending.append(transfer)
        for move in moves:
            totals[move.column] += move.amount_fen
    for n, p in enumerate(pending):
        kind = TransferKind.POST_PENDING if n % 2 else TransferKind.VOID_PENDING
        settle = Transfer(f"s{n}", p.debit_account_id, p.credit_account_id, 0, kind, pending_id=p.id)
        for move in movements(settle, p, PendingState.PENDING):
            totals[move.column] += move.amount_fen
    assert totals["debits_pending"] == totals["credits_pending"] == 0
    assert totals["debits_posted"] == totals["credits_posted"]


def test_two_phase_rules():
    pending = Transfer("p", "fund", "flight", 500, TransferKind.PENDING, timeout_seconds=60)
    post = Transfer("q", "fund", "flight", 200, TransferKind.POST_PENDING, pending_id="p")
    moves = {(m.account_id, m.column): m.amount_fen for m in movements(post, pending, PendingState.PENDING)}
    assert moves == {
        ("fund", "debits_pending"): -500,
        ("flight", "credits_pending"): -500,
        ("fund", "debits_posted"): 200,
        ("flight", "credits_posted"): 200,
    }
    for state, code in (
        (PendingState.POSTED, "pending_transfer_already_posted"),
        (PendingState.VOIDED, "pending_transfer_already_voided"),
        (PendingState.EXPIRED, "pending_transfer_expired"),
    ):
        with pytest.raises(TransferRefused) as refused:
            movements(post, pending, state)
        assert refused.value.code == code
    with pytest.raises(TransferRefused, match="exceed"):
        movements(
            Transfer("r", "fund", "flight", 501, TransferKind.POST_PENDING, pending_id="p"),
            pending,
            PendingState.PENDING,
        )
    with pytest.raises(TransferRefused) as refused:
        movements(Transfer("x", "fund", "flight", -1))
    assert refused.value.code == "amount_must_not_be_negative"
    assert balance_holds(100, 0, 100) and not balance_holds(100, 1, 100)
