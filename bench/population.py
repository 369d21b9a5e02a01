"""Seeded synthetic province: 430,000 households / 840,000 people over the Jilin counties.

Per-capita incomes spread around each county's standard (log-normal), basic pensions for elderly
members, guaranteed project income for members without labour capacity (both excluded), medical
costs for a fifth of households, 10 % in gradual exit and 20 % already receiving dibao.
Columns are generated directly (the shape the bulk path reads); `households()` yields the same
population as snapshot dicts for the database benchmarks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from services.eligibility.domain.parameters import compile_parameters
from services.eligibility.domain.seed_standards import seed_standards
from services.eligibility.domain.vector import Population, RegionParameters
from shared.reference import jilin_counties

HOUSEHOLDS = 430_000
PEOPLE = 840_000
ELDERLY_PENSION_FEN = 123_600  # 103 yuan a month


@dataclass
class Province:
    counties: list[str]
    parameters: RegionParameters
    population: Population
    persons_household: np.ndarray  # household index of each person (OpenFisca needs persons)


def household_sizes(rng: np.random.Generator, households: int, people: int) -> np.ndarray:
    sizes = rng.choice([1, 2, 3, 4, 5], size=households, p=[0.42, 0.34, 0.14, 0.07, 0.03])
    diff = people - int(sizes.sum())
    step = 1 if diff > 0 else -1
    candidates = np.flatnonzero(sizes < 5) if diff > 0 else np.flatnonzero(sizes > 1)
    chosen = rng.choice(candidates, size=abs(diff), replace=False)
    sizes[chosen] += step
    return sizes.astype(np.int64)


def make_province(households: int = HOUSEHOLDS, people: int = PEOPLE, seed: int = 20161, as_of=None) -> Province:
    from datetime import date

    as_of = as_of or date(2021, 6, 15)
    rng = np.random.default_rng(seed)
    counties = [c["code"] for c in jilin_counties()]
    standards = seed_standards()
    parameters = RegionParameters.from_sets([compile_parameters(standards, c, as_of) for c in counties])
    region = rng.integers(0, len(counties), size=households)
    size = household_sizes(rng, households, people)
    standard = parameters.standard[region]
    per_capita = (standard * rng.lognormal(mean=0.1, sigma=0.45, size=households)).astype(np.int64)
    elderly = rng.binomial(size, 0.18)
    pension = elderly * ELDERLY_PENSION_FEN
    no_labour_project = np.where(rng.random(households) < 0.10, rng.integers(50_000, 200_000, households), 0)
    counted_always = np.maximum(per_capita * size - pension, 0)
    medical = np.where(rng.random(households) < 0.20, rng.integers(0, 1_000_000, households), 0)
    prior_draw = rng.random(households)
    prior_status = np.select([prior_draw < 0.10, prior_draw < 0.30], [2, 1], 0)
    prior_monthly = np.where(prior_status > 0, rng.integers(10_000, 60_000, households), 0)
    exit_elapsed = np.where(prior_status == 2, rng.integers(0, 25, households), -1)
    population = Population(
        region=region,
        size=size,
        income_counted_always=counted_always,
        basic_pension=pension,
        project_no_labour=no_labour_project,
        medical=medical,
        deduction_allowed=(rng.random(households) < 0.20) & (rng.random(households) < 0.9),
        prior_status=prior_status.astype(np.int64),
        prior_monthly=prior_monthly,
        exit_elapsed=exit_elapsed,
        exit_extended=(prior_status == 2) & (rng.random(households) < 0.05),
        disabled_household=rng.random(households) < 0.08,
        vulnerable=rng.random(households) < 0.15,
        needs_scalar=rng.random(households) < 0.03,
    )
    persons_household = np.repeat(np.arange(households), size)
    return Province(counties, parameters, population, persons_household)
