"""Webhooks to a real HTTP receiver, judged by the Standard Webhooks reference library (`standardwebhooks`):
signatures, the {type, timestamp, data} body, retries on the schedule with a controllable clock,
Retry-After, per-household order, 410 disabling the endpoint, failed deliveries listed and replayed, and
secret rotation with two valid secrets."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
import uvicorn
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.notifications.adapters.webhook_sender import WebhookSender
from services.notifications.config import NotificationSettings
from services.notifications.service_layer.handlers import events_consumer, watch_once
from shared.contracts.disbursement import PaymentPaid
from shared.contracts.eligibility import SignalRaised
from shared.events import Envelope
from shared.ids import new_record_id
from tests.conftest import ServiceClient, auth, free_port

START = datetime.now(UTC).replace(microsecond=0)
COUNTY = "220122"


class Receiver:
    """A provincial system's endpoint: answers from a script (status, headers), then 204; keeps what came."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hooks"
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.script: list[tuple[int, dict[str, str]]] = []

        async def hook(request: Request) -> Response:
            self.received.append((dict(request.headers), await request.body()))
            status, headers = self.script.pop(0) if self.script else (204, {})
            return Response(status_code=status, headers=headers)

        self.server = uvicorn.Server(
            uvicorn.Config(
                Starlette(routes=[Route("/hooks", hook, methods=["POST"])]), port=self.port, log_config=None, ws="none"
            )
        )

    async def __aenter__(self) -> Receiver:
        self.task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            if self.task.done():
                await self.task
            await asyncio.sleep(0.01)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.should_exit = True
        await self.task


@pytest.fixture(scope="module", autouse=True)
def default_timings(notifications):
    notifications.runtime.caches["notification_settings"] = NotificationSettings()


@pytest.fixture(scope="module")
async def receiver():
    async with Receiver() as running:
        yield running


@pytest.fixture
def clock(notifications):
    now = {"at": START}
    notifications.runtime.clock = lambda: now["at"]
    return now


async def deliver(service: ServiceClient, when: datetime) -> int:
    sender = service.runtime.caches.setdefault("webhook_sender", WebhookSender(timeout_seconds=5))
    return await watch_once(service.runtime, sender, service.runtime.caches["notification_settings"])


def paid(household_id: str, township: str, amount_fen: int = 30_000) -> Envelope:
    payload = PaymentPaid(
        payment_id=new_record_id(),
        household_id=household_id,
        region_code=f"{township}201",
        programme="dibao",
        month="2026-07",
        kind="regular",
        amount_fen=amount_fen,
        status="paid",
        attempt=1,
        reference_id=new_record_id(),
        run_id=None,
    )
    return Envelope.wrap(payload, source="/disbursement", subject=household_id)


async def subscribe(
    service: ServiceClient, url: str, township: str, event_types=("disbursement.payment.paid",)
) -> dict:
    """Each test subscribes for a township of its own, so its events reach only its subscription."""
    response = await service.http.post(
        "/v1/subscriptions",
        headers=auth("provincial_system", COUNTY),
        json={"url": url, "event_types": list(event_types), "region_code": township},
    )
    assert response.status_code == 201, response.text
    assert response.json()["secret"].startswith("whsec_")
    return response.json()


async def deliveries(service: ServiceClient, subscription_id: str, status: str | None = None) -> list[dict]:
    params = {"status": status} if status else {}
    response = await service.http.get(
        f"/v1/subscriptions/{subscription_id}/deliveries", params=params, headers=auth("provincial_system", COUNTY)
    )
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def test_a_delivery_verifies_with_the_reference_library_and_carries_no_sealed_data(
    notifications, receiver, clock
):
    township = f"{COUNTY}301"
    subscription = await subscribe(
        notifications, receiver.url, township, ["disbursement.payment.paid", "eligibility.signal.raised"]
    )
    consume = events_consumer(notifications.runtime)
    household_id = new_record_id()
    signal = SignalRaised(
        signal_id=new_record_id(),
        household_id=household_id,
        region_code=f"{township}201",
        cadre_id=None,
        kind="special_hardship_watch",
        category="marginal",
        evidence={"members": 1},
        sealed_evidence="gAAAA-sealed",
    )
    event = paid(household_id, township)
    await consume([event, Envelope.wrap(signal, source="/eligibility", subject=household_id)])
    receiver.received.clear()
    await deliver(notifications, clock["at"])
    assert len(receiver.received) == 1  # one at a time per household: the signal waits for the payment
    await deliver(notifications, clock["at"])
    assert len(receiver.received) == 2
    for headers, body in receiver.received:
        verified = Webhook(subscription["secret"]).verify(body, headers)
        assert set(verified) == {"type", "timestamp", "data"}
        assert headers["webhook-id"].startswith("msg_")
    first = json.loads(receiver.received[0][1])
    assert first["type"] == "disbursement.payment.paid" and first["data"]["event_id"] == event.id
    assert first["data"]["amount_fen"] == 30_000
    second = json.loads(receiver.received[1][1])
    assert second["type"] == "eligibility.signal.raised" and "sealed_evidence" not in second["data"]
    # A tampered body or another secret does not verify.
    headers, body = receiver.received[0]
    with pytest.raises(WebhookVerificationError):
        Webhook(subscription["secret"]).verify(body.replace(b"30000", b"99999"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 32).verify(body, headers)
    assert [d["status"] for d in await deliveries(notifications, subscription["id"])] == ["succeeded", "succeeded"]


async def test_failures_retry_on_the_schedule_honour_retry_after_and_keep_household_order(
    notifications, receiver, clock
):
    township = f"{COUNTY}302"
    subscription = await subscribe(notifications, receiver.url, township)
    consume = events_consumer(notifications.runtime)
    household_id = new_record_id()
    first, second = paid(household_id, township, 100), paid(household_id, township, 200)
    await consume([first, second])
    receiver.received.clear()
    receiver.script = [(500, {}), (503, {"Retry-After": "120"}), (200, {}), (200, {})]
    await deliver(notifications, clock["at"])  # attempt 1: 500 → again in 5 s
    (d1, d2) = await deliveries(notifications, subscription["id"])
    assert (d1["status"], d1["attempts"], d1["last_status_code"]) == ("pending", 1, 500)
    assert d1["next_attempt_at"].startswith((START + timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%S"))
    assert d2["attempts"] == 0  # the second waits behind the first

    clock["at"] = START + timedelta(seconds=4)
    await deliver(notifications, clock["at"])
    assert len(receiver.received) == 1  # not yet due
    clock["at"] = START + timedelta(seconds=5)
    await deliver(notifications, clock["at"])  # attempt 2: 503 asking for 120 s; the schedule's 5 min is longer
    d1 = (await deliveries(notifications, subscription["id"]))[0]
    assert d1["attempts"] == 2 and d1["next_attempt_at"].startswith(
        (START + timedelta(seconds=5, minutes=5)).strftime("%Y-%m-%dT%H:%M:%S")
    )
    clock["at"] = START + timedelta(seconds=5, minutes=5)
    await deliver(notifications, clock["at"])  # attempt 3 succeeds; the second goes next
    await deliver(notifications, clock["at"])
    bodies = [json.loads(body)["data"]["amount_fen"] for _, body in receiver.received]
    assert bodies == [100, 100, 100, 200]  # in order, the second only after the first
    ids = [headers["webhook-id"] for headers, _ in receiver.received]
    assert ids[0] == ids[1] == ids[2] != ids[3]  # a retry keeps its webhook-id
    detail = await notifications.http.get(f"/v1/deliveries/{d1['id']}", headers=auth("provincial_system", COUNTY))
    assert [a["status_code"] for a in detail.json()["attempt_log"]] == [500, 503, 200]

    # Retry-After longer than the schedule's next step wins.
    receiver.script = [(429, {"Retry-After": "3600"})]
    await consume([paid(new_record_id(), township)])
    await deliver(notifications, clock["at"])
    pending = [d for d in await deliveries(notifications, subscription["id"]) if d["status"] == "pending"]
    assert pending[0]["next_attempt_at"].startswith((clock["at"] + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))


async def test_gone_disables_the_endpoint_failed_deliveries_are_listed_and_replayed(notifications, receiver, clock):
    township = f"{COUNTY}303"
    subscription = await subscribe(notifications, receiver.url, township)
    consume = events_consumer(notifications.runtime)
    await consume([paid(new_record_id(), township), paid(new_record_id(), township)])
    receiver.received.clear()
    receiver.script = [(410, {}), (410, {})]
    await deliver(notifications, clock["at"])
    system = auth("provincial_system", COUNTY)
    shown = (await notifications.http.get(f"/v1/subscriptions/{subscription['id']}", headers=system)).json()
    assert shown["status"] == "disabled" and "410" in shown["disabled_reason"]
    failed = await deliveries(notifications, subscription["id"], "failed")
    assert len(failed) == 2 and len(receiver.received) <= 2
    # Nothing more goes to a disabled endpoint; new events are not queued for it.
    await consume([paid(new_record_id(), township)])
    assert len(await deliveries(notifications, subscription["id"])) == 2

    refused = await notifications.http.post(f"/v1/deliveries/{failed[0]['id']}/replay", headers=system)
    assert refused.status_code == 409 and refused.json()["errors"][0]["rule"] == "subscription_disabled"
    assert (
        await notifications.http.post(f"/v1/subscriptions/{subscription['id']}/enable", headers=system)
    ).status_code == 200
    receiver.received.clear()
    replayed = await notifications.http.post(f"/v1/deliveries/{failed[0]['id']}/replay", headers=system)
    assert replayed.status_code == 200 and replayed.json()["status"] == "pending"
    clock["at"] = clock["at"] + timedelta(seconds=1)
    await deliver(notifications, clock["at"])
    (headers, body) = receiver.received[-1]
    assert headers["webhook-id"] == failed[0]["id"]
    Webhook(subscription["secret"]).verify(body, headers)  # signed afresh: the timestamp is current
    assert [d["status"] for d in await deliveries(notifications, subscription["id"])].count("succeeded") == 1
    # Another provincial system sees neither the subscription nor its deliveries.
    other = auth("provincial_system", COUNTY, subject="another-system")
    assert (await notifications.http.get(f"/v1/deliveries/{failed[0]['id']}", headers=other)).status_code == 404


async def test_rotation_signs_with_both_secrets_for_a_while(notifications, receiver, clock):
    township = f"{COUNTY}304"
    subscription = await subscribe(notifications, receiver.url, township)
    system = auth("provincial_system", COUNTY)
    rotated = await notifications.http.post(f"/v1/subscriptions/{subscription['id']}/rotate-secret", headers=system)
    assert rotated.status_code == 200
    new_secret = rotated.json()["secret"]
    assert new_secret != subscription["secret"]
    consume = events_consumer(notifications.runtime)
    await consume([paid(new_record_id(), township)])
    receiver.received.clear()
    await deliver(notifications, clock["at"])
    headers, body = receiver.received[-1]
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(subscription["secret"]).verify(body, headers)
    Webhook(new_secret).verify(body, headers)
    # A day later the old secret no longer signs.
    clock["at"] = clock["at"] + timedelta(hours=25)
    await consume([paid(new_record_id(), township)])
    await deliver(notifications, clock["at"])
    headers, body = receiver.received[-1]
    assert len(headers["webhook-signature"].split(" ")) == 1
    Webhook(new_secret).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(subscription["secret"]).verify(body, headers)


async def test_an_unreachable_endpoint_counts_as_a_failure(notifications, clock):
    township = f"{COUNTY}305"
    subscription = await subscribe(notifications, f"http://127.0.0.1:{free_port()}/nobody", township)
    await events_consumer(notifications.runtime)([paid(new_record_id(), township)])
    await deliver(notifications, clock["at"])
    (delivery,) = await deliveries(notifications, subscription["id"])
    assert delivery["status"] == "pending" and delivery["last_status_code"] is None
    assert delivery["last_error"] == "ConnectError"
