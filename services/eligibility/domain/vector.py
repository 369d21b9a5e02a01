"""The eligibility engine, vectorised path: dibao decisions and monitoring signals for a whole
population at once (numpy).

Both paths read one compiled parameter snapshot per region. This path returns, per household, the
branch of the dibao rule it falls in (eligible, expense deduction, gradual exit, ...), the status and
monthly amount, and the monitoring signals the scalar path would raise. Households it does not cover
(single-person inclusion candidates, possible special-poverty members) are flagged for the scalar
path. `tests/unit/test_engine_paths_agree.py` shows, with random populations (hypothesis), that the two
paths agree to the fen, to the day and to the signal. Ratios are carried in basis points (1/10,000), so
parameters are limited to four decimals (the standards API enforces it).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import IntEnum
from typing import Any

import numpy as np

from services.eligibility.domain.engine import ELDERLY_AGE, months_between
from services.eligibility.domain.model import Status
from services.eligibility.domain.parameters import Category, ParameterSet

STATUS_CODES = {Status.NOT_ELIGIBLE: 0, Status.ELIGIBLE: 1, Status.GRADUAL_EXIT: 2}
STATUS_OF_CODE = {v: k for k, v in STATUS_CODES.items()}
BP = 10_000


class Branch(IntEnum):
    """Which part of the dibao rule (engine._dibao) decided a household."""

    NOT_ELIGIBLE = 0  # never receiving and not below the standard
    BELOW = 1  # counted income below the standard: difference benefit
    DEDUCTION = 2  # eligible after deducting medical costs (one-year inclusion)
    EXIT_STEP = 3  # gradual exit, within its period
    EXIT_EXTENDED = 4  # gradual exit extended after a high-risk assessment
    EXIT_ENDED = 5  # gradual exit over: exits dibao
    ABOVE_CEILING = 6  # receiving, but income at or above the gradual-exit ceiling: exits dibao


STATUS_OF_BRANCH = np.array([0, 1, 1, 2, 2, 0, 0], dtype=np.int8)
COVERED_BRANCHES = (Branch.BELOW, Branch.DEDUCTION, Branch.EXIT_STEP, Branch.EXIT_EXTENDED)

# Monitoring signals as bits; the order is fixed because prior states are compared bit by bit.
SIGNAL_KINDS = (
    "income_drop",
    "expense_spike",
    "special_hardship_watch",
    "registered_poor_not_covered",
    "not_eligible_in_difficulty",
    "exit_risk_high",
)
SIGNAL_BIT = {kind: 1 << i for i, kind in enumerate(SIGNAL_KINDS)}


def signal_bits(kinds: Iterable[str]) -> int:
    """Bitmask of known signal kinds; an unknown kind sets bit 31 (never produced here, so it reads as 'changed')."""
    bits = 0
    for kind in kinds:
        bits |= SIGNAL_BIT.get(kind, 1 << 31)
    return bits


def signal_kinds(bits: int) -> list[str]:
    return list(_signal_kinds(bits))  # a fresh list: states that hold it are compared and serialised


@functools.cache
def _signal_kinds(bits: int) -> tuple[str, ...]:
    return tuple(sorted(kind for kind in SIGNAL_KINDS if bits & SIGNAL_BIT[kind]))


def to_bp(value: Decimal | int) -> int:
    bp = value * BP
    if bp != int(bp):
        raise ValueError(f"ratio {value} has more than four decimals")
    return int(bp)


@dataclass
class RegionParameters:
    """Per-region parameters as arrays indexed by region index."""

    standard: np.ndarray
    pension_share_bp: np.ndarray
    project_share_bp: np.ndarray
    multiple_bp: np.ndarray
    months: np.ndarray
    months_disabled: np.ndarray
    step: np.ndarray
    decrease_bp: np.ndarray
    extension: np.ndarray
    difficulty_bp: np.ndarray
    drop_bp: np.ndarray
    spike_bp: np.ndarray

    @classmethod
    def from_sets(cls, sets: list[ParameterSet]) -> RegionParameters:
        def col(fn: Callable[[ParameterSet], int]) -> np.ndarray:
            return np.array([fn(p) for p in sets], dtype=np.int64)

        return cls(
            standard=col(lambda p: p.money_annual(Category.RURAL_DIBAO)),
            pension_share_bp=col(lambda p: to_bp(p.ratio(Category.EXCLUDED_BASIC_PENSION_SHARE))),
            project_share_bp=col(lambda p: to_bp(p.ratio(Category.EXCLUDED_PROJECT_INCOME_SHARE))),
            multiple_bp=col(lambda p: to_bp(p.ratio(Category.GRADUAL_EXIT_THRESHOLD_MULTIPLE))),
            months=col(lambda p: p.months(Category.GRADUAL_EXIT_MONTHS)),
            months_disabled=col(lambda p: p.months(Category.GRADUAL_EXIT_MONTHS_DISABLED)),
            step=col(lambda p: p.months(Category.GRADUAL_EXIT_STEP_MONTHS)),
            decrease_bp=col(lambda p: to_bp(p.ratio(Category.GRADUAL_EXIT_STEP_DECREASE))),
            extension=col(lambda p: p.months(Category.GRADUAL_EXIT_EXTENSION_MONTHS)),
            difficulty_bp=col(lambda p: to_bp(p.ratio(Category.DIFFICULTY_MULTIPLE))),
            drop_bp=col(lambda p: to_bp(p.ratio(Category.INCOME_DROP_RATIO))),
            spike_bp=col(lambda p: to_bp(p.ratio(Category.EXPENSE_SPIKE_RATIO))),
        )


@dataclass
class Population:
    """One row per household; amounts in fen per year."""

    region: np.ndarray  # index into RegionParameters
    size: np.ndarray
    income_counted_always: np.ndarray
    basic_pension: np.ndarray
    project_no_labour: np.ndarray  # guaranteed project income of members without labour capacity
    medical: np.ndarray
    deduction_allowed: np.ndarray  # registered not lifted and assets meet the local rule
    prior_status: np.ndarray  # 0 not receiving, 1 eligible, 2 gradual exit
    prior_monthly: np.ndarray
    exit_elapsed: np.ndarray  # whole months since the gradual exit started (-1: not in one)
    exit_extended: np.ndarray
    disabled_household: np.ndarray
    vulnerable: np.ndarray  # severely disabled, seriously ill, or elderly without labour capacity
    needs_scalar: np.ndarray  # single-person candidates: decided by the scalar path
    # Monitoring (POLICY §2.5) and routing; defaults let columnar generators leave them out.
    prior_counted: np.ndarray | None = None  # counted income at the last evaluation (0: unknown)
    prior_medical: np.ndarray | None = None  # medical costs at the last evaluation (-1: unknown)
    prior_signals: np.ndarray | None = None  # bitmask of signals standing since the last evaluation
    watch: np.ndarray | None = None  # elderly, seriously ill or severely disabled member
    registered_poor: np.ndarray | None = None  # registered not lifted or returned
    special_candidate: np.ndarray | None = None  # a member without labour capacity or legal supporter
    exited: np.ndarray | None = None  # left the register through an exit case (decided by the scalar path)
    prior_single: np.ndarray | None = None  # received as single persons: the scalar path decides again

    def __post_init__(self) -> None:
        n = len(self.size)
        for name, fill, dtype in (
            ("prior_counted", 0, np.int64),
            ("prior_medical", -1, np.int64),
            ("prior_signals", 0, np.int64),
            ("watch", False, bool),
            ("registered_poor", False, bool),
            ("special_candidate", False, bool),
            ("exited", False, bool),
            ("prior_single", False, bool),
        ):
            if getattr(self, name) is None:
                setattr(self, name, np.full(n, fill, dtype=dtype))

    def __len__(self) -> int:
        return len(self.size)


def as_date(value: date | str | None) -> date | None:
    """A date from a model (date) or its JSON (ISO string)."""
    return None if value is None else value if isinstance(value, date) else date.fromisoformat(value)


def _age(birth: date | str, on: date) -> int:
    if isinstance(birth, str):  # "YYYY-MM-DD": slicing is much cheaper than parsing a date
        year, month, day = int(birth[:4]), int(birth[5:7]), int(birth[8:10])
    else:
        year, month, day = birth.year, birth.month, birth.day
    return on.year - year - ((on.month, on.day) < (month, day))


def _in_force(item: dict[str, Any], day: str) -> bool:
    start, end = item.get("from"), item.get("to")
    return (start is None or start <= day) and (end is None or day <= end)


_INT_COLUMNS = (
    "region",
    "size",
    "income_counted_always",
    "basic_pension",
    "project_no_labour",
    "medical",
    "prior_status",
    "prior_monthly",
    "prior_counted",
    "prior_medical",
    "prior_signals",
)
_BOOL_COLUMNS = (
    "deduction_allowed",
    "exit_extended",
    "disabled_household",
    "vulnerable",
    "needs_scalar",
    "watch",
    "registered_poor",
    "special_candidate",
    "exited",
    "prior_single",
)


def build_population(
    households: Sequence[dict[str, Any]],
    states: Sequence[dict[str, Any] | None],
    region_index: dict[str, int],
    as_of: date,
) -> Population:
    """Columns from household records (one pass in Python; the decisions themselves are vectorised).

    A household is the read model's snapshot or `HouseholdInput.model_dump()`: incomes and expenses may
    carry `from`/`to` ISO dates and count only when in force on `as_of`. A state is
    `PriorState.model_dump(mode="json")` or None. Plain dicts, no model validation: this is the hot loop
    of a province-wide job.
    """
    n = len(households)
    day = as_of.isoformat()
    cols = {name: [0] * n for name in _INT_COLUMNS}
    flags = {name: [False] * n for name in _BOOL_COLUMNS}
    exit_elapsed = [-1] * n
    cols["prior_medical"] = [-1] * n
    for i, (h, state) in enumerate(zip(households, states, strict=True)):
        members = h["members"]
        no_labour = set()
        disabled = vulnerable = watch = single = special = False
        poor = h.get("registered_poor_status", "none") in ("not_lifted", "returned")
        for m in members:
            grade, ill, labour = m.get("disability_grade"), m.get("serious_illness", False), m["labour_capacity"]
            severe = grade is not None and grade <= 2
            elderly = _age(m["birth_date"], as_of) >= ELDERLY_AGE
            if labour == "none":
                no_labour.add(m["id"])
                if not m.get("has_legal_supporter", True):
                    special = True
            disabled = disabled or grade is not None
            vulnerable = vulnerable or severe or ill or (elderly and labour == "none")
            watch = watch or elderly or ill or severe
            single = single or (poor and (severe or ill) and labour in ("none", "partial"))
        counted = pension = project = 0
        for income in h.get("incomes", ()):
            if not _in_force(income, day):
                continue
            kind, amount = income["type"], income["annual_amount_fen"]
            if kind == "basic_pension":
                pension += amount
            elif kind == "poverty_project_guaranteed" and income.get("member_id") in no_labour:
                project += amount
            else:
                counted += amount
        cols["region"][i] = region_index[h["region_code"]]
        cols["size"][i] = len(members)
        cols["income_counted_always"][i] = counted
        cols["basic_pension"][i] = pension
        cols["project_no_labour"][i] = project
        cols["medical"][i] = sum(
            e["annual_amount_fen"]
            for e in h.get("expenses", ())
            if e["type"] == "medical_self_paid" and _in_force(e, day)
        )
        flags["deduction_allowed"][i] = h.get("registered_poor_status") == "not_lifted" and h.get(
            "assets_meet_local_rule", True
        )
        flags["disabled_household"][i] = disabled
        flags["vulnerable"][i] = vulnerable
        flags["needs_scalar"][i] = single
        # Left the register: whether its policies still continue (摘帽不摘政策) is the scalar engine's call.
        flags["exited"][i] = bool(h.get("exited_on")) and h.get("registered_poor_status") == "lifted"
        flags["watch"][i] = watch
        flags["registered_poor"][i] = poor
        flags["special_candidate"][i] = special
        if not state:
            continue
        cols["prior_counted"][i] = state.get("counted_income_fen") or 0
        medical = state.get("medical_expense_fen")
        cols["prior_medical"][i] = -1 if medical is None else medical
        cols["prior_signals"][i] = signal_bits(state.get("active_signals") or ())
        dibao = state.get("dibao")
        if dibao and dibao["status"] in ("eligible", "gradual_exit"):
            cols["prior_status"][i] = 1 if dibao["status"] == "eligible" else 2
            flags["prior_single"][i] = bool(dibao.get("single_person"))
            cols["prior_monthly"][i] = dibao.get("monthly_amount_fen") or 0
            started = as_date(dibao.get("gradual_exit_started"))
            if dibao["status"] == "gradual_exit" and started is not None:
                exit_elapsed[i] = months_between(started, as_of)
                flags["exit_extended"][i] = bool(dibao.get("gradual_exit_extended"))
    arrays = {k: np.array(v, dtype=np.int64) for k, v in cols.items()}
    arrays.update({k: np.array(v, dtype=bool) for k, v in flags.items()})
    return Population(exit_elapsed=np.array(exit_elapsed, dtype=np.int64), **arrays)


def _round_bp(amount: np.ndarray, bp: np.ndarray) -> np.ndarray:
    """round_half_up(amount × bp / 10,000) for non-negative integers."""
    rounded: np.ndarray = (amount * bp * 2 + BP) // (2 * BP)
    return rounded


@dataclass
class DibaoArrays:
    branch: np.ndarray  # Branch codes
    status: np.ndarray  # STATUS_CODES
    monthly: np.ndarray  # fen
    counted: np.ndarray  # counted annual income, exclusions applied
    signals: np.ndarray  # bitmask of monitoring signals raised by this evaluation


def decide(pop: Population, regions: RegionParameters) -> DibaoArrays:
    """The dibao rule (engine._dibao) and the monitoring rule (engine._monitoring) for every household."""
    r = pop.region
    standard = regions.standard[r]
    threshold = standard * pop.size
    counted = (
        pop.income_counted_always
        + pop.basic_pension
        - _round_bp(pop.basic_pension, regions.pension_share_bp[r])
        + pop.project_no_labour
        - _round_bp(pop.project_no_labour, regions.project_share_bp[r])
    )
    branch = np.full(len(pop), Branch.NOT_ELIGIBLE, dtype=np.int8)
    monthly = np.zeros(len(pop), dtype=np.int64)

    below = counted < threshold
    branch[below] = Branch.BELOW
    monthly[below] = (2 * (threshold - counted)[below] + 12) // 24

    deducted = np.maximum(counted - pop.medical, 0)
    deduction = ~below & pop.deduction_allowed & (pop.medical > 0) & (deducted < threshold)
    branch[deduction] = Branch.DEDUCTION
    monthly[deduction] = (2 * (threshold - deducted)[deduction] + 12) // 24

    receiving = ~below & ~deduction & (pop.prior_status > 0)
    within = counted * BP < threshold * regions.multiple_bp[r]
    branch[receiving & ~within] = Branch.ABOVE_CEILING
    exiting = receiving & within
    continuing = (pop.prior_status == 2) & (pop.exit_elapsed >= 0)
    elapsed = np.where(continuing, pop.exit_elapsed, 0)
    period = np.where(pop.disabled_household, regions.months_disabled[r], regions.months[r])
    extended = continuing & pop.exit_extended
    period_now = period + np.where(extended, regions.extension[r], 0)
    step, decrease = regions.step[r], regions.decrease_bp[r]

    def stepped(months_elapsed: np.ndarray | int) -> np.ndarray:
        factor = np.maximum(0, BP - decrease * (months_elapsed // step))
        return _round_bp(pop.prior_monthly, factor)

    in_period = exiting & (elapsed < period_now)
    branch[in_period] = Branch.EXIT_STEP
    monthly[in_period] = stepped(elapsed)[in_period]
    in_difficulty = counted * BP < threshold * regions.difficulty_bp[r]
    high_risk = pop.vulnerable | in_difficulty
    period_over = exiting & ~in_period
    extend = period_over & high_risk & ~extended
    branch[extend] = Branch.EXIT_EXTENDED
    monthly[extend] = stepped(period - 1)[extend]
    branch[period_over & ~extend] = Branch.EXIT_ENDED

    # Monitoring signals (engine._monitoring); "covered" is dibao here: special-poverty candidates
    # are the scalar path's.
    covered = np.isin(branch, COVERED_BRANCHES)
    signals = np.zeros(len(pop), dtype=np.int64)
    # Filled by Population.__post_init__ when a generator leaves them out.
    assert pop.prior_counted is not None and pop.prior_medical is not None
    assert pop.watch is not None and pop.registered_poor is not None
    drop = (pop.prior_counted > 0) & (counted * BP <= pop.prior_counted * (BP - regions.drop_bp[r]))
    spike = (
        (pop.prior_medical >= 0)
        & (pop.medical > 0)
        & np.where(
            pop.prior_medical == 0,
            pop.medical >= standard,
            pop.medical * BP >= pop.prior_medical * (BP + regions.spike_bp[r]),
        )
    )
    for bit, mask in (
        (SIGNAL_BIT["income_drop"], drop),
        (SIGNAL_BIT["expense_spike"], spike),
        (SIGNAL_BIT["special_hardship_watch"], ~covered & pop.watch),
        (SIGNAL_BIT["registered_poor_not_covered"], ~covered & pop.registered_poor),
        (SIGNAL_BIT["not_eligible_in_difficulty"], ~covered & in_difficulty),
        (SIGNAL_BIT["exit_risk_high"], period_over & high_risk),
    ):
        signals[mask] |= bit
    return DibaoArrays(
        branch=branch, status=STATUS_OF_BRANCH[branch], monthly=monthly, counted=counted, signals=signals
    )


def evaluate_dibao(pop: Population, regions: RegionParameters) -> tuple[np.ndarray, np.ndarray]:
    """Status codes and monthly amounts (fen) of every household's dibao decision."""
    decided = decide(pop, regions)
    return decided.status, decided.monthly


def scalar_fallback_mask(pop: Population, status: np.ndarray) -> np.ndarray:
    """Households whose dibao decision the scalar path must make: single-person candidates not decided above,
    and households that received as single persons."""
    assert pop.prior_single is not None  # filled by Population.__post_init__
    mask: np.ndarray = (pop.needs_scalar & (status == 0) & (pop.prior_status == 0)) | pop.prior_single
    return mask


def scalar_only_mask(pop: Population, status: np.ndarray) -> np.ndarray:
    """Households this path cannot settle at all: single-person candidates, possible special-poverty members
    and households that left the register (their policies may continue)."""
    assert pop.special_candidate is not None and pop.exited is not None  # filled by Population.__post_init__
    mask: np.ndarray = scalar_fallback_mask(pop, status) | pop.special_candidate | pop.exited
    return mask
