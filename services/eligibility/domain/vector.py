"""The eligibility engine, vectorised path: the dibao decision for a whole population at once (numpy).

Both paths read one compiled parameter snapshot per region. This path returns each household's dibao
status and monthly amount; households it does not cover (single-person inclusion candidates) are
flagged and decided by the scalar path. `tests/unit/test_engine_paths_agree.py` shows, with random
populations (hypothesis), that the two paths agree to the fen. Ratios are carried in basis points
(1/10,000), so parameters are limited to four decimals (the standards API enforces it).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from services.eligibility.domain.engine import ELDERLY_AGE, months_between
from services.eligibility.domain.model import HouseholdInput, PriorState, Status
from services.eligibility.domain.parameters import Category, ParameterSet

STATUS_CODES = {Status.NOT_ELIGIBLE: 0, Status.ELIGIBLE: 1, Status.GRADUAL_EXIT: 2}
STATUS_OF_CODE = {v: k for k, v in STATUS_CODES.items()}
BP = 10_000


def to_bp(value) -> int:
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

    @classmethod
    def from_sets(cls, sets: list[ParameterSet]) -> "RegionParameters":
        def col(fn):
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
        )


@dataclass
class Population:
    """One row per household; amounts in fen per year."""
    region: np.ndarray            # index into RegionParameters
    size: np.ndarray
    income_counted_always: np.ndarray
    basic_pension: np.ndarray
    project_no_labour: np.ndarray  # guaranteed project income of members without labour capacity
    medical: np.ndarray
    deduction_allowed: np.ndarray  # registered not lifted and assets meet the local rule
    prior_status: np.ndarray       # 0 not receiving, 1 eligible, 2 gradual exit
    prior_monthly: np.ndarray
    exit_elapsed: np.ndarray       # whole months since the gradual exit started (-1: not in one)
    exit_extended: np.ndarray
    disabled_household: np.ndarray
    vulnerable: np.ndarray         # severely disabled, seriously ill, or elderly without labour capacity
    needs_scalar: np.ndarray       # single-person candidates: decided by the scalar path

    def __len__(self) -> int:
        return len(self.size)


def build_population(households: list[HouseholdInput], priors: list[PriorState | None],
                     region_index: dict[str, int], as_of: date) -> Population:
    """Columns from household snapshots (one pass in Python; the decision itself is vectorised)."""
    n = len(households)
    cols = {name: np.zeros(n, dtype=np.int64) for name in (
        "region", "size", "income_counted_always", "basic_pension", "project_no_labour", "medical",
        "prior_status", "prior_monthly")}
    flags = {name: np.zeros(n, dtype=bool) for name in (
        "deduction_allowed", "exit_extended", "disabled_household", "vulnerable", "needs_scalar")}
    exit_elapsed = np.full(n, -1, dtype=np.int64)
    for i, (h, prior) in enumerate(zip(households, priors)):
        no_labour = {m.id for m in h.members if m.labour_capacity == "none"}
        cols["region"][i] = region_index[h.region_code]
        cols["size"][i] = len(h.members)
        for income in h.incomes:
            if income.type == "basic_pension":
                cols["basic_pension"][i] += income.annual_amount_fen
            elif income.type == "poverty_project_guaranteed" and income.member_id in no_labour:
                cols["project_no_labour"][i] += income.annual_amount_fen
            else:
                cols["income_counted_always"][i] += income.annual_amount_fen
        cols["medical"][i] = sum(e.annual_amount_fen for e in h.expenses if e.type == "medical_self_paid")
        flags["deduction_allowed"][i] = h.registered_poor_status == "not_lifted" and h.assets_meet_local_rule
        flags["disabled_household"][i] = any(m.disability_grade is not None for m in h.members)
        flags["vulnerable"][i] = any(m.severely_disabled or m.serious_illness
                                     or (m.age_on(as_of) >= ELDERLY_AGE and m.labour_capacity == "none")
                                     for m in h.members)
        flags["needs_scalar"][i] = h.registered_poor_status in ("not_lifted", "returned") and any(
            (m.severely_disabled or m.serious_illness) and m.labour_capacity in ("none", "partial") for m in h.members)
        dibao = prior.dibao if prior else None
        if dibao is not None and dibao.status in (Status.ELIGIBLE, Status.GRADUAL_EXIT):
            cols["prior_status"][i] = STATUS_CODES[dibao.status]
            cols["prior_monthly"][i] = dibao.monthly_amount_fen or 0
            if dibao.status == Status.GRADUAL_EXIT and dibao.gradual_exit_started is not None:
                exit_elapsed[i] = months_between(dibao.gradual_exit_started, as_of)
                flags["exit_extended"][i] = dibao.gradual_exit_extended
    return Population(exit_elapsed=exit_elapsed, **cols, **flags)


def _round_bp(amount: np.ndarray, bp: np.ndarray) -> np.ndarray:
    """round_half_up(amount × bp / 10,000) for non-negative integers."""
    return (amount * bp * 2 + BP) // (2 * BP)


def evaluate_dibao(pop: Population, regions: RegionParameters) -> tuple[np.ndarray, np.ndarray]:
    """Status codes and monthly amounts (fen) of every household's dibao decision."""
    r = pop.region
    standard = regions.standard[r]
    threshold = standard * pop.size
    counted = (pop.income_counted_always + pop.basic_pension - _round_bp(pop.basic_pension, regions.pension_share_bp[r])
               + pop.project_no_labour - _round_bp(pop.project_no_labour, regions.project_share_bp[r]))
    status = np.zeros(len(pop), dtype=np.int8)
    monthly = np.zeros(len(pop), dtype=np.int64)

    below = counted < threshold
    status[below] = 1
    monthly[below] = (2 * (threshold - counted)[below] + 12) // 24

    deducted = np.maximum(counted - pop.medical, 0)
    deduction = ~below & pop.deduction_allowed & (pop.medical > 0) & (deducted < threshold)
    status[deduction] = 1
    monthly[deduction] = (2 * (threshold - deducted)[deduction] + 12) // 24

    receiving = ~below & ~deduction & (pop.prior_status > 0)
    within = counted * BP < threshold * regions.multiple_bp[r]
    exiting = receiving & within
    continuing = (pop.prior_status == 2) & (pop.exit_elapsed >= 0)
    elapsed = np.where(continuing, pop.exit_elapsed, 0)
    period = np.where(pop.disabled_household, regions.months_disabled[r], regions.months[r])
    extended = continuing & pop.exit_extended
    period_now = period + np.where(extended, regions.extension[r], 0)
    step, decrease = regions.step[r], regions.decrease_bp[r]

    def stepped(months_elapsed):
        factor = np.maximum(0, BP - decrease * (months_elapsed // step))
        return _round_bp(pop.prior_monthly, factor)

    in_period = exiting & (elapsed < period_now)
    status[in_period] = 2
    monthly[in_period] = stepped(elapsed)[in_period]
    high_risk = pop.vulnerable | (counted * BP < threshold * regions.difficulty_bp[r])
    extend = exiting & ~in_period & high_risk & ~extended
    status[extend] = 2
    monthly[extend] = stepped(period - 1)[extend]
    return status, monthly


def scalar_fallback_mask(pop: Population, status: np.ndarray) -> np.ndarray:
    """Households whose decision the scalar path must make: not decided above and single-person candidates."""
    return pop.needs_scalar & (status == 0) & (pop.prior_status == 0)
