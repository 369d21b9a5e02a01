"""The scalar and vectorised (bulk) paths agree on random populations (hypothesis): the dibao status and
amount to the fen, the validity dates to the day, the next entitlement state and the monitoring signals.

A member the scalar path supports as special poverty leaves the dibao household (one person, one
livelihood benefit): its dibao decision must be the vectorised path's decision on the household without
that member and their own incomes. Such households are the scalar path's alone in a job (scalar_only)."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import event, given, settings
from hypothesis import strategies as st

from services.eligibility.domain.bulk import decide_dibao, next_state
from services.eligibility.domain.engine import evaluate, without_members
from services.eligibility.domain.model import DibaoState, HouseholdInput, PriorState, Status
from services.eligibility.domain.parameters import compile_parameters
from services.eligibility.domain.seed_standards import seed_standards
from services.eligibility.domain.vector import (
    STATUS_OF_CODE,
    Branch,
    RegionParameters,
    build_population,
    decide,
    evaluate_dibao,
    scalar_fallback_mask,
    scalar_only_mask,
    signal_kinds,
)

STANDARDS = seed_standards()
REGIONS = ["220122", "220182", "220581", "222401"]
AS_OF = date(2021, 6, 15)
PARAMS = {code: compile_parameters(STANDARDS, code, AS_OF) for code in REGIONS}
INDEX = {code: i for i, code in enumerate(REGIONS)}
REGION_PARAMS = RegionParameters.from_sets([PARAMS[c] for c in REGIONS])

# Plain amounts, plus amounts that leave a half fen after ÷12 against the (2,000-fen-multiple) standards,
# so the rounding edge is drawn on purpose rather than by luck.
# Household incomes near one to three people's standard make every branch (deduction, gradual exit and its
# end) common enough to be drawn in each run.
money = st.one_of(
    st.integers(min_value=0, max_value=1_500_000),
    st.integers(min_value=300_000, max_value=2_500_000),
    st.integers(min_value=0, max_value=120_000).map(lambda k: k * 12 + 6),
)


@st.composite
def household_and_prior(draw):
    size = draw(st.integers(1, 5))
    members = [
        {
            "id": f"m{i}",
            "birth_date": draw(st.dates(date(1930, 1, 1), date(2020, 1, 1))),
            "labour_capacity": draw(st.sampled_from(["full", "partial", "none"])),
            "disability_grade": draw(st.sampled_from([None, None, None, 1, 2, 3, 4])),
            "serious_illness": draw(st.booleans()),
            "self_care": draw(st.sampled_from(["full", "partial", "none"])),
            "has_legal_supporter": draw(st.sampled_from([True, True, True, False])),
        }
        for i in range(size)
    ]
    incomes = [
        {
            "member_id": draw(st.sampled_from([None] + [m["id"] for m in members])),
            "type": draw(
                st.sampled_from(
                    ["wages", "agriculture", "business", "basic_pension", "poverty_project_guaranteed", "transfer"]
                )
            ),
            "annual_amount_fen": draw(money),
        }
        for _ in range(draw(st.integers(0, 4)))
    ]
    expenses = [{"type": "medical_self_paid", "annual_amount_fen": draw(money)}] if draw(st.integers(0, 2)) else []
    household = HouseholdInput(
        region_code=draw(st.sampled_from(REGIONS)),
        registered_poor_status=draw(
            st.sampled_from(["not_lifted", "not_lifted", "lifted", "returned", "marginal", "none"])
        ),
        members=members,
        incomes=incomes,
        expenses=expenses,
        assets_meet_local_rule=draw(st.sampled_from([True, True, False])),
        # Left the register through an exit case: recently (policies continue) or long ago.
        exited_on=draw(st.one_of(st.none(), st.none(), st.dates(date(2015, 1, 1), AS_OF))),
    )
    kind = draw(st.sampled_from(["none", "not_eligible", "eligible", "deduction", "exit"]))
    remembered = dict(
        counted_income_fen=draw(st.one_of(st.none(), money)),
        medical_expense_fen=draw(st.one_of(st.none(), money)),
        active_signals=draw(st.lists(st.sampled_from(SIGNAL_NAMES), unique=True).map(sorted)),
    )
    if kind == "none":
        prior = None
    elif kind == "not_eligible":
        prior = PriorState(dibao=DibaoState(status=Status.NOT_ELIGIBLE), **remembered)
    elif kind in ("eligible", "deduction"):
        deduction_since = AS_OF - timedelta(days=draw(st.integers(0, 800))) if kind == "deduction" else None
        prior = PriorState(
            dibao=DibaoState(
                status=Status.ELIGIBLE,
                since=date(2020, 1, 1),
                monthly_amount_fen=draw(st.integers(0, 200_000)),
                expense_deduction_since=deduction_since,
                single_person=kind == "eligible" and draw(st.booleans()),
            ),
            **remembered,
        )
    else:
        prior = PriorState(
            dibao=DibaoState(
                status=Status.GRADUAL_EXIT,
                since=draw(st.one_of(st.none(), st.just(date(2019, 1, 1)))),
                gradual_exit_started=AS_OF - timedelta(days=draw(st.integers(0, 1000))),
                monthly_amount_fen=draw(st.one_of(st.none(), st.integers(0, 200_000))),
                gradual_exit_extended=draw(st.booleans()),
            ),
            **remembered,
        )
    return household, prior


SIGNAL_NAMES = [
    "income_drop",
    "expense_spike",
    "special_hardship_watch",
    "registered_poor_not_covered",
    "not_eligible_in_difficulty",
    "exit_risk_high",
]


@settings(max_examples=80, deadline=None)
@given(st.lists(household_and_prior(), min_size=1, max_size=40))
def test_scalar_and_vector_paths_agree_to_the_fen(population):
    households = [h for h, _ in population]
    priors = [p for _, p in population]
    states = [p.model_dump(mode="json") if p else None for p in priors]
    results = [evaluate(h, p, PARAMS[h.region_code], AS_OF) for h, p in population]
    supported = [
        {d.member_id for d in r.decisions if d.programme == "special_poverty" and d.status == "eligible"}
        for r in results
    ]
    # What the dibao decision counts: the household without its special-poverty members (one of them, for
    # a household they all leave, so the vector has a household to decide; that case is asserted apart).
    dibao_households = [without_members(h, gone) or h for h, gone in zip(households, supported, strict=True)]
    pop = build_population([h.model_dump() for h in households], states, INDEX, AS_OF)
    dibao_pop = build_population([h.model_dump() for h in dibao_households], states, INDEX, AS_OF)
    decided = decide(pop, REGION_PARAMS)
    status, monthly = evaluate_dibao(dibao_pop, REGION_PARAMS)
    fallback = scalar_fallback_mask(dibao_pop, status)
    scalar_only = scalar_only_mask(pop, decided.status)
    for i, (household, prior) in enumerate(population):
        result = results[i]
        dibao = [d for d in result.decisions if d.programme == "dibao"]
        if supported[i]:
            event("a special-poverty member left the dibao household")
            assert scalar_only[i], household  # a job never takes the vector's figure for this household
            assert any(r["rule"] == "dibao.special_poverty_excluded" for r in dibao[0].explanation["rules"])
            if without_members(household, supported[i]) is None:
                assert (dibao[0].status, dibao[0].monthly_amount_fen) == ("not_eligible", 0)
                continue
        if household.exited_on is not None and household.registered_poor_status == "lifted":
            event("left the register: the scalar path decides whether its policies continue")
            assert scalar_only[i], household
            assert any(r["rule"] == "registry.exit_policy_continuation" for r in dibao[0].explanation["rules"])
            continue
        if fallback[i]:
            continue  # single-person candidates are the scalar path's by design
        assert len(dibao) == 1
        assert (dibao[0].status, dibao[0].monthly_amount_fen) == (STATUS_OF_CODE[int(status[i])], int(monthly[i])), (
            household,
            prior,
        )
        if scalar_only[i]:
            continue  # possible special-poverty members: signals and coverage are the scalar path's
        bulk, dibao_next = decide_dibao(
            Branch(int(decided.branch[i])),
            int(decided.monthly[i]),
            prior.model_dump(mode="json") if prior else None,
            PARAMS[household.region_code],
            AS_OF,
            disabled_household=bool(pop.disabled_household[i]),
        )
        assert (bulk.status, bulk.monthly_amount_fen, bulk.valid_from, bulk.valid_until, bulk.scope) == (
            dibao[0].status,
            dibao[0].monthly_amount_fen,
            dibao[0].valid_from,
            dibao[0].valid_until,
            dibao[0].scope,
        ), (household, prior)
        assert signal_kinds(int(decided.signals[i])) == sorted(s.kind for s in result.signals), (household, prior)
        medical = int(pop.medical[i])
        assert next_state(dibao_next, int(decided.counted[i]), medical, int(decided.signals[i])) == (
            result.next_state.model_dump(mode="json")
        ), (household, prior)


def test_fallback_is_only_for_single_person_candidates():
    severely = HouseholdInput(
        region_code="220122",
        registered_poor_status="not_lifted",
        members=[{"id": "a", "birth_date": date(1980, 1, 1), "labour_capacity": "none", "disability_grade": 1}],
        incomes=[{"type": "wages", "annual_amount_fen": 10_000_000}],
    )
    plain = severely.model_copy(update={"registered_poor_status": "lifted"})
    pop = build_population([severely.model_dump(), plain.model_dump()], [None, None], INDEX, AS_OF)
    status, _ = evaluate_dibao(pop, REGION_PARAMS)
    assert scalar_fallback_mask(pop, status).tolist() == [True, False]


def _compare_one(household: HouseholdInput, prior: PriorState | None) -> Branch:
    """Bulk and scalar agree on one household; returns the branch it took."""
    pop = build_population([household.model_dump()], [prior.model_dump(mode="json") if prior else None], INDEX, AS_OF)
    decided = decide(pop, REGION_PARAMS)
    params = PARAMS[household.region_code]
    bulk, dibao_next = decide_dibao(
        Branch(int(decided.branch[0])),
        int(decided.monthly[0]),
        prior.model_dump(mode="json") if prior else None,
        params,
        AS_OF,
        disabled_household=bool(pop.disabled_household[0]),
    )
    result = evaluate(household, prior, params, AS_OF)
    [dibao] = [d for d in result.decisions if d.programme == "dibao"]
    assert (bulk.status, bulk.monthly_amount_fen, bulk.valid_from, bulk.valid_until) == (
        dibao.status,
        dibao.monthly_amount_fen,
        dibao.valid_from,
        dibao.valid_until,
    )
    assert next_state(dibao_next, int(decided.counted[0]), int(pop.medical[0]), int(decided.signals[0])) == (
        result.next_state.model_dump(mode="json")
    )
    return Branch(int(decided.branch[0]))


def test_every_branch_agrees_on_a_chosen_household():
    """Each branch of the dibao rule once, so none depends on what a random run happens to draw."""
    standard = PARAMS["220122"].money_annual("rural_dibao")

    def household(income_fen: int, *, medical: int = 0, poor: str = "lifted", disabled: bool = False):
        return HouseholdInput(
            region_code="220122",
            registered_poor_status=poor,
            members=[
                {
                    "id": "a",
                    "birth_date": date(1950, 1, 1),
                    "labour_capacity": "none",
                    "disability_grade": 3 if disabled else None,
                }
            ],
            incomes=[{"member_id": "a", "type": "wages", "annual_amount_fen": income_fen}],
            expenses=[{"type": "medical_self_paid", "annual_amount_fen": medical}] if medical else [],
        )

    def exit_prior(months_ago: int, extended: bool = False):
        return PriorState(
            dibao=DibaoState(
                status=Status.GRADUAL_EXIT,
                since=date(2019, 1, 1),
                gradual_exit_started=AS_OF - timedelta(days=months_ago * 31),
                monthly_amount_fen=30_000,
                gradual_exit_extended=extended,
            ),
            counted_income_fen=standard,
            medical_expense_fen=0,
        )

    eligible = PriorState(dibao=DibaoState(status=Status.ELIGIBLE, since=date(2020, 1, 1), monthly_amount_fen=10_000))
    cases = {
        Branch.BELOW: (household(standard // 2), exit_prior(3)),
        Branch.DEDUCTION: (
            household(standard + 50_000, medical=100_000, poor="not_lifted"),
            PriorState(
                dibao=DibaoState(
                    status=Status.ELIGIBLE, since=date(2020, 1, 1), expense_deduction_since=date(2020, 3, 1)
                )
            ),
        ),
        Branch.EXIT_STEP: (household(standard + 10_000, disabled=True), exit_prior(20)),
        Branch.EXIT_EXTENDED: (household(standard + 10_000), exit_prior(19)),
        Branch.EXIT_ENDED: (household(standard + 10_000), exit_prior(26, extended=True)),
        Branch.ABOVE_CEILING: (household(standard * 3), eligible),
        Branch.NOT_ELIGIBLE: (household(standard * 3), None),
    }
    for expected, (h, prior) in cases.items():
        assert _compare_one(h, prior) == expected
