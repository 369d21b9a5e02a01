"""Authorization, swept from the route table: every route of every service × every role × in and out
of region scope (and, for household users, their own household and another one). A route added
tomorrow is swept the day it lands: a route this file has no sample request for fails the sweep.

Expectations, for each route:
- no token → 401;
- a role the route does not admit → 403, in scope or out of it;
- an admitted role in scope → neither 401 nor 403 (the request may still be refused on its merits);
- an admitted role out of scope → never a success that shows or changes the in-scope data: 403/404,
  or, for collections, a success that does not contain it. Exceptions are named in OUT_OF_SCOPE_SUCCESS;
- a route authenticated by a message signature instead (the payment provider's callback) → 401 for
  every bearer token: no role stands in for the signature.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from fastapi.routing import APIRoute

from shared.auth import Role
from shared.clock import BUSINESS_TZ
from tests.conftest import auth, whole_system
from tests.factories import announce_household, household, id_number, member

NOW = datetime(2026, 7, 1, 1, 0, tzinfo=UTC)
IN_REGION, OUT_REGION = "220122", "220182"
TOWNSHIP = IN_REGION + "101"
VILLAGE = TOWNSHIP + "201"
PUBLIC = {
    "/healthz",
    "/readyz",
    "/metrics",
    "/asyncapi.json",
    "/openapi.json",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
    # The operators' page and its assets: static, no data (the page calls the API with the operator's token).
    "/",
    "/operator.js",
    "/operator.css",
}
# Routes whose out-of-scope success is correct, and why.
OUT_OF_SCOPE_SUCCESS = {
    ("POST", "/v1/evaluations"): "a dry run of the caller's own data: nothing stored is read",
    ("GET", "/v1/standards"): "standards are published reference data, not personal data",
    ("POST", "/v1/imports"): "accepted as a job; each row is checked against the caller's scope (row errors)",
}


@dataclass
class Target:
    household_id: str
    member_id: str
    income_id: str
    decision_id: str
    job_id: str
    import_id: str
    account_id: str
    run_id: str
    payment_id: str
    application_id: str
    notification_id: str
    alert_id: str
    subscription_id: str
    delivery_id: str
    trace_id: str
    case_id: str
    objection_id: str
    relief_household_id: str
    relief_case_id: str
    relief_objection_id: str
    report_id: str


def sample(method: str, path: str, t: Target) -> tuple[str, dict]:
    """The request to send for a route: its path filled in with in-scope resources and a valid body."""
    filled = path
    if path.startswith("/v1/relief-cases"):  # a relief case and its objection, not the exit case's
        filled = path.replace("{case_id}", t.relief_case_id).replace("{objection_id}", t.relief_objection_id)
    county_level = path.startswith(("/v1/county-funds", "/v1/relief-funds"))
    filled = (
        filled.replace("{household_id}", t.household_id)
        .replace("{member_id}", t.member_id)
        .replace("{income_id}", t.income_id)
        .replace("{decision_id}", t.decision_id)
        .replace("{account_id}", t.account_id)
        .replace("{run_id}", t.run_id)
        .replace("{payment_id}", t.payment_id)
        .replace("{application_id}", t.application_id)
        .replace("{notification_id}", t.notification_id)
        .replace("{alert_id}", t.alert_id)
        .replace("{subscription_id}", t.subscription_id)
        .replace("{delivery_id}", t.delivery_id)
        .replace("{trace_id}", t.trace_id)
        .replace("{case_id}", t.case_id)
        .replace("{objection_id}", t.objection_id)
        .replace("{report_id}", t.report_id)
        .replace("{region_code}", IN_REGION if county_level else TOWNSHIP)
    )
    filled = filled.replace("{job_id}", t.import_id if path.startswith("/v1/imports") else t.job_id)
    income = {"type": "wages", "amount_fen": 1000, "period": "month", "effective_from": "2026-01-01"}
    bodies: dict[tuple[str, str], dict] = {
        ("POST", "/v1/households"): {"json": household(IN_REGION)},
        ("PATCH", "/v1/households/{household_id}"): {"json": {"address": "新地址"}},
        ("POST", "/v1/households/{household_id}/members"): {"json": member("child", id_number=id_number())},
        ("PATCH", "/v1/households/{household_id}/members/{member_id}"): {"json": {"phone": "13800000000"}},
        ("DELETE", "/v1/households/{household_id}/members/{member_id}"): {},
        ("POST", "/v1/households/{household_id}/incomes"): {"json": income},
        ("PATCH", "/v1/households/{household_id}/incomes/{income_id}"): {"json": {"amount_fen": 2000}},
        ("POST", "/v1/households/{household_id}/expenses"): {
            "json": {"type": "medical_self_paid", "amount_fen": 100, "period": "year", "effective_from": "2026-01-01"}
        },
        ("POST", "/v1/households/{household_id}/assets"): {"json": {"type": "house", "value_fen": 1}},
        ("PUT", "/v1/households/{household_id}/assignment"): {
            "json": {"cadre_id": "c1", "cadre_name": "王干部", "unit": "县民政局", "since": "2026-01-01"}
        },
        ("POST", "/v1/households/{household_id}/status"): {"json": {"poverty_status": "marginal"}},
        ("POST", "/v1/households/{household_id}/life-events"): {
            "json": {"type": "disaster", "occurred_on": "2026-03-01"}
        },
        ("POST", "/v1/regions"): {"json": {"code": IN_REGION + "777", "name": "测试镇", "level": "township"}},
        ("POST", "/v1/imports"): {
            "content": json.dumps(household(IN_REGION, external_ref="sweep")).encode(),
            "headers": {"content-type": "application/x-ndjson"},
        },
        ("POST", "/v1/standards"): {
            "json": {
                "region_code": IN_REGION,
                "category": "income_drop_ratio",
                "effective_from": "2026-01-01",
                "value": "0.3",
                "legal_ref": "sweep",
            }
        },
        ("POST", "/v1/evaluations"): {
            "json": {
                "as_of": "2026-07-01",
                "household": {
                    "region_code": IN_REGION,
                    "members": [{"id": "m", "birth_date": "1970-01-01", "labour_capacity": "full"}],
                },
            }
        },
        ("POST", "/v1/jobs"): {"json": {"region_prefix": IN_REGION, "reason": "sweep"}},
        ("POST", "/v1/reserve-funds/{region_code}/top-ups"): {"json": {"amount_fen": 100}},
        ("POST", "/v1/county-funds/{region_code}/top-ups"): {"json": {"amount_fen": 100}},
        ("POST", "/v1/relief-funds/{region_code}/top-ups"): {"json": {"amount_fen": 100}},
        ("POST", "/v1/relief-cases"): {"json": relief_case(t.relief_household_id)},
        ("POST", "/v1/relief-cases/{case_id}/review"): {"json": {"meeting_date": "2026-07-01", "record_ref": "sweep"}},
        ("POST", "/v1/relief-cases/{case_id}/notice"): {"json": {}},
        ("POST", "/v1/relief-cases/{case_id}/objections"): {"json": {"summary": "sweep"}},
        ("POST", "/v1/relief-cases/{case_id}/objections/{objection_id}/ruling"): {
            "json": {"ruling": "dismissed", "reason": "sweep"}
        },
        ("POST", "/v1/relief-cases/{case_id}/approve"): {"json": {}},
        ("POST", "/v1/relief-cases/{case_id}/withdraw"): {"json": {"reason": "sweep"}},
        ("POST", "/v1/reports"): {"json": {"kind": "quarterly", "period": "2026-Q2", "region_code": IN_REGION}},
        ("POST", "/v1/reports/{report_id}/submit"): {},
        ("POST", "/v1/payment-runs"): {"json": {"region_code": IN_REGION, "month": "2026-07"}},
        ("POST", "/v1/payment-runs/{run_id}/pause"): {"json": {"reason": "sweep"}},
        ("POST", "/v1/payment-runs/{run_id}/resume"): {},
        ("POST", "/v1/payments/{payment_id}/retry"): {"json": {"reason": "sweep"}},
        ("POST", "/v1/aid-applications"): {
            "json": {
                "household_id": t.household_id,
                "kind": "emergency",
                "cause": "illness",
                "requested_amount_fen": 100,
                "commitment": "承诺",
            }
        },
        ("POST", "/v1/aid-applications/{application_id}/review"): {"json": {"reason": "sweep"}},
        ("POST", "/v1/aid-applications/{application_id}/approve"): {"json": {"reason": "sweep"}},
        ("POST", "/v1/aid-applications/{application_id}/reject"): {"json": {"reason": "sweep"}},
        ("POST", "/v1/aid-applications/{application_id}/file"): {"json": {"reason": "sweep"}},
        ("POST", "/v1/reconciliations"): {
            "content": b"reference_id,amount,status\n",
            "headers": {"content-type": "text/csv"},
            "params": {"region_code": IN_REGION, "month": "2026-07"},
        },
        ("POST", "/v1/provider/on-disburse"): {"json": {"header": {}, "message": {"disbursements_status": []}}},
        ("POST", "/v1/inbox/{notification_id}/read"): {},
        ("POST", "/v1/inbox/{notification_id}/unread"): {},
        ("POST", "/v1/inbox/{notification_id}/archive"): {},
        ("POST", "/v1/alerts/{alert_id}/acknowledge"): {},
        ("POST", "/v1/alerts/{alert_id}/resolve"): {},
        ("POST", "/v1/subscriptions"): {
            "json": {"url": "http://127.0.0.1:9/sweep", "event_types": ["*"], "region_code": IN_REGION}
        },
        ("POST", "/v1/subscriptions/{subscription_id}/rotate-secret"): {},
        ("POST", "/v1/subscriptions/{subscription_id}/enable"): {},
        ("POST", "/v1/deliveries/{delivery_id}/replay"): {},
        ("POST", "/v1/exit-cases"): {"json": {"household_id": t.household_id}},
        ("POST", "/v1/exit-cases/{case_id}/appraisal"): {
            "json": {"meeting_date": registry_today(), "record_ref": "sweep", "household_consents": True}
        },
        ("POST", "/v1/exit-cases/{case_id}/notice"): {"json": {}},
        ("POST", "/v1/exit-cases/{case_id}/objections"): {"json": {"summary": "sweep"}},
        ("POST", "/v1/exit-cases/{case_id}/objections/{objection_id}/ruling"): {
            "json": {"ruling": "dismissed", "reason": "sweep"}
        },
        ("POST", "/v1/exit-cases/{case_id}/approve"): {"json": {}},
        ("POST", "/v1/exit-cases/{case_id}/announce"): {"json": {}},
        ("POST", "/v1/exit-cases/{case_id}/withdraw"): {"json": {"reason": "sweep"}},
    }
    if method == "GET":
        return filled, {}
    if (method, path) not in bodies:
        raise LookupError(f"no sample request for {method} {path}: add one to the sweep")
    return filled, bodies[(method, path)]


def relief_case(household_id: str) -> dict:
    return {
        "region_code": VILLAGE,
        "disaster": {"kind": "flood", "occurred_on": "2026-06-30", "summary": "sweep"},
        "lines": [{"household_id": household_id, "amount_fen": 100, "needs": ["food"]}],
    }


def registry_today() -> str:
    """The registry keeps the real clock here (it stamps changes as they happen): its business day."""
    return datetime.now(BUSINESS_TZ).date().isoformat()


SIGNED: frozenset[Role] = frozenset()  # admits no role: only a valid message signature


def routes(app) -> list[tuple[str, str, frozenset[Role]]]:
    found = []
    for route in app.routes:
        if not isinstance(route, APIRoute) or route.path in PUBLIC:
            continue
        allowed = next(
            (d.call.allowed_roles for d in route.dependant.dependencies if hasattr(d.call, "allowed_roles")), None
        )
        if any(hasattr(d.call, "authenticates_by") for d in route.dependant.dependencies):
            allowed = SIGNED
        assert allowed is not None, f"{route.path} has no authorization dependency"
        found += [(method, route.path, allowed) for method in sorted(route.methods)]
    return found


@pytest.fixture(scope="module")
async def system(databases):
    async with whole_system(databases, NOW) as (services, bus):
        yield services, bus


async def _settle(services, bus) -> None:
    for _ in range(3):
        for service in services.values():
            await service.runtime.relay.publish_pending()
        await bus.drain()


@pytest.fixture(scope="module")
async def target(system) -> Target:
    services, bus = system
    county = auth("county_operator", IN_REGION)
    # A provincial system's subscription first, so the household's events queue deliveries for it (the
    # endpoint is never called: the notifications' background loop is off here).
    subscribed = await services["notifications"].http.post(
        "/v1/subscriptions",
        headers=_token(Role.PROVINCIAL_SYSTEM, IN_REGION),
        json={"url": "http://127.0.0.1:9/target", "event_types": ["*"], "region_code": IN_REGION},
    )
    assert subscribed.status_code == 201, subscribed.text
    registered = await services["registry"].http.post(
        "/v1/households",
        headers=county,
        json=household(
            IN_REGION,
            members=[member(), member("spouse", id_number=id_number(sex="female"))],
            incomes=[{"type": "wages", "amount_fen": 10_000, "period": "month", "effective_from": "2026-01-01"}],
            assignment={
                "cadre_id": "sweep-village_cadre",
                "cadre_name": "王干部",
                "unit": "县民政局",
                "since": "2026-01-01",
            },
        ),
    )
    created = registered.json()
    await _settle(services, bus)
    reported = await services["registry"].http.post(
        f"/v1/households/{created['id']}/life-events",
        headers=county,
        json={"type": "hospitalisation", "occurred_on": "2026-06-30"},
    )
    assert reported.status_code == 201, reported.text
    await _settle(services, bus)
    notices = await services["notifications"].http.get(
        "/v1/inbox", headers=_token(Role.HOUSEHOLD, IN_REGION, created["id"])
    )
    alerts = await services["notifications"].http.get("/v1/alerts", headers=county)
    deliveries = await services["notifications"].http.get(
        f"/v1/subscriptions/{subscribed.json()['id']}/deliveries", headers=_token(Role.PROVINCIAL_SYSTEM, IN_REGION)
    )
    assert notices.json()["items"] and alerts.json()["items"] and deliveries.json()["items"], (notices, alerts)
    decisions = (
        await services["eligibility"].http.get(f"/v1/households/{created['id']}/decisions", headers=county)
    ).json()["items"]
    job = (
        await services["eligibility"].http.post(
            "/v1/jobs", headers=county, json={"region_prefix": IN_REGION, "reason": "sweep target"}
        )
    ).json()
    upload = (
        await services["registry"].http.post(
            "/v1/imports",
            content=json.dumps(household(IN_REGION, external_ref="sweep-target")).encode(),
            headers=_token(Role.PROVINCIAL_SYSTEM, IN_REGION) | {"content-type": "application/x-ndjson"},
        )
    ).json()
    topped_up = await services["disbursement"].http.post(
        f"/v1/reserve-funds/{TOWNSHIP}/top-ups", headers=county, json={"amount_fen": 10_000}
    )
    assert topped_up.status_code == 201, topped_up.text
    entitled = await services["disbursement"].http.get(f"/v1/households/{created['id']}/entitlements", headers=county)
    assert entitled.status_code == 200, entitled.text  # in-scope reads are swept against real data
    # A payment run whose payment cannot reach a provider (none listens here): its outcome is unknown.
    funded = await services["disbursement"].http.post(
        f"/v1/county-funds/{IN_REGION}/top-ups", headers=county, json={"amount_fen": 10_000_000}
    )
    assert funded.status_code == 201, funded.text
    run = (
        await services["disbursement"].http.post(
            "/v1/payment-runs", headers=county, json={"region_code": IN_REGION, "month": "2026-07"}
        )
    ).json()
    for _ in range(100):
        paid = await services["disbursement"].http.get(f"/v1/households/{created['id']}/payments", headers=county)
        if paid.status_code == 200 and paid.json()["items"][0]["status"] == "unknown":
            break
        await asyncio.sleep(0.05)
    assert paid.status_code == 200, paid.text
    applied = await services["disbursement"].http.post(
        "/v1/aid-applications",
        headers=county,
        json={
            "household_id": created["id"],
            "kind": "expense",
            "cause": "illness",
            "requested_amount_fen": 100,
            "commitment": "承诺",
        },
    )
    assert applied.status_code == 201, applied.text
    exit_case = (
        await services["registry"].http.post("/v1/exit-cases", headers=county, json={"household_id": created["id"]})
    ).json()
    for step, body in (
        ("appraisal", {"meeting_date": registry_today(), "record_ref": "sweep", "household_consents": True}),
        ("notice", {}),
        ("objections", {"summary": "sweep target"}),
    ):
        stepped = await services["registry"].http.post(
            f"/v1/exit-cases/{exit_case['id']}/{step}", headers=county, json=body
        )
        assert stepped.status_code in (200, 201), stepped.text
    relief_household = await announce_household(services["disbursement"].runtime, VILLAGE, occurred_at=NOW)
    village = auth("village_cadre", IN_REGION)
    relief = (
        await services["disbursement"].http.post(
            "/v1/relief-cases", headers=village, json=relief_case(relief_household)
        )
    ).json()
    for step, body, headers in (
        ("review", {"meeting_date": "2026-07-01", "record_ref": "sweep"}, village),
        ("notice", {}, village),
        ("objections", {"summary": "sweep target"}, county),
    ):
        relief_step = await services["disbursement"].http.post(
            f"/v1/relief-cases/{relief['id']}/{step}", headers=headers, json=body
        )
        assert relief_step.status_code in (200, 201), relief_step.text
    report = await services["notifications"].http.post(
        "/v1/reports", headers=county, json={"kind": "quarterly", "period": "2026-Q2", "region_code": IN_REGION}
    )
    assert report.status_code == 201, report.text
    return Target(
        created["id"],
        created["members"][1]["id"],
        created["incomes"][0]["id"],
        decisions[0]["id"],
        job["id"],
        upload["id"],
        topped_up.json()["account_id"],
        run["id"],
        paid.json()["items"][0]["id"],
        applied.json()["id"],
        notices.json()["items"][0]["id"],
        alerts.json()["items"][0]["id"],
        subscribed.json()["id"],
        deliveries.json()["items"][0]["id"],
        registered.headers["traceparent"].split("-")[1],
        exit_case["id"],
        stepped.json()["notice"]["objections"][0]["id"],
        relief_household,
        relief["id"],
        relief_step.json()["notice"]["objections"][0]["id"],
        report.json()["id"],
    )


def _token(role: Role, region: str, household_id: str | None = None) -> dict[str, str]:
    claims = {"household_id": household_id} if role == Role.HOUSEHOLD else {}
    return auth(role.value, region, subject=f"sweep-{role.value}", **claims)


@pytest.mark.parametrize("service", ["registry", "eligibility", "disbursement", "notifications"])
async def test_every_route_every_role_in_and_out_of_scope(system, target, service):
    services, bus = system
    http = services[service].http
    failures = []
    swept = routes(services[service].app)
    assert len(swept) >= {"registry": 15, "eligibility": 9, "disbursement": 5, "notifications": 20}[service]
    for method, path, allowed in swept:
        url, request = sample(method, path, target)
        headers = dict(request.pop("headers", {})) | {"If-Match": "*"}

        async def send(extra: dict[str, str], url=url, method=method, request=request, headers=headers):
            return await http.request(method, url, headers=headers | extra, **request)

        anonymous = await send({})
        if anonymous.status_code != 401:
            failures.append(f"{method} {path} without a token: {anonymous.status_code}")
        for role in Role:
            own = target.household_id
            for scope, token in (
                ("in", _token(role, IN_REGION, own)),
                ("out", _token(role, OUT_REGION if role != Role.HOUSEHOLD else IN_REGION, "another-household")),
            ):
                response = await send(token)
                status, where = response.status_code, f"{method} {path} as {role.value} {scope} of scope"
                if status >= 500:
                    failures.append(f"{where}: {status} {response.text[:200]}")
                elif allowed is SIGNED:
                    if status != 401:
                        failures.append(f"{where}: {status}, expected 401 (a token is no signature)")
                elif role not in allowed:
                    if status != 403:
                        failures.append(f"{where}: {status}, expected 403 (role not admitted)")
                elif scope == "in":
                    if status in (401, 403):
                        failures.append(f"{where}: {status} {response.text[:200]}")
                elif status < 300 and (method, path) not in OUT_OF_SCOPE_SUCCESS:
                    leaked = [v for v in vars(target).values() if v in response.text]
                    if method != "GET" or "{" in path or leaked:
                        failures.append(f"{where}: {status}, leaked {leaked} {response.text[:200]}")
                elif status >= 300 and status not in (403, 404):
                    failures.append(f"{where}: {status}, expected 403 or 404 {response.text[:200]}")
            await _settle(services, bus)
    assert not failures, "\n".join(failures)


def test_every_write_route_has_a_sample_request():
    """A route added without a sample here fails at once (the sweep above would fail on it too)."""
    from services.disbursement.app import create_app as disbursement_app
    from services.eligibility.app import create_app as eligibility_app
    from services.notifications.app import create_app as notifications_app
    from services.registry.app import create_app as registry_app

    dummy = Target(*(["x"] * len(Target.__dataclass_fields__)))
    for app in (registry_app(), eligibility_app(), disbursement_app(), notifications_app()):
        for method, path, _ in routes(app):
            sample(method, path, dummy)
