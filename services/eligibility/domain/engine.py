"""The eligibility engine, scalar path: one household at a time (single events, dry runs).

    evaluate(household, prior_state, parameters, as_of) -> decisions + next state + signals

Pure and deterministic: no I/O, no clock; money in integer fen; every rule applied is written into
the decision's explanation with its inputs, outcome and source. POLICY.md §2 is the specification.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

from services.eligibility.domain import parameters as params_module
from services.eligibility.domain import sources
from services.eligibility.domain.model import (
    Decision,
    DibaoState,
    EngineResult,
    HouseholdInput,
    PriorState,
    Programme,
    Signal,
    Status,
)
from services.eligibility.domain.parameters import Category, ParameterSet, Standard

# Bump when a rule's logic changes: the version, with the parameter catalogue below, names the rule set.
ENGINE_VERSION = "1.2.0"  # 1.2: single persons are not means-tested again; policies continue after an exit
ELDERLY_AGE = 60
MINOR_AGE = 16


def rule_set_catalogue() -> dict[str, Any]:
    """What the rule set is made of, as data: the engine version, its age thresholds, every parameter
    category (kind, Chinese name, whether required, read from the previous year), the floors the
    documents set and every source cited. Its hash changes when any of these does, and never for an
    edit that changes no rule (a comment, a refactoring)."""
    cited = {name: value.as_dict() for name, value in vars(sources).items() if isinstance(value, sources.Source)}
    return {
        "engine_version": ENGINE_VERSION,
        "elderly_age": ELDERLY_AGE,
        "minor_age": MINOR_AGE,
        "categories": {
            c.value: {
                "kind": params_module.KIND.get(c, params_module.Kind.RATIO).value,
                "zh": params_module.ZH.get(c),
                "required": c.value in params_module.REQUIRED,
                "previous_year": c in params_module.PREVIOUS_YEAR,
            }
            for c in Category
        },
        "floors": {
            "rural_dibao_2020_fen": params_module.FLOOR_2020_FEN,
            **{c.value: [str(v), s.as_dict()] for c, (v, s) in params_module.RATIO_FLOORS.items()},
        },
        "sources": cited,
    }


def rule_set_hash(catalogue: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(catalogue, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


# --- arithmetic ------------------------------------------------------------------------------


def round_half_up(value: Fraction | Decimal | int) -> int:
    """Half up to the fen (amounts are never negative here)."""
    if isinstance(value, Fraction):
        value = Decimal(value.numerator) / Decimal(value.denominator)
    return int(Decimal(value).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def monthly_of(annual_fen: int) -> int:
    return round_half_up(Fraction(annual_fen, 12))


def yuan(fen: int | Fraction) -> str:
    return f"{Decimal(int(fen)) / 100:.2f}元" if isinstance(fen, int) else f"{float(fen) / 100:.2f}元"


def add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return date(year, month, min(day.day, candidate))
        except ValueError:
            continue
    raise ValueError(day)


def months_between(start: date, end: date) -> int:
    """Whole months from start to end (0 in the first month)."""
    months = (end.year - start.year) * 12 + end.month - start.month
    return months - 1 if end.day < start.day else months


def first_of_next_month(day: date) -> date:
    return add_months(day.replace(day=1), 1)


# --- periods and dates of a dibao decision ----------------------------------------------------
# Plain values in, plain values out: the scalar path and the bulk path (domain/bulk.py) both use these,
# so the two paths cannot drift apart on dates.


def eligible_from(prior_status: Status | None, prior_since: date | None, as_of: date) -> date:
    """Start of an (ongoing or new) difference benefit: unchanged while receiving; the month after the
    review when a gradual exit ends because the household qualifies again (003 二(四)2); else today."""
    if prior_status == Status.GRADUAL_EXIT:
        return first_of_next_month(as_of)
    if prior_status == Status.ELIGIBLE and prior_since:
        return prior_since
    return as_of


def deduction_period(prior_since: date | None, as_of: date, months: int) -> tuple[date, date]:
    """Expense-deduction inclusion runs for `months`; at the yearly review it starts again."""
    since = prior_since
    if since is None or as_of >= add_months(since, months):
        since = as_of
    return since, period_end(since, months)


def exit_start(
    prior_status: Status | None, prior_started: date | None, prior_extended: bool, as_of: date
) -> tuple[date, bool]:
    """When the gradual exit started, and whether it was already extended once."""
    if prior_status == Status.GRADUAL_EXIT and prior_started is not None:
        return prior_started, prior_extended
    return as_of, False


def period_end(start: date, months: int) -> date:
    return add_months(start, months) - timedelta(days=1)


# --- explanation -----------------------------------------------------------------------------


class Explanation:
    def __init__(self, household: HouseholdInput, params: ParameterSet, as_of: date):
        self.household, self.params, self.as_of = household, params, as_of
        self.rules: list[dict[str, Any]] = []
        self.read: dict[str, dict[str, Any]] = {}
        self.amount: dict[str, Any] | None = None

    def value(self, key: str) -> Standard:
        standard = self.params.get(key)
        self.read[key] = {"key": key, **standard.cited()}
        return standard

    def money(self, key: str) -> int:
        return self.value(key).annual_fen

    def monthly_money(self, key: str) -> Decimal:
        return self.value(key).monthly_fen

    def ratio(self, key: str) -> Decimal:
        return self.value(key).value

    def months(self, key: str) -> int:
        return int(self.value(key).value)

    def rule(self, rule_id: str, source: sources.Source, outcome: Any, note_zh: str, **inputs: Any) -> Any:
        self.rules.append(
            {
                "rule": rule_id,
                "source": source.as_dict(),
                "inputs": _jsonable(inputs),
                "outcome": outcome,
                "note_zh": note_zh,
            }
        )
        return outcome

    def finish(self, summary_zh: str) -> dict[str, Any]:
        return {
            "engine_version": ENGINE_VERSION,
            "rule_set_hash": RULE_SET_HASH,
            "as_of": self.as_of.isoformat(),
            "household_id": self.household.id,
            "household_version": self.household.version,
            "region_code": self.household.region_code,
            "known_at": self.params.known_at.isoformat() if self.params.known_at else None,
            "parameters": sorted(self.read.values(), key=lambda p: p["key"]),
            "rules": self.rules,
            "amount": self.amount,
            "summary_zh": summary_zh,
        }


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in values.items():
        if isinstance(value, (Decimal, Fraction)):
            out[key] = str(value) if isinstance(value, Decimal) else f"{value.numerator}/{value.denominator}"
        elif isinstance(value, date):
            out[key] = value.isoformat()
        else:
            out[key] = value
    return out


# --- income counting (POLICY §2.2) -----------------------------------------------------------


def counted_income(
    household: HouseholdInput, ex: Explanation, member_id: str | None = None, record: bool = True
) -> int:
    """Annual counted income of the household (or of one member), exclusions applied."""
    members = {m.id: m for m in household.members}
    pension_share = ex.ratio(Category.EXCLUDED_BASIC_PENSION_SHARE)
    project_share = ex.ratio(Category.EXCLUDED_PROJECT_INCOME_SHARE)
    total = pension = project = 0
    for income in household.incomes:
        if member_id is not None and income.member_id != member_id:
            continue
        total += income.annual_amount_fen
        if income.type == "basic_pension":
            pension += income.annual_amount_fen
        elif income.type == "poverty_project_guaranteed":
            owner = members.get(income.member_id) if income.member_id else None
            # Only the guaranteed income of a recipient who has lost labour capacity is left out.
            if owner is not None and owner.labour_capacity == "none":
                project += income.annual_amount_fen
    # Rounded once per kind of income (not per record), so the bulk path gives the same fen.
    exclusions: list[dict[str, Any]] = [
        {
            "type": kind,
            "income_fen": amount,
            "share": str(share),
            "excluded_fen": round_half_up(Decimal(amount) * share),
        }
        for kind, amount, share in (
            ("basic_pension", pension, pension_share),
            ("poverty_project_guaranteed", project, project_share),
        )
        if amount
    ]
    excluded = sum(int(e["excluded_fen"]) for e in exclusions)
    counted = total - excluded
    if record:
        ex.rule(
            "income.count",
            sources.INCOME_EXCLUSIONS,
            counted,
            f"家庭年收入{yuan(total)}，不计入{yuan(excluded)}（基础养老金、丧失劳动能力者的扶贫项目保底收益），"
            f"计入{yuan(counted)}",
            total_fen=total,
            excluded_fen=excluded,
            counted_fen=counted,
            exclusions=exclusions,
            member_id=member_id,
        )
    return counted


def medical_expense(household: HouseholdInput) -> int:
    return sum(e.annual_amount_fen for e in household.expenses if e.type == "medical_self_paid")


def signal_category(status: str) -> str:
    return {
        "not_lifted": "remaining_poor",
        "lifted": "return_risk",
        "returned": "return_risk",
        "marginal": "marginal",
    }.get(status, "other")


# --- the programmes --------------------------------------------------------------------------


def evaluate(household: HouseholdInput, prior: PriorState | None, params: ParameterSet, as_of: date) -> EngineResult:
    prior = prior or PriorState()
    signals: list[Signal] = []
    # One person, one livelihood benefit: special poverty is decided first, and a member it supports
    # leaves the dibao household (its size and income) before dibao is decided.
    special = _special_poverty(household, params, as_of)
    covered_members = {d.member_id for d in special if d.status == Status.ELIGIBLE}
    dibao_household = without_members(policies_continued(household, params, as_of), covered_members)
    if dibao_household is None:
        dibao_decisions, dibao_covered = _all_supported(household, params, as_of), False
        dibao_state = DibaoState(status=Status.NOT_ELIGIBLE)
    else:
        dibao_decisions, dibao_state, dibao_covered = _dibao(
            dibao_household, prior, params, as_of, signals, left=household if covered_members else None
        )
    subsidies = _disability_subsidies(household, params, as_of, dibao_covered, covered_members)
    ex = Explanation(household, params, as_of)
    counted = counted_income(household, ex, record=False)
    medical = medical_expense(household)
    signals += _monitoring(household, prior, params, as_of, counted, medical, dibao_covered or bool(covered_members))
    next_state = PriorState(
        dibao=dibao_state,
        counted_income_fen=counted,
        medical_expense_fen=medical,
        active_signals=sorted({s.kind for s in signals}),
    )
    return EngineResult(decisions=dibao_decisions + special + subsidies, next_state=next_state, signals=signals)


def exit_policy_until(household: HouseholdInput, params: ParameterSet) -> date | None:
    """The first day the policies of a registered-poor household no longer continue after its exit
    (摘帽不摘政策); None for a household that never left the register through an exit case."""
    if household.exited_on is None or household.registered_poor_status != "lifted":
        return None
    return add_months(household.exited_on, int(params.get(Category.EXIT_POLICY_CONTINUATION_MONTHS).value))


def policies_continued(household: HouseholdInput, params: ParameterSet, as_of: date) -> HouseholdInput:
    """The household as dibao's rules for the registered poor see it: within the continuation period
    after its exit it is still treated as not lifted, so the exit by itself ends no entitlement."""
    until = exit_policy_until(household, params)
    if until is None or as_of >= until:
        return household
    return household.model_copy(update={"registered_poor_status": "not_lifted"})


def _explain_exit(ex: Explanation, household: HouseholdInput, as_of: date) -> None:
    """A household that left the register: the explanation shows the exit date and whether its policies
    still continue."""
    if household.exited_on is None:
        return
    months = ex.months(Category.EXIT_POLICY_CONTINUATION_MONTHS)
    until = add_months(household.exited_on, months)
    continues = as_of < until
    ex.rule(
        "registry.exit_policy_continuation",
        sources.EXIT_POLICY_CONTINUES,
        continues,
        f"已于{household.exited_on.isoformat()}公告脱贫退出；摘帽不摘政策，"
        + (
            f"{until.isoformat()}前继续按未脱贫对象适用政策"
            if continues
            else f"政策延续期已于{until.isoformat()}届满，按家庭实际情况认定"
        ),
        exited_on=household.exited_on,
        continuation_months=months,
        continues_until=until,
    )


def without_members(household: HouseholdInput, member_ids: set[str | None]) -> HouseholdInput | None:
    """The household as dibao counts it once `member_ids` have left it (their own incomes leave with them;
    incomes of the household as a whole stay); None if no member is left."""
    if not member_ids:
        return household
    members = [m for m in household.members if m.id not in member_ids]
    if not members:
        return None
    return household.model_copy(
        update={"members": members, "incomes": [i for i in household.incomes if i.member_id not in member_ids]}
    )


def _all_supported(household: HouseholdInput, params: ParameterSet, as_of: date) -> list[Decision]:
    ex = Explanation(household, params, as_of)
    ex.rule(
        "dibao.special_poverty_excluded",
        sources.ONE_LIVELIHOOD_BENEFIT,
        [m.id for m in household.members],
        "全体成员均已纳入特困供养，不再同时享受低保",
        member_ids=[m.id for m in household.members],
    )
    return [
        Decision(
            programme=Programme.DIBAO,
            status=Status.NOT_ELIGIBLE,
            scope="household",
            monthly_amount_fen=0,
            valid_from=as_of,
            valid_until=None,
            explanation=ex.finish("全体成员均已纳入特困供养，不再享受低保"),
        )
    ]


def _dibao(
    household: HouseholdInput,
    prior: PriorState,
    params: ParameterSet,
    as_of: date,
    signals: list[Signal],
    left: HouseholdInput | None = None,
) -> tuple[list[Decision], DibaoState, bool]:
    """`household` as dibao counts it; `left` is the whole household when special-poverty members left it."""
    ex = Explanation(household, params, as_of)
    _explain_exit(ex, household, as_of)
    if left is not None:
        kept = {m.id for m in household.members}
        gone = [m.id for m in left.members if m.id not in kept]
        income_gone = sum(i.annual_amount_fen for i in left.incomes if i.member_id in gone)
        ex.rule(
            "dibao.special_poverty_excluded",
            sources.ONE_LIVELIHOOD_BENEFIT,
            gone,
            f"成员{'、'.join(str(g) for g in gone)}已纳入特困供养，不再同时享受低保：低保家庭按"
            f"{len(household.members)}人计算，不计其本人收入{yuan(income_gone)}",
            member_ids=gone,
            household_size_before=len(left.members),
            household_size_after=len(household.members),
            income_left_with_them_fen=income_gone,
        )
    standard = ex.money(Category.RURAL_DIBAO)
    size = len(household.members)
    counted = counted_income(household, ex)
    threshold = standard * size
    before = prior.dibao
    # Gradual exit is for a household that received as a household and whose income rose; single persons
    # included without a means test of their household are asked again below whether they qualify.
    receiving = (
        before is not None and before.status in (Status.ELIGIBLE, Status.GRADUAL_EXIT) and not before.single_person
    )

    def decision(
        status: Status,
        annual_or_monthly: int,
        valid_from: date | None,
        valid_until: date | None,
        summary: str,
        *,
        monthly: int | None = None,
        scope: str = "household",
        member_id: str | None = None,
    ) -> Decision:
        amount = monthly if monthly is not None else monthly_of(annual_or_monthly)
        return Decision(
            programme=Programme.DIBAO,
            status=status,
            scope=scope,
            member_id=member_id,
            monthly_amount_fen=amount,
            valid_from=valid_from,
            valid_until=valid_until,
            explanation=ex.finish(summary),
        )

    below = ex.rule(
        "dibao.income_test",
        sources.DIFFERENCE_BENEFIT,
        counted < threshold,
        f"计入收入{yuan(counted)} {'低于' if counted < threshold else '不低于'}"
        f"低保标准{yuan(standard)}×{size}人={yuan(threshold)}（人均{yuan(Fraction(counted, size))}）",
        counted_fen=counted,
        standard_fen_per_person_year=standard,
        household_size=size,
        threshold_fen=threshold,
        per_capita_fen=Fraction(counted, size),
    )
    if below:
        annual = threshold - counted
        valid_from = eligible_from(before.status if before else None, before.since if before else None, as_of)
        if before is not None and before.status == Status.GRADUAL_EXIT:
            ex.rule(
                "gradual_exit.requalified",
                sources.GRADUAL_EXIT,
                True,
                f"渐退期间重新符合低保条件：终止渐退，自审核之月下月起（{valid_from}）按差额救助",
                gradual_exit_started=before.gradual_exit_started,
                review_date=as_of,
                valid_from=valid_from,
            )
        ex.amount = {
            "formula": "(标准×人数 − 计入收入) ÷ 12",
            "annual_fen": annual,
            "steps": [
                f"{yuan(standard)}×{size} − {yuan(counted)} = {yuan(annual)}/年",
                f"{yuan(annual)} ÷ 12 = {yuan(monthly_of(annual))}/月（四舍五入到分）",
            ],
            "monthly_fen": monthly_of(annual),
        }
        result = decision(
            Status.ELIGIBLE, annual, valid_from, None, f"符合低保条件，整户纳入，差额救助每月{yuan(monthly_of(annual))}"
        )
        return (
            [result],
            DibaoState(status=Status.ELIGIBLE, since=valid_from, monthly_amount_fen=result.monthly_amount_fen),
            True,
        )

    # Expense deduction (支出核减): registered-poor households with major medical costs.
    medical = medical_expense(household)
    deducted = max(counted - medical, 0)
    deduction_applies = ex.rule(
        "dibao.expense_deduction",
        sources.EXPENSE_DEDUCTION,
        household.registered_poor_status == "not_lifted"
        and medical > 0
        and household.assets_meet_local_rule
        and deducted < threshold,
        f"未脱贫建档立卡家庭：收入{yuan(counted)}扣减自负医疗费用{yuan(medical)}后为{yuan(deducted)}，"
        f"财产状况{'符合' if household.assets_meet_local_rule else '不符合'}当地规定",
        registered_poor_status=household.registered_poor_status,
        medical_self_paid_fen=medical,
        income_after_deduction_fen=deducted,
        threshold_fen=threshold,
        assets_meet_local_rule=household.assets_meet_local_rule,
    )
    if deduction_applies:
        period = ex.months(Category.EXPENSE_DEDUCTION_MONTHS)
        since, until = deduction_period(before.expense_deduction_since if before else None, as_of, period)
        annual = threshold - deducted
        ex.amount = {
            "formula": "(标准×人数 − (计入收入 − 自负医疗费用)) ÷ 12",
            "annual_fen": annual,
            "steps": [f"{yuan(threshold)} − {yuan(deducted)} = {yuan(annual)}/年"],
            "monthly_fen": monthly_of(annual),
        }
        result = decision(
            Status.ELIGIBLE,
            annual,
            since,
            until,
            f"支出核减纳入低保一年（至{until}），每月{yuan(monthly_of(annual))}，期满复核",
        )
        return (
            [result],
            DibaoState(
                status=Status.ELIGIBLE,
                since=since,
                monthly_amount_fen=result.monthly_amount_fen,
                expense_deduction_since=since,
            ),
            True,
        )

    # Gradual exit (脱贫渐退) for a household already receiving dibao.
    if receiving:
        multiple = ex.ratio(Category.GRADUAL_EXIT_THRESHOLD_MULTIPLE)
        ceiling = Fraction(threshold) * Fraction(multiple)
        within = ex.rule(
            "gradual_exit.income_band",
            sources.GRADUAL_EXIT,
            counted < ceiling,
            f"计入收入{yuan(counted)}达到低保标准但{'低于' if counted < ceiling else '不低于'}"
            f"标准的{multiple}倍（{yuan(ceiling)}）",
            counted_fen=counted,
            threshold_fen=threshold,
            multiple=multiple,
            ceiling_fen=ceiling,
        )
        if within:
            assert before is not None  # receiving implies a prior state
            return _gradual_exit(household, before, ex, as_of, counted, threshold, decision, signals)
        summary = f"计入收入不低于标准的{multiple}倍，退出低保"
        return [decision(Status.NOT_ELIGIBLE, 0, as_of, None, summary)], DibaoState(status=Status.NOT_ELIGIBLE), False

    # Single-person inclusion (单人户) for severely disabled or seriously ill registered-poor members.
    singles = []
    for member in household.members:
        qualifies = (
            (member.severely_disabled or member.serious_illness)
            and member.labour_capacity in ("none", "partial")
            and household.registered_poor_status in ("not_lifted", "returned")
        )
        if not qualifies:
            continue
        own = counted_income(household, ex, member_id=member.id)
        if ex.rule(
            "dibao.single_person",
            sources.SINGLE_PERSON,
            own < standard,
            f"成员{member.id}：{'重度残疾' if member.severely_disabled else '重病'}，"
            f"{'丧失' if member.labour_capacity == 'none' else '部分丧失'}劳动能力，"
            f"本人计入收入{yuan(own)}，单人纳入（家庭不再进行经济状况核对）",
            member_id=member.id,
            own_counted_fen=own,
            standard_fen=standard,
            registered_poor_status=household.registered_poor_status,
        ):
            singles.append((member, standard - own))
    if singles:
        results = []
        for member, annual in singles:
            ex.amount = {
                "formula": "(标准 − 本人计入收入) ÷ 12",
                "annual_fen": annual,
                "steps": [f"{yuan(annual)} ÷ 12 = {yuan(monthly_of(annual))}/月"],
                "monthly_fen": monthly_of(annual),
            }
            since = before.since if before and before.status == Status.ELIGIBLE and before.since else as_of
            results.append(
                decision(
                    Status.ELIGIBLE,
                    annual,
                    since,
                    None,
                    f"单人户纳入低保，每月{yuan(monthly_of(annual))}",
                    scope="single_person",
                    member_id=member.id,
                )
            )
        total = sum(d.monthly_amount_fen for d in results)
        state = DibaoState(
            status=Status.ELIGIBLE, since=results[0].valid_from, monthly_amount_fen=total, single_person=True
        )
        return results, state, True

    return (
        [decision(Status.NOT_ELIGIBLE, 0, None, None, "家庭人均收入不低于低保标准，不符合低保条件")],
        DibaoState(status=Status.NOT_ELIGIBLE),
        False,
    )


def _gradual_exit(
    household: HouseholdInput,
    before: DibaoState,
    ex: Explanation,
    as_of: date,
    counted: int,
    threshold: int,
    decision: Callable[..., Decision],
    signals: list[Signal],
) -> tuple[list[Decision], DibaoState, bool]:
    disabled_household = any(m.disability_grade is not None for m in household.members)
    months = ex.months(Category.GRADUAL_EXIT_MONTHS_DISABLED if disabled_household else Category.GRADUAL_EXIT_MONTHS)
    step = ex.months(Category.GRADUAL_EXIT_STEP_MONTHS)
    decrease = ex.ratio(Category.GRADUAL_EXIT_STEP_DECREASE)
    start, extended = exit_start(before.status, before.gradual_exit_started, before.gradual_exit_extended, as_of)
    base = before.monthly_amount_fen or 0
    if extended:
        months += ex.months(Category.GRADUAL_EXIT_EXTENSION_MONTHS)
    elapsed = months_between(start, as_of)
    ex.rule(
        "gradual_exit.period",
        sources.GRADUAL_EXIT,
        elapsed < months,
        f"{'残疾人低保家庭' if disabled_household else '低保家庭'}渐退期{months}个月，自{start}起已过{elapsed}个月"
        + ("（已因返贫风险延长）" if extended else ""),
        started=start,
        elapsed_months=elapsed,
        period_months=months,
        disabled_household=disabled_household,
        extended=extended,
    )
    if base == 0:
        ex.rule(
            "gradual_exit.base_unknown",
            sources.GRADUAL_EXIT,
            False,
            "未提供渐退前的月补助额（prior_state.dibao.monthly_amount_fen），渐退金额按0计",
            base_fen=0,
        )

    def stepped(elapsed_months: int) -> tuple[int, int, Decimal]:
        steps_done = elapsed_months // step
        factor = max(Decimal(0), Decimal(1) - decrease * steps_done)
        return round_half_up(Decimal(base) * factor), steps_done, factor

    def state(extended_now: bool) -> DibaoState:
        return DibaoState(
            status=Status.GRADUAL_EXIT,
            since=before.since,
            gradual_exit_started=start,
            monthly_amount_fen=base,
            gradual_exit_extended=extended_now,
        )

    if elapsed < months:
        amount, steps_done, factor = stepped(elapsed)
        until = period_end(start, months)
        ex.amount = {
            "formula": "渐退前月补助 × (1 − 每周期递减比例 × 已满周期数)",
            "monthly_fen": amount,
            "steps": [f"{yuan(base)} × (1 − {decrease} × {steps_done}) = {yuan(amount)}/月"],
            "base_monthly_fen": base,
            "factor": str(factor),
        }
        return (
            [
                decision(
                    Status.GRADUAL_EXIT, 0, start, until, f"脱贫渐退，至{until}，本期每月{yuan(amount)}", monthly=amount
                )
            ],
            state(extended),
            True,
        )

    # End of the period: assess the risk of returning to poverty before letting the household go.
    difficulty = ex.ratio(Category.DIFFICULTY_MULTIPLE)
    vulnerable = [
        m.id
        for m in household.members
        if m.severely_disabled or m.serious_illness or (m.age_on(as_of) >= ELDERLY_AGE and m.labour_capacity == "none")
    ]
    low_income = Fraction(counted) < Fraction(threshold) * Fraction(difficulty)
    high_risk = ex.rule(
        "gradual_exit.risk_assessment",
        sources.GRADUAL_EXIT,
        bool(vulnerable or low_income),
        "渐退期满，退出前评估返贫风险：" + ("风险较高" if vulnerable or low_income else "风险较低"),
        vulnerable_members=vulnerable,
        counted_fen=counted,
        difficulty_ceiling_fen=Fraction(threshold) * Fraction(difficulty),
    )
    if high_risk:
        signals.append(
            Signal(
                kind="exit_risk_high",
                category=signal_category(household.registered_poor_status),
                evidence={"vulnerable_members": vulnerable, "counted_income_fen": counted, "extended_before": extended},
            )
        )
        if not extended:
            extra = ex.months(Category.GRADUAL_EXIT_EXTENSION_MONTHS)
            total = months + extra
            until = period_end(start, total)
            amount, steps_done, factor = stepped(months - 1)  # keeps the last step's amount
            ex.amount = {
                "formula": "延长渐退，保持最后一期金额",
                "monthly_fen": amount,
                "steps": [f"{yuan(base)} × {factor} = {yuan(amount)}/月"],
                "base_monthly_fen": base,
            }
            return (
                [
                    decision(
                        Status.GRADUAL_EXIT,
                        0,
                        start,
                        until,
                        f"渐退期满但返贫风险较高：延长渐退{extra}个月至{until}",
                        monthly=amount,
                    )
                ],
                state(True),
                True,
            )
    summary = "渐退期满，经评估退出低保" + ("；风险仍高，建议给予临时救助" if high_risk else "")
    return [decision(Status.NOT_ELIGIBLE, 0, as_of, None, summary)], DibaoState(status=Status.NOT_ELIGIBLE), False


def _special_poverty(household: HouseholdInput, params: ParameterSet, as_of: date) -> list[Decision]:
    results = []
    for member in household.members:
        age = member.age_on(as_of)
        in_group = age >= ELDERLY_AGE or age < MINOR_AGE or member.disability_grade is not None
        if not (in_group and member.labour_capacity == "none" and not member.has_legal_supporter):
            continue
        ex = Explanation(household, params, as_of)
        previous_standard = ex.money(f"{Category.RURAL_DIBAO.value}@prev_year")
        multiplier = ex.ratio(Category.SPECIAL_POVERTY_MULTIPLIER)
        basic_annual = round_half_up(Decimal(previous_standard) * multiplier)
        own = counted_income(household, ex, member_id=member.id)
        if not ex.rule(
            "special_poverty.who",
            sources.SPECIAL_POVERTY_WHO,
            own < basic_annual,
            f"成员{member.id}：{age}岁，无劳动能力，无法定赡养抚养扶养义务人或其无履行能力，"
            f"本人计入收入{yuan(own)}{'低于' if own < basic_annual else '不低于'}特困基本生活标准",
            member_id=member.id,
            age=age,
            labour_capacity=member.labour_capacity,
            has_legal_supporter=member.has_legal_supporter,
            own_counted_fen=own,
        ):
            continue
        ratio_key = {
            "none": Category.CARE_RATIO_FULL_DEPENDENT,
            "partial": Category.CARE_RATIO_PARTLY_DEPENDENT,
            "full": Category.CARE_RATIO_SELF_CARING,
        }[member.self_care]
        care_ratio = ex.ratio(ratio_key)
        wage = ex.monthly_money(f"{Category.MINIMUM_WAGE.value}@prev_year")
        care_monthly = round_half_up(wage * care_ratio)
        basic_monthly = monthly_of(basic_annual)
        ex.rule(
            "special_poverty.standard",
            sources.SPECIAL_POVERTY_STANDARD,
            basic_annual,
            f"基本生活标准 = 上年度农村低保标准{yuan(previous_standard)} × {multiplier} = {yuan(basic_annual)}/年",
            previous_year_standard_fen=previous_standard,
            multiplier=multiplier,
        )
        ex.rule(
            "special_poverty.care",
            sources.CARE_STANDARD,
            care_monthly,
            f"照料护理标准 = 上年度最低工资{yuan(round_half_up(wage))}/月 × {care_ratio}"
            f"（生活自理能力：{member.self_care}）",
            self_care=member.self_care,
            minimum_wage_monthly_fen=wage,
            ratio=care_ratio,
        )
        total = basic_monthly + care_monthly
        census = date(as_of.year + 1, 6, 30)
        ex.rule(
            "special_poverty.census",
            sources.SPECIAL_POVERTY_CENSUS,
            census,
            f"有效至下一次年度普查（{census}）",
            valid_until=census,
        )
        ex.amount = {
            "formula": "基本生活标准 ÷ 12 + 照料护理标准",
            "monthly_fen": total,
            "steps": [
                f"{yuan(basic_annual)} ÷ 12 = {yuan(basic_monthly)}",
                f"{yuan(basic_monthly)} + {yuan(care_monthly)} = {yuan(total)}/月",
            ],
        }
        results.append(
            Decision(
                programme=Programme.SPECIAL_POVERTY,
                status=Status.ELIGIBLE,
                scope="single_person",
                member_id=member.id,
                monthly_amount_fen=total,
                valid_from=as_of,
                valid_until=census,  # the yearly census by end of June
                explanation=ex.finish(f"符合特困人员救助供养条件，每月{yuan(total)}"),
            )
        )
    return results


def _disability_subsidies(
    household: HouseholdInput, params: ParameterSet, as_of: date, dibao_covered: bool, special_members: set[str | None]
) -> list[Decision]:
    results = []
    for member in household.members:
        if member.disability_grade is None:
            continue
        needy = dibao_covered or member.id in special_members
        for programme, category, applies, note in (
            (
                Programme.DISABILITY_LIVING_SUBSIDY,
                Category.DISABILITY_LIVING_SUBSIDY,
                needy,
                "困难残疾人（低保或特困对象）生活补贴",
            ),
            (
                Programme.SEVERE_DISABILITY_CARE_SUBSIDY,
                Category.SEVERE_DISABILITY_CARE_SUBSIDY,
                member.severely_disabled,
                "重度残疾人（一、二级）护理补贴",
            ),
        ):
            if not applies:
                continue
            ex = Explanation(household, params, as_of)
            amount = round_half_up(ex.monthly_money(category))
            ex.rule(
                f"{programme.value}.who",
                sources.DISABILITY_SUBSIDIES,
                True,
                f"成员{member.id}：残疾等级{member.disability_grade}级，{note}",
                member_id=member.id,
                disability_grade=member.disability_grade,
                needy=needy,
            )
            ex.amount = {"formula": "按月定额", "monthly_fen": amount, "steps": [f"{yuan(amount)}/月"]}
            results.append(
                Decision(
                    programme=programme,
                    status=Status.ELIGIBLE,
                    scope="single_person",
                    member_id=member.id,
                    monthly_amount_fen=amount,
                    valid_from=as_of,
                    valid_until=None,
                    explanation=ex.finish(f"{note}，每月{yuan(amount)}"),
                )
            )
    return results


def _monitoring(
    household: HouseholdInput,
    prior: PriorState,
    params: ParameterSet,
    as_of: date,
    counted: int,
    medical: int,
    covered: bool,
) -> list[Signal]:
    ex = Explanation(household, params, as_of)
    category = signal_category(household.registered_poor_status)
    size = len(household.members)
    standard = ex.money(Category.RURAL_DIBAO)
    found = []
    if prior.counted_income_fen:
        drop_ratio = ex.ratio(Category.INCOME_DROP_RATIO)
        if Fraction(counted) <= Fraction(prior.counted_income_fen) * (1 - Fraction(drop_ratio)):
            found.append(
                Signal(
                    kind="income_drop",
                    category=category,
                    evidence={
                        "previous_counted_income_fen": prior.counted_income_fen,
                        "counted_income_fen": counted,
                        "threshold_ratio": str(drop_ratio),
                        "source": sources.MONITORING.as_dict(),
                    },
                )
            )
    if prior.medical_expense_fen is not None and medical > 0:
        spike_ratio = ex.ratio(Category.EXPENSE_SPIKE_RATIO)
        previous = prior.medical_expense_fen
        spiked = (
            medical >= standard
            if previous == 0
            else Fraction(medical) >= Fraction(previous) * (1 + Fraction(spike_ratio))
        )
        if spiked:
            found.append(
                Signal(
                    kind="expense_spike",
                    category=category,
                    evidence={
                        "previous_medical_fen": previous,
                        "medical_fen": medical,
                        "threshold_ratio": str(spike_ratio),
                        "source": sources.MONITORING.as_dict(),
                    },
                )
            )
    if not covered:
        vulnerable = [
            m.id
            for m in household.members
            if m.age_on(as_of) >= ELDERLY_AGE or m.serious_illness or m.severely_disabled
        ]
        if vulnerable:
            found.append(
                Signal(
                    kind="special_hardship_watch",
                    category=category,
                    evidence={"members": vulnerable, "source": sources.MONITORING.as_dict()},
                )
            )
        if household.registered_poor_status in ("not_lifted", "returned"):
            found.append(
                Signal(
                    kind="registered_poor_not_covered",
                    category=category,
                    evidence={
                        "registered_poor_status": household.registered_poor_status,
                        "source": sources.MONTHLY_COMPARISON.as_dict(),
                    },
                )
            )
        difficulty = ex.ratio(Category.DIFFICULTY_MULTIPLE)
        if Fraction(counted) < Fraction(standard * size) * Fraction(difficulty):
            found.append(
                Signal(
                    kind="not_eligible_in_difficulty",
                    category=category,
                    evidence={
                        "counted_income_fen": counted,
                        "threshold_fen": standard * size,
                        "multiple": str(difficulty),
                        "source": sources.MONITORING.as_dict(),
                    },
                )
            )
    return found


RULE_SET_HASH = rule_set_hash(rule_set_catalogue())
