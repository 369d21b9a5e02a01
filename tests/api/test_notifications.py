"""Notifications on PostgreSQL with the other three services on one in-process bus: the household's inbox and
its scope, the cadre's alerts and their escalation by a controllable clock, dedupe under concurrent
identical events, operator digests, the event trace across services, and bad input."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from services.notifications.adapters import orm
from services.notifications.config import NotificationSettings
from services.notifications.service_layer.handlers import events_consumer, watch_once
from shared.contracts.disbursement import AidDeadlineAtRisk, PaymentPaid
from shared.contracts.eligibility import DecisionChanged
from shared.events import Envelope
from shared.ids import new_record_id
from shared.tracing import new_trace, use_trace
from tests.conftest import auth, whole_system
from tests.factories import household, id_number, member

NOW = datetime(2026, 7, 1, 1, 0, tzinfo=UTC)
COUNTY = "220122"


@pytest.fixture(scope="module")
async def system(databases):
    async with whole_system(databases, NOW) as (services, bus):
        services["notifications"].runtime.caches["notification_settings"] = NotificationSettings(
            group_wait_seconds=30, group_interval_seconds=300
        )
        yield services, bus


async def settle(services, bus) -> None:
    for _ in range(4):
        for service in services.values():
            while await service.runtime.relay.publish_pending():
                pass
        await bus.drain()


def at(services, when: datetime) -> None:
    services["notifications"].runtime.clock = lambda: when


async def register(services, bus, *, cadre: str | None = "cadre-A", monthly_wages_fen: int = 10_000):
    body = household(
        COUNTY,
        members=[member(), member("spouse", id_number=id_number(sex="female"))],
        incomes=[{"type": "wages", "amount_fen": monthly_wages_fen, "period": "month", "effective_from": "2026-01-01"}],
    )
    if cadre:
        body["assignment"] = {"cadre_id": cadre, "cadre_name": "王干部", "unit": "县民政局", "since": "2026-01-01"}
    response = await services["registry"].http.post(
        "/v1/households", headers=auth("county_operator", COUNTY), json=body
    )
    assert response.status_code == 201, response.text
    await settle(services, bus)
    return response


async def test_a_household_hears_of_its_decision_and_an_operator_follows_the_trace(system):
    services, bus = system
    at(services, NOW)
    created = await register(services, bus)
    household_id = created.json()["id"]
    trace_id = created.headers["traceparent"].split("-")[1]
    http = services["notifications"].http
    own = auth("household", COUNTY, household_id=household_id)

    inbox = (await http.get("/v1/inbox", headers=own)).json()["items"]
    granted = [n for n in inbox if n["category"] == "decision.granted"]
    assert len(granted) == 1, inbox
    assert granted[0]["title"] == "救助申请已批准" and "元" in granted[0]["body"]
    assert granted[0]["trace_id"] == trace_id
    assert (await http.get("/v1/inbox/count", headers=own)).json()["unread"] == len(inbox)

    # Read, unread, archive: the count follows exactly.
    first = granted[0]["id"]
    assert (await http.post(f"/v1/inbox/{first}/read", headers=own)).json()["status"] == "read"
    assert (await http.get("/v1/inbox/count", headers=own)).json() == {
        "unread": len(inbox) - 1,
        "read": 1,
        "archived": 0,
    }
    assert (await http.post(f"/v1/inbox/{first}/unread", headers=own)).json()["read_at"] is None
    await http.post(f"/v1/inbox/{first}/archive", headers=own)
    assert first not in [n["id"] for n in (await http.get("/v1/inbox", headers=own)).json()["items"]]
    archived = (await http.get("/v1/inbox?status=archived", headers=own)).json()["items"]
    assert [n["id"] for n in archived] == [first]

    # Another household sees none of it, and cannot touch it.
    other = auth("household", COUNTY, household_id="another-household")
    assert (await http.get("/v1/inbox", headers=other)).json()["items"] == []
    refused = await http.post(f"/v1/inbox/{first}/read", headers=other)
    assert refused.status_code == 404 and refused.headers["content-type"] == "application/problem+json"

    # The operator's trace: registry → eligibility → notifications, each hop caused by the one before.
    operator = auth("county_operator", COUNTY)
    trace = (await http.get(f"/v1/traces/{trace_id}", headers=operator)).json()
    assert {"registry", "eligibility", "notifications"} <= set(trace["services"])
    events = {e["id"]: e for e in trace["events"]}
    notice = next(e for e in trace["events"] if e["type"] == "notifications.notice.created" and e["household_id"])
    decision = events[notice["causation_id"]]
    assert decision["type"] == "eligibility.decision.changed"
    registered = events[decision["causation_id"]]
    assert registered["type"] == "registry.household.registered" and registered["causation_id"] is None
    assert decision["latency_ms"] is not None and decision["latency_ms"] >= 0
    assert trace["critical_path"][0] == registered["id"]
    assert [root["id"] for root in trace["tree"]] == [registered["id"]]
    # Out of scope: the trace is "not found".
    assert (await http.get(f"/v1/traces/{trace_id}", headers=auth("county_operator", "220182"))).status_code == 404

    timeline = (await http.get(f"/v1/households/{household_id}/timeline", headers=operator)).json()["items"]
    assert {e["service"] for e in timeline} >= {"registry", "eligibility", "notifications"}
    assert [e["time"] for e in timeline] == sorted(e["time"] for e in timeline)
    found = (
        await http.get(
            "/v1/traces",
            params={"household_id": household_id, "type": "registry.household.registered"},
            headers=operator,
        )
    ).json()
    assert [e["id"] for e in found["items"]] == [registered["id"]]


async def test_a_contact_alerts_the_cadre_escalates_unacknowledged_and_stops_when_acknowledged(system):
    services, bus = system
    at(services, NOW)
    household_id = (await register(services, bus, cadre="cadre-B")).json()["id"]
    reported = await services["registry"].http.post(
        f"/v1/households/{household_id}/life-events",
        headers=auth("county_operator", COUNTY),
        json={"type": "hospitalisation", "occurred_on": "2026-06-30"},
    )
    assert reported.status_code == 201, reported.text
    await settle(services, bus)
    http = services["notifications"].http
    cadre = auth("village_cadre", COUNTY, subject="cadre-B")
    alerts = (await http.get("/v1/alerts", params={"household_id": household_id}, headers=cadre)).json()["items"]
    (alert,) = [a for a in alerts if a["category"] == "contact.hospitalisation"]
    assert alert["level"] == "cadre" and alert["status"] == "open"
    assert alert["escalates_at"].startswith("2026-07-02T01:00")
    # Another cadre does not see it, nor can acknowledge it.
    stranger = auth("village_cadre", COUNTY, subject="cadre-Z")
    assert (await http.get("/v1/alerts", params={"household_id": household_id}, headers=stranger)).json()["items"] == []
    assert (await http.post(f"/v1/alerts/{alert['id']}/acknowledge", headers=stranger)).status_code == 404
    cadre_inbox = (await http.get("/v1/inbox", headers=cadre)).json()["items"]
    assert any(n["alert_id"] == alert["id"] and n["title"] == "四个联系：住院" for n in cadre_inbox)

    settings = services["notifications"].runtime.caches["notification_settings"]
    runtime = services["notifications"].runtime
    sender = runtime.caches.setdefault("webhook_sender", _no_sender())
    at(services, NOW + timedelta(hours=23))
    await watch_once(runtime, sender, settings)
    assert (await http.get(f"/v1/alerts/{alert['id']}", headers=cadre)).json()["level"] == "cadre"
    at(services, NOW + timedelta(hours=24, seconds=1))
    await watch_once(runtime, sender, settings)
    escalated = (await http.get(f"/v1/alerts/{alert['id']}", headers=cadre)).json()
    assert escalated["level"] == "township"
    assert [s["step"] for s in escalated["steps"]] == ["raised", "escalated"]
    township = auth("township_officer", COUNTY)
    township_inbox = (await http.get("/v1/inbox", params={"severity": "critical"}, headers=township)).json()["items"]
    assert any(n["alert_id"] == alert["id"] and n["title"].startswith("预警升级") for n in township_inbox)
    # Running the watch again at the same moment changes nothing (no second escalation notice).
    await watch_once(runtime, sender, settings)
    again = (await http.get("/v1/inbox", params={"severity": "critical"}, headers=township)).json()["items"]
    assert len([n for n in again if n["alert_id"] == alert["id"]]) == 1

    acknowledged = await http.post(f"/v1/alerts/{alert['id']}/acknowledge", headers=cadre)
    assert acknowledged.status_code == 200 and acknowledged.json()["status"] == "acknowledged"
    at(services, NOW + timedelta(days=10))
    await watch_once(runtime, sender, settings)
    final = (await http.get(f"/v1/alerts/{alert['id']}", headers=cadre)).json()
    assert final["level"] == "township" and [s["step"] for s in final["steps"]][-1] == "acknowledged"
    resolved = await http.post(f"/v1/alerts/{alert['id']}/resolve", headers=township)
    assert resolved.json()["status"] == "resolved"
    refused = await http.post(f"/v1/alerts/{alert['id']}/acknowledge", headers=cadre)
    assert refused.status_code == 409 and refused.json()["errors"][0]["rule"] == "alert_resolved"


def _no_sender():
    from services.notifications.adapters.webhook_sender import WebhookSender

    return WebhookSender()


def _payment_paid(household_id: str, region: str = f"{COUNTY}101201") -> Envelope:
    payload = PaymentPaid(
        payment_id=new_record_id(),
        household_id=household_id,
        region_code=region,
        programme="dibao",
        month="2026-07",
        kind="regular",
        amount_fen=30_000,
        status="paid",
        attempt=1,
        reference_id="ref",
        run_id=None,
    )
    with use_trace(new_trace()):
        return Envelope.wrap(payload, source="/disbursement", subject=household_id)


async def test_identical_events_arriving_together_notify_once(system):
    services, _ = system
    runtime = services["notifications"].runtime
    consume = events_consumer(runtime)
    household_id = new_record_id()
    # Two events with the same content (distinct ids) in two transactions at once, twice over.
    envelopes = [_payment_paid(household_id) for _ in range(4)]
    await asyncio.gather(*(consume([e]) for e in envelopes))
    async with runtime.db.session() as session:
        n = orm.notifications.c
        count = await session.scalar(select(func.count()).where(n.household_id == household_id))
    assert count == 1
    inbox = (
        await services["notifications"].http.get(
            "/v1/inbox", headers=auth("household", COUNTY, household_id=household_id)
        )
    ).json()
    assert [i["title"] for i in inbox["items"]] == ["救助金已发放"]


async def test_operator_notices_are_grouped_into_one_digest_and_critical_ones_are_not(system):
    services, _ = system
    runtime = services["notifications"].runtime
    at(services, NOW)
    township = f"{COUNTY}777"
    consume = events_consumer(runtime)
    decisions = []
    for _ in range(40):
        household_id = new_record_id()
        payload = DecisionChanged(
            decision_id=new_record_id(),
            household_id=household_id,
            region_code=f"{township}201",
            cadre_id=None,
            programme="dibao",
            member_id=None,
            change="amount_changed",
            status="eligible",
            previous_status="eligible",
            monthly_amount_fen=20_000,
            previous_monthly_amount_fen=18_000,
            valid_from=None,
            valid_until=None,
            household_version=1,
            as_of=NOW.date(),
            decision_sequence=2,
        )
        decisions.append(Envelope.wrap(payload, source="/eligibility", subject=household_id))
    await consume(decisions)
    officer = auth("township_officer", township)
    http = services["notifications"].http
    assert (await http.get("/v1/inbox", headers=officer)).json()["items"] == []  # waiting to be grouped

    at_risk = AidDeadlineAtRisk(
        application_id=new_record_id(),
        household_id=new_record_id(),
        region_code=f"{township}201",
        kind="emergency",
        cause="epidemic",
        fast_track=False,
        status="approved",
        step="deadline_at_risk",
        actor="system",
        requested_amount_fen=50_000,
        approved_amount_fen=50_000,
    )
    await consume([Envelope.wrap(at_risk, source="/disbursement", subject=at_risk.household_id)])
    immediate = (await http.get("/v1/inbox", headers=officer)).json()["items"]
    assert [n["category"] for n in immediate] == ["aid.deadline_at_risk"] and immediate[0]["severity"] == "critical"

    settings = runtime.caches["notification_settings"]
    sender = runtime.caches.setdefault("webhook_sender", _no_sender())
    at(services, NOW + timedelta(seconds=29))
    await watch_once(runtime, sender, settings)
    assert len((await http.get("/v1/inbox", headers=officer)).json()["items"]) == 1
    at(services, NOW + timedelta(seconds=31))
    await watch_once(runtime, sender, settings)
    digests = [n for n in (await http.get("/v1/inbox", headers=officer)).json()["items"] if n["count"] > 1]
    assert len(digests) == 1 and digests[0]["count"] == 40
    assert digests[0]["title"] == "救助决定变更（40 条）"
    # Another change within the group interval waits for it (five minutes after the digest).
    await consume([decisions[0].__class__(**{**decisions[0].__dict__, "id": new_record_id()})])
    at(services, NOW + timedelta(seconds=90))
    await watch_once(runtime, sender, settings)
    assert (
        len(
            [
                n
                for n in (await http.get("/v1/inbox", headers=officer)).json()["items"]
                if n["category"] == "decision.changed"
            ]
        )
        == 1
    )
    at(services, NOW + timedelta(seconds=31 + 300))
    await watch_once(runtime, sender, settings)
    changed = [
        n for n in (await http.get("/v1/inbox", headers=officer)).json()["items"] if n["category"] == "decision.changed"
    ]
    assert [n["count"] for n in changed] == [1, 40]


async def test_bad_input_is_a_problem_naming_the_field(system):
    services, _ = system
    http = services["notifications"].http
    system_token = auth("provincial_system", COUNTY)
    unknown = await http.post(
        "/v1/subscriptions",
        headers=system_token,
        json={"url": "http://127.0.0.1:9/h", "event_types": ["registry.household.exploded"], "region_code": COUNTY},
    )
    assert unknown.status_code == 422 and unknown.headers["content-type"] == "application/problem+json"
    assert unknown.json()["errors"][0]["field"].startswith("event_types")
    bad_url = await http.post(
        "/v1/subscriptions", headers=system_token, json={"url": "ftp://x", "event_types": ["*"], "region_code": COUNTY}
    )
    assert bad_url.status_code == 422 and bad_url.json()["errors"][0]["field"] == "url"
    outside = await http.post(
        "/v1/subscriptions",
        headers=system_token,
        json={"url": "http://127.0.0.1:9/h", "event_types": ["*"], "region_code": "220182"},
    )
    assert outside.status_code == 403
    assert (
        await http.get("/v1/inbox?status=bogus", headers=auth("household", COUNTY, household_id="h"))
    ).status_code == 422
    assert (
        await http.get("/v1/inbox?cursor=garbage", headers=auth("household", COUNTY, household_id="h"))
    ).status_code == 422
    assert (await http.post("/v1/alerts/nope/acknowledge", headers=auth("township_officer", COUNTY))).status_code == 404
    async with services["notifications"].runtime.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(orm.subscriptions)) == 0


async def test_a_payment_continues_the_trace_of_the_decision_that_set_it(system):
    """One trace from the change to the money: the payment run is a county's batch, but each payment's
    events are caused by the decision event behind its entitlement."""
    services, bus = system
    at(services, NOW)
    created = await register(services, bus, cadre=None, monthly_wages_fen=0)
    household_id = created.json()["id"]
    trace_id = created.headers["traceparent"].split("-")[1]
    county = auth("county_operator", COUNTY)
    disbursement = services["disbursement"].http
    funded = await disbursement.post(f"/v1/county-funds/{COUNTY}/top-ups", headers=county, json={"amount_fen": 10**8})
    assert funded.status_code == 201, funded.text
    run = await disbursement.post("/v1/payment-runs", headers=county, json={"region_code": COUNTY, "month": "2026-07"})
    assert run.status_code == 202, run.text
    for _ in range(200):
        payments = (await disbursement.get(f"/v1/households/{household_id}/payments", headers=county)).json()
        if payments.get("items"):
            break
        await asyncio.sleep(0.05)
    assert payments["items"], payments
    await settle(services, bus)
    trace = (await services["notifications"].http.get(f"/v1/traces/{trace_id}", headers=county)).json()
    assert {"registry", "eligibility", "disbursement", "notifications"} <= set(trace["services"])
    events = {e["id"]: e for e in trace["events"]}
    scheduled = next(e for e in trace["events"] if e["type"] == "disbursement.payment.scheduled")
    assert events[scheduled["causation_id"]]["type"] == "eligibility.decision.changed"
    assert scheduled["household_id"] == household_id and scheduled["latency_ms"] >= 0


def launch_sms_sink(port: int, state: str):
    import subprocess
    import sys

    return subprocess.Popen(
        [sys.executable, "-m", "services.sms_sink", "--port", str(port), "--state", state],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.fixture(scope="module")
async def sms_sink(tmp_path_factory):
    """The SMS gateway stand-in as its own process (`python -m services.sms_sink`)."""
    import httpx

    from tests.conftest import free_port

    port = free_port()
    process = launch_sms_sink(port, str(tmp_path_factory.mktemp("sms") / "sms.db"))
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=url) as client:
        for _ in range(200):
            try:
                if (await client.get("/healthz")).status_code == 200:
                    break
            except httpx.HTTPError:
                await asyncio.sleep(0.05)
        yield url, client
    process.terminate()
    process.wait(10)


def _rejected(household_id: str, amount_fen: int) -> Envelope:
    from shared.contracts.disbursement import PaymentRejected

    payload = PaymentRejected(
        payment_id=new_record_id(),
        household_id=household_id,
        region_code=COUNTY,
        programme="dibao",
        month="2026-07",
        kind="regular",
        amount_fen=amount_fen,
        status="rejected",
        attempt=1,
        reference_id=new_record_id(),
        run_id=None,
        reason="rjct.account.closed",
    )
    return Envelope.wrap(payload, source="/disbursement", subject=household_id)


async def test_an_unread_warning_reaches_the_cadre_by_sms_and_a_read_one_does_not(system, sms_sink):
    from services.notifications.adapters.sms import SmsGateway
    from services.notifications.service_layer.handlers import sms_gateway

    url, sink = sms_sink
    services, bus = system
    runtime = services["notifications"].runtime
    at(services, NOW)
    settings = NotificationSettings(sms_gateway_url=url, sms_fallback_after_hours=4)
    runtime.caches["notification_settings"] = settings
    runtime.caches["sms_gateway"] = SmsGateway(url, settings.sms_api_key)
    assert sms_gateway(runtime, settings).url == url
    household_id = (await register(services, bus, cadre="cadre-S")).json()["id"]
    consume = events_consumer(runtime)
    await consume([_rejected(household_id, 30_000), _rejected(household_id, 40_000)])
    own = auth("household", COUNTY, household_id=household_id)
    http = services["notifications"].http
    notices = [
        n for n in (await http.get("/v1/inbox", headers=own)).json()["items"] if n["category"] == "payment.rejected"
    ]
    assert len(notices) == 2 and {n["severity"] for n in notices} == {"warning"}
    read, unread = sorted(notices, key=lambda n: n["body"])  # 300.00 before 400.00
    await http.post(f"/v1/inbox/{read['id']}/read", headers=own)

    await sink.post("/sink/config", json={"fail_with": 503})
    sender = runtime.caches.setdefault("webhook_sender", _no_sender())
    at(services, NOW + timedelta(hours=3, minutes=59))
    await watch_once(runtime, sender, settings)
    assert not [m for m in (await sink.get("/messages")).json()["items"] if m["recipient"] == "cadre-S"]
    at(services, NOW + timedelta(hours=4))
    await watch_once(runtime, sender, settings)  # queued; the gateway refuses: tried again in a minute
    channel = {n["id"]: n["channels"]["sms"] for n in (await http.get("/v1/inbox", headers=own)).json()["items"]}
    assert channel[unread["id"]] == "pending" and channel[read["id"]] is None
    await sink.post("/sink/config", json={"fail_with": None})
    at(services, NOW + timedelta(hours=4, minutes=1))
    await watch_once(runtime, sender, settings)
    at(services, NOW + timedelta(hours=5))
    await watch_once(runtime, sender, settings)  # nothing new: one SMS per notice
    messages = [m for m in (await sink.get("/messages")).json()["items"] if m["recipient"] == "cadre-S"]
    assert len(messages) == 1 and messages[0]["kind"] == "cadre"
    assert messages[0]["text"] == "【社会救助】您包保的一户家庭有未读提醒：救助金发放未成功。请及时联系该户。"
    channel = {n["id"]: n["channels"]["sms"] for n in (await http.get("/v1/inbox", headers=own)).json()["items"]}
    assert channel[unread["id"]] == "sent"


async def test_cadres_are_reminded_once_before_a_major_holiday(system):
    services, bus = system
    runtime = services["notifications"].runtime
    await register(services, bus, cadre="cadre-H")
    settings = NotificationSettings()
    runtime.caches["notification_settings"] = settings
    sender = runtime.caches.setdefault("webhook_sender", _no_sender())
    cadre = auth("village_cadre", COUNTY, subject="cadre-H")
    http = services["notifications"].http

    async def reminders() -> list[dict]:
        items = (await http.get("/v1/inbox", headers=cadre)).json()["items"]
        return [n for n in items if n["category"] == "contact.holiday"]

    at(services, datetime(2026, 9, 21, 2, 0, tzinfo=UTC))
    await watch_once(runtime, sender, settings)
    assert await reminders() == []
    at(services, datetime(2026, 9, 22, 2, 0, tzinfo=UTC))
    await watch_once(runtime, sender, settings)
    runtime.caches.pop("daily_done_on")  # as after a restart: the database still sends it once
    at(services, datetime(2026, 9, 23, 2, 0, tzinfo=UTC))
    await watch_once(runtime, sender, settings)
    (reminder,) = await reminders()
    assert reminder["body"] == "中秋节将至，请联系走访您包保的家庭。"
