"""Bad input gets a 4xx problem, never a 500: random JSON (hypothesis) against the write endpoints."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import auth
from tests.factories import household

COUNTY = auth("county_operator", "220122")
SYSTEM = auth("provincial_system", "22")
PROVINCE = auth("province_operator", "22")

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.sampled_from(["2026-01-01", "220122", "wages", "head", "month", "-1"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=5)),
    max_leaves=20,
)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _paths(inner, prefix + (key,))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from _paths(inner, prefix + (index,))


def _replace(value, path, new, remove=False):
    if not path:
        return new
    head, rest = path[0], path[1:]
    copy = dict(value) if isinstance(value, dict) else list(value)
    if remove and not rest:
        del copy[head]
        return copy
    copy[head] = _replace(copy[head], rest, new, remove)
    return copy


def mutated(base: dict):
    """The valid body, or it with any one nested field replaced by random JSON or removed: closer to
    real mistakes than random documents, so requests get past the outer validation into the handlers."""
    paths = [p for p in _paths(base)]
    return st.one_of(
        st.just(base),
        st.builds(lambda path, value: _replace(base, path, value), st.sampled_from(paths), json_values),
        st.builds(lambda path: _replace(base, path, None, remove=True), st.sampled_from([p for p in paths if p])),
    )


def assert_problem(response):
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/problem+json")


FUZZ = settings(
    max_examples=int(__import__("os").environ.get("FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
INCOME = {"type": "wages", "amount_fen": 100, "period": "month", "effective_from": "2026-01-01"}


@FUZZ
@given(body=mutated(household()))
async def test_register_household(registry, body):
    assert_problem(await registry.http.post("/v1/households", json=body, headers=COUNTY))


@FUZZ
@given(body=mutated(INCOME))
async def test_record_income(registry, body):
    created = await registry.http.post("/v1/households", json=household(), headers=COUNTY)
    assert_problem(
        await registry.http.post(f"/v1/households/{created.json()['id']}/incomes", json=body, headers=COUNTY)
    )


@FUZZ
@given(
    body=mutated(
        {
            "as_of": "2021-06-01",
            "household": {
                "region_code": "220122",
                "members": [{"id": "a", "birth_date": "1950-01-01", "labour_capacity": "none"}],
            },
        }
    )
)
async def test_dry_run(eligibility, body):
    assert_problem(await eligibility.http.post("/v1/evaluations", json=body, headers=SYSTEM))


@FUZZ
@given(
    body=mutated(
        {
            "region_code": "22",
            "category": "income_drop_ratio",
            "effective_from": "2030-01-01",
            "value": "0.3",
            "legal_ref": "fuzz",
        }
    )
)
async def test_record_standard(eligibility, body):
    assert_problem(await eligibility.http.post("/v1/standards", json=body, headers=PROVINCE))
