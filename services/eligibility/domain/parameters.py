"""Policy parameters: the catalogue of categories, the floors the documents set, and the compiled
snapshot an evaluation reads. Pure: values come in, nothing is fetched here.

A standard is stored per region and category with its effective dates and the time it was recorded,
so an evaluation can read the values in force on a date *as known at* a moment (bitemporal), and a
region without its own value inherits its parent's (village → township → county → prefecture → province).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from functools import cached_property
from typing import Any

from services.eligibility.domain import sources


class Kind(StrEnum):
    MONEY = "money"  # amount_fen with a period (year | month)
    RATIO = "ratio"  # a decimal value, e.g. 1.3 or 0.30
    MONTHS = "months"  # a whole number of months


class Category(StrEnum):
    RURAL_DIBAO = "rural_dibao"
    URBAN_DIBAO = "urban_dibao"
    POVERTY_LINE = "poverty_line"
    MINIMUM_WAGE = "minimum_wage"
    RURAL_DISPOSABLE_INCOME = "rural_disposable_income"
    SPECIAL_POVERTY_MULTIPLIER = "special_poverty_multiplier"
    CARE_RATIO_FULL_DEPENDENT = "care_ratio_full_dependent"
    CARE_RATIO_PARTLY_DEPENDENT = "care_ratio_partly_dependent"
    CARE_RATIO_SELF_CARING = "care_ratio_self_caring"
    DISABILITY_LIVING_SUBSIDY = "disability_living_subsidy"
    SEVERE_DISABILITY_CARE_SUBSIDY = "severe_disability_care_subsidy"
    GRADUAL_EXIT_MONTHS = "gradual_exit_months"
    GRADUAL_EXIT_MONTHS_DISABLED = "gradual_exit_months_disabled"
    GRADUAL_EXIT_THRESHOLD_MULTIPLE = "gradual_exit_threshold_multiple"
    GRADUAL_EXIT_STEP_MONTHS = "gradual_exit_step_months"
    GRADUAL_EXIT_STEP_DECREASE = "gradual_exit_step_decrease"
    GRADUAL_EXIT_EXTENSION_MONTHS = "gradual_exit_extension_months"
    EXCLUDED_BASIC_PENSION_SHARE = "excluded_basic_pension_share"
    EXCLUDED_PROJECT_INCOME_SHARE = "excluded_project_income_share"
    EXPENSE_DEDUCTION_MONTHS = "expense_deduction_months"
    INCOME_DROP_RATIO = "income_drop_ratio"
    EXPENSE_SPIKE_RATIO = "expense_spike_ratio"
    DIFFICULTY_MULTIPLE = "difficulty_multiple"
    TEMPORARY_AID_MONTHS = "temporary_aid_months"
    EXIT_POLICY_CONTINUATION_MONTHS = "exit_policy_continuation_months"


KIND = {
    Category.RURAL_DIBAO: Kind.MONEY,
    Category.URBAN_DIBAO: Kind.MONEY,
    Category.POVERTY_LINE: Kind.MONEY,
    Category.MINIMUM_WAGE: Kind.MONEY,
    Category.RURAL_DISPOSABLE_INCOME: Kind.MONEY,
    Category.DISABILITY_LIVING_SUBSIDY: Kind.MONEY,
    Category.SEVERE_DISABILITY_CARE_SUBSIDY: Kind.MONEY,
    Category.GRADUAL_EXIT_MONTHS: Kind.MONTHS,
    Category.GRADUAL_EXIT_MONTHS_DISABLED: Kind.MONTHS,
    Category.GRADUAL_EXIT_STEP_MONTHS: Kind.MONTHS,
    Category.GRADUAL_EXIT_EXTENSION_MONTHS: Kind.MONTHS,
    Category.EXPENSE_DEDUCTION_MONTHS: Kind.MONTHS,
    Category.TEMPORARY_AID_MONTHS: Kind.MONTHS,
    Category.EXIT_POLICY_CONTINUATION_MONTHS: Kind.MONTHS,
}  # every other category is a ratio

ZH = {
    Category.RURAL_DIBAO: "农村低保标准",
    Category.URBAN_DIBAO: "城市低保标准",
    Category.POVERTY_LINE: "国家扶贫标准",
    Category.MINIMUM_WAGE: "最低工资标准",
    Category.RURAL_DISPOSABLE_INCOME: "上年度农民人均可支配收入",
    Category.SPECIAL_POVERTY_MULTIPLIER: "特困基本生活标准倍数",
    Category.CARE_RATIO_FULL_DEPENDENT: "全护照料比例",
    Category.CARE_RATIO_PARTLY_DEPENDENT: "半护照料比例",
    Category.CARE_RATIO_SELF_CARING: "全自理照料比例",
    Category.DISABILITY_LIVING_SUBSIDY: "困难残疾人生活补贴",
    Category.SEVERE_DISABILITY_CARE_SUBSIDY: "重度残疾人护理补贴",
    Category.GRADUAL_EXIT_MONTHS: "渐退期（月）",
    Category.GRADUAL_EXIT_MONTHS_DISABLED: "残疾人家庭渐退期（月）",
    Category.GRADUAL_EXIT_THRESHOLD_MULTIPLE: "渐退收入上限倍数",
    Category.GRADUAL_EXIT_STEP_MONTHS: "渐退递减周期（月）",
    Category.GRADUAL_EXIT_STEP_DECREASE: "每周期递减比例",
    Category.GRADUAL_EXIT_EXTENSION_MONTHS: "高风险延长渐退（月）",
    Category.EXCLUDED_BASIC_PENSION_SHARE: "基础养老金不计入比例",
    Category.EXCLUDED_PROJECT_INCOME_SHARE: "扶贫项目保底收益不计入比例",
    Category.EXPENSE_DEDUCTION_MONTHS: "支出核减纳入期（月）",
    Category.INCOME_DROP_RATIO: "收入骤减阈值",
    Category.EXPENSE_SPIKE_RATIO: "支出骤增阈值",
    Category.DIFFICULTY_MULTIPLE: "困难监测收入倍数",
    Category.TEMPORARY_AID_MONTHS: "先行临时救助月数",
    Category.EXIT_POLICY_CONTINUATION_MONTHS: "脱贫退出后政策延续期（月）",
}


def kind_of(category: Category) -> Kind:
    return KIND.get(category, Kind.RATIO)


@dataclass(frozen=True)
class Standard:
    """One recorded value. `value` is fen per `period` for money, a Decimal for ratios, months for months."""

    region_code: str
    category: Category
    effective_from: date
    value: Decimal
    period: str | None  # "year" | "month" for money
    legal_ref: str
    recorded_at: datetime
    effective_to: date | None = None
    id: str | None = None
    recorded_by: str | None = None

    @property
    def annual_fen(self) -> int:
        assert kind_of(self.category) == Kind.MONEY
        return int(self.value) * (12 if self.period == "month" else 1)

    @property
    def monthly_fen(self) -> Decimal:
        return Decimal(int(self.value)) if self.period == "month" else Decimal(int(self.value)) / 12

    def applies(self, on: date, known_at: datetime | None) -> bool:
        return (
            self.effective_from <= on
            and (self.effective_to is None or on <= self.effective_to)
            and (known_at is None or self.recorded_at <= known_at)
        )

    @cached_property
    def _cited(self) -> dict[str, Any]:
        return {
            "category": self.category.value,
            "name_zh": ZH[self.category],
            "region_code": self.region_code,
            "value": format(self.value, "f"),
            "period": self.period,
            "effective_from": self.effective_from.isoformat(),
            "effective_to": self.effective_to.isoformat() if self.effective_to else None,
            "legal_ref": self.legal_ref,
            "recorded_at": self.recorded_at.isoformat(),
        }

    def cited(self) -> dict[str, Any]:
        return dict(self._cited)


def region_chain(code: str) -> list[str]:
    """Own code first, then its ancestors: 220122101201 → 220122101, 220122, 2201, 22."""
    chain = [code[:n] for n in (12, 9, 6, 4, 2) if len(code) >= n]
    return list(dict.fromkeys(chain))


class StandardIndex:
    """Standards grouped by (category, region), so a lookup reads only its own few candidates."""

    def __init__(self, standards: Iterable[Standard]) -> None:
        self.by_key: dict[tuple[str, str], list[Standard]] = {}
        self.known_at: datetime | None = None  # the latest record read: what "as known at" means for this index
        for s in standards:
            self.by_key.setdefault((s.category, s.region_code), []).append(s)
            if self.known_at is None or s.recorded_at > self.known_at:
                self.known_at = s.recorded_at

    def candidates(self, category: Category, region_code: str) -> list[Standard]:
        return self.by_key.get((category, region_code), [])


def _index(standards: Iterable[Standard] | StandardIndex) -> StandardIndex:
    return standards if isinstance(standards, StandardIndex) else StandardIndex(standards)


def resolve(
    standards: list[Standard] | StandardIndex,
    region_code: str,
    category: Category,
    on: date,
    known_at: datetime | None = None,
) -> Standard | None:
    """The value in force on `on`, as known at `known_at`: nearest region with one, latest start, latest record."""
    index = _index(standards)
    for code in region_chain(region_code):
        candidates = [s for s in index.candidates(category, code) if s.applies(on, known_at)]
        if candidates:
            return max(candidates, key=lambda s: (s.effective_from, s.recorded_at))
    return None


# --- floors the documents set ----------------------------------------------------------------


@dataclass(frozen=True)
class FloorBreach:
    floor_value: str
    source: sources.Source
    message: str


FLOOR_2020_FEN = 400_000  # 4,000 yuan per person per year (003 §二(一))
RATIO_FLOORS = {
    Category.SPECIAL_POVERTY_MULTIPLIER: (Decimal("1.3"), sources.SPECIAL_POVERTY_STANDARD),
    Category.CARE_RATIO_FULL_DEPENDENT: (Decimal("0.30"), sources.CARE_STANDARD),
    Category.CARE_RATIO_PARTLY_DEPENDENT: (Decimal("0.20"), sources.CARE_STANDARD),
    Category.CARE_RATIO_SELF_CARING: (Decimal("0.10"), sources.CARE_STANDARD),
}


def check_floor(
    new: Standard, *, two_lines_year: int | None, poverty_line: Standard | None, disposable_income: Standard | None
) -> FloorBreach | None:
    """Refuse a standard below what the documents require on its effective date."""
    if new.category in RATIO_FLOORS:
        floor, source = RATIO_FLOORS[new.category]
        if new.value < floor:
            return FloorBreach(str(floor), source, f"{new.category.value} must be at least {floor}")
        return None
    if new.category != Category.RURAL_DIBAO:
        return None
    annual = new.annual_fen
    start = new.effective_from
    if start >= date(2020, 12, 31) and annual < FLOOR_2020_FEN:
        return FloorBreach(
            f"{FLOOR_2020_FEN} fen/year",
            sources.FLOOR_2020,
            "from the end of 2020 the rural dibao standard is at least 4,000 yuan per person per year",
        )
    year = two_lines_year or 2018
    if start.year >= min(year, 2018) and poverty_line is not None and annual < poverty_line.annual_fen:
        return FloorBreach(
            f"{poverty_line.annual_fen} fen/year (poverty line)",
            sources.TWO_LINES_IN_ONE,
            f"from {min(year, 2018)} this region's rural dibao standard reaches the poverty line",
        )
    if start.year == 2016 and disposable_income is not None:
        floor_fen = (disposable_income.annual_fen * 3 + 9) // 10  # 30 %, rounded up to the fen
        if annual < floor_fen:
            return FloorBreach(
                f"{floor_fen} fen/year (30 % of {disposable_income.annual_fen})",
                sources.FLOOR_2016,
                "in 2016 the rural dibao standard is at least 30 % of the previous year's "
                "rural per-capita disposable income",
            )
    return None


# --- the compiled snapshot an evaluation reads -------------------------------------------------


@dataclass(frozen=True)
class ParameterSet:
    """Every value one evaluation needs, for one region on one date, as known at one moment."""

    region_code: str
    as_of: date
    known_at: datetime | None
    values: dict[str, Standard] = field(default_factory=dict)

    def get(self, key: str) -> Standard:
        try:
            return self.values[key]
        except KeyError:
            raise MissingParameter(key, self.region_code, self.as_of) from None

    def money_annual(self, key: str) -> int:
        return self.get(key).annual_fen

    def ratio(self, key: str) -> Decimal:
        return self.get(key).value

    def months(self, key: str) -> int:
        return int(self.get(key).value)

    def cited(self) -> list[dict[str, Any]]:
        return [{"key": k, **v.cited()} for k, v in sorted(self.values.items())]


class MissingParameter(LookupError):
    def __init__(self, key: str, region: str, on: date):
        super().__init__(f"no value of {key} is in force for region {region} on {on}")
        self.key, self.region, self.on = key, region, on


# Keys ending in "@prev_year" read the value in force on 31 December of the previous year (上年度).
REQUIRED = [c.value for c in Category if c not in (Category.POVERTY_LINE, Category.RURAL_DISPOSABLE_INCOME)]
PREVIOUS_YEAR = [Category.RURAL_DIBAO, Category.MINIMUM_WAGE]


def compile_parameters(
    standards: list[Standard] | StandardIndex, region_code: str, as_of: date, known_at: datetime | None = None
) -> ParameterSet:
    standards = _index(standards)
    known_at = known_at or standards.known_at
    values: dict[str, Standard] = {}
    for category in Category:
        found = resolve(standards, region_code, category, as_of, known_at)
        if found:
            values[category.value] = found
    for category in PREVIOUS_YEAR:
        found = resolve(standards, region_code, category, date(as_of.year - 1, 12, 31), known_at)
        if found:
            values[f"{category.value}@prev_year"] = found
    return ParameterSet(region_code, as_of, known_at, values)
