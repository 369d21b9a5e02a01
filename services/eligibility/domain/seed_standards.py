"""Standards seeded for 2016–2021. Values the documents fix carry their document and section as legal
reference; all others are demonstration values and say so in `legal_ref` (sources.DEMO_VALUE)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from services.eligibility.domain import sources
from services.eligibility.domain.parameters import Category, Standard
from shared.reference import jilin_counties

SEEDED_AT = datetime(2016, 1, 1, tzinfo=UTC)
PROVINCE = "22"


def _ref(source: sources.Source) -> str:
    return f"{source.document} {source.section}"


def _std(
    region: str, category: Category, start: date, value: int | str | Decimal, legal_ref: str, period: str | None = None
) -> Standard:
    return Standard(
        region_code=region,
        category=category,
        effective_from=start,
        value=Decimal(value),
        period=period,
        legal_ref=legal_ref,
        recorded_at=SEEDED_AT,
        recorded_by="seed",
    )


def seed_standards() -> list[Standard]:
    start = date(2016, 1, 1)
    demo = sources.DEMO_VALUE
    out = [
        # Fixed by the documents.
        _std(PROVINCE, Category.SPECIAL_POVERTY_MULTIPLIER, start, "1.3", _ref(sources.SPECIAL_POVERTY_STANDARD)),
        _std(PROVINCE, Category.CARE_RATIO_FULL_DEPENDENT, start, "0.30", _ref(sources.CARE_STANDARD)),
        _std(PROVINCE, Category.CARE_RATIO_PARTLY_DEPENDENT, start, "0.20", _ref(sources.CARE_STANDARD)),
        _std(PROVINCE, Category.CARE_RATIO_SELF_CARING, start, "0.10", _ref(sources.CARE_STANDARD)),
        _std(PROVINCE, Category.DISABILITY_LIVING_SUBSIDY, start, 8000, _ref(sources.DISABILITY_SUBSIDIES), "month"),
        _std(
            PROVINCE, Category.SEVERE_DISABILITY_CARE_SUBSIDY, start, 8000, _ref(sources.DISABILITY_SUBSIDIES), "month"
        ),
        _std(PROVINCE, Category.GRADUAL_EXIT_MONTHS, start, 18, _ref(sources.GRADUAL_EXIT)),
        _std(PROVINCE, Category.GRADUAL_EXIT_MONTHS_DISABLED, start, 24, _ref(sources.GRADUAL_EXIT)),
        _std(PROVINCE, Category.GRADUAL_EXIT_THRESHOLD_MULTIPLE, start, "2", _ref(sources.GRADUAL_EXIT)),
        _std(PROVINCE, Category.EXCLUDED_BASIC_PENSION_SHARE, start, "1", _ref(sources.INCOME_EXCLUSIONS)),
        _std(
            PROVINCE,
            Category.EXCLUDED_PROJECT_INCOME_SHARE,
            start,
            "1",
            _ref(sources.INCOME_EXCLUSIONS) + "（比例由各地确定，默认全部不计入）",
        ),
        _std(PROVINCE, Category.EXPENSE_DEDUCTION_MONTHS, start, 12, _ref(sources.EXPENSE_DEDUCTION)),
        _std(PROVINCE, Category.TEMPORARY_AID_MONTHS, start, 1, _ref(sources.TEMPORARY_AID)),
        # 001 says "for a period" (在一定期限内) without its length: 60 months is the national five-year
        # transition period (过渡期), not in the seeds; a demonstration value operators replace.
        _std(
            PROVINCE,
            Category.EXIT_POLICY_CONTINUATION_MONTHS,
            start,
            60,
            f"{_ref(sources.EXIT_POLICY_CONTINUES)}；{demo}",
        ),
        # 001 (2017) decreases quarterly; 003 (2020) yearly, and the later document governs.
        _std(PROVINCE, Category.GRADUAL_EXIT_STEP_MONTHS, start, 3, _ref(sources.GRADUAL_EXIT_2017)),
        _std(PROVINCE, Category.GRADUAL_EXIT_STEP_MONTHS, date(2020, 3, 26), 12, _ref(sources.GRADUAL_EXIT)),
        # Demonstration values.
        _std(PROVINCE, Category.GRADUAL_EXIT_STEP_DECREASE, start, "0.2", demo),
        _std(PROVINCE, Category.GRADUAL_EXIT_EXTENSION_MONTHS, start, 6, demo),
        _std(PROVINCE, Category.INCOME_DROP_RATIO, start, "0.3", demo),
        _std(PROVINCE, Category.EXPENSE_SPIKE_RATIO, start, "0.5", demo),
        _std(PROVINCE, Category.DIFFICULTY_MULTIPLE, start, "1.5", demo),
        _std(PROVINCE, Category.RURAL_DISPOSABLE_INCOME, start, 1_132_600, demo, "year"),
    ]
    poverty_line = {2016: 295_200, 2017: 300_000, 2018: 310_000, 2019: 321_800, 2020: 400_000, 2021: 400_000}
    minimum_wage = {2016: 148_000, 2017: 148_000, 2018: 178_000, 2019: 178_000, 2020: 178_000, 2021: 188_000}
    for year in range(2016, 2022):
        jan1 = date(year, 1, 1)
        out.append(_std(PROVINCE, Category.POVERTY_LINE, jan1, poverty_line[year], demo, "year"))
        out.append(_std(PROVINCE, Category.MINIMUM_WAGE, jan1, minimum_wage[year], demo, "month"))
    rural_base = {2016: 340_000, 2017: 350_000, 2018: 365_000, 2019: 380_000, 2020: 400_000, 2021: 420_000}
    for index, county in enumerate(jilin_counties()):
        spread = (index % 7) * 2_000  # counties differ a little
        for year in range(2016, 2022):
            jan1 = date(year, 1, 1)
            out.append(_std(county["code"], Category.RURAL_DIBAO, jan1, rural_base[year] + spread, demo, "year"))
            out.append(
                _std(county["code"], Category.URBAN_DIBAO, jan1, (rural_base[year] + spread) * 3 // 2, demo, "year")
            )
    return out
