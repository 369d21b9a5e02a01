"""Webhooks for provincial systems (Standard Webhooks): subscriptions, the fan-out of events into
deliveries (in the consuming transaction, so an event is never lost between the two), the delivery loop
with retries, replay and secret rotation."""

from __future__ import annotations

import asyncio
import base64
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from services.notifications.adapters.uow import NotificationsUnitOfWork
from services.notifications.adapters.webhook_sender import WebhookSender
from services.notifications.domain.webhooks import (
    DeliveryStatus,
    SubscriptionStatus,
    after_attempt,
    body,
)
from shared.errors import Conflict
from shared.events import Envelope
from shared.ids import new_record_id

# Both secrets sign during a rotation, for this long after it.
ROTATION_OVERLAP = timedelta(hours=24)
# Parts of a payload that are sealed personal data for our own services: never sent outside.
SEALED_KEYS = {"sealed", "sealed_evidence"}


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def outward(data: Any) -> Any:
    """The payload as a provincial system receives it: sealed parts removed."""
    if isinstance(data, dict):
        return {k: outward(v) for k, v in data.items() if k not in SEALED_KEYS}
    if isinstance(data, list):
        return [outward(v) for v in data]
    return data


def matches(subscription: dict[str, Any], event_type: str, region_code: str | None) -> bool:
    return (event_type in subscription["event_types"] or "*" in subscription["event_types"]) and (
        region_code is not None and region_code.startswith(subscription["region_code"])
    )


async def fan_out(uow: NotificationsUnitOfWork, events: Sequence[tuple[Envelope, str]], now: datetime) -> None:
    """A delivery per (matching active subscription, event); `events` are (envelope, short type)."""
    subscriptions = await uow.subscriptions.active()
    if not subscriptions:
        return
    rows = []
    for envelope, event_type in events:
        region = envelope.data.get("region_code")
        for subscription in subscriptions:
            if not matches(subscription, event_type, region if isinstance(region, str) else None):
                continue
            data = outward(envelope.data) | {"event_id": envelope.id}
            rows.append(
                {
                    "id": "msg_" + new_record_id().replace("-", ""),
                    "subscription_id": subscription["id"],
                    "event_id": envelope.id,
                    "event_type": event_type,
                    "ordering_key": str(envelope.data.get("household_id") or envelope.subject)[:64],
                    "payload": body(event_type, envelope.time, data),
                    "status": DeliveryStatus.PENDING.value,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
            )
    await uow.deliveries.add_many(rows)


def signing_secrets(subscription_secrets: list[dict[str, Any]], now: datetime) -> list[str]:
    """The secrets that sign now: the current one and, during a rotation, the previous one."""
    valid = []
    for entry in subscription_secrets:
        expires = entry.get("expires_at")
        if expires is None or datetime.fromisoformat(expires) > now:
            valid.append(entry["secret"])
    return valid


async def deliver_due(uow: NotificationsUnitOfWork, sender: WebhookSender, now: datetime, limit: int = 200) -> int:
    """One pass of the delivery loop: claims due deliveries (one per household and endpoint), sends them
    concurrently, records each outcome and the endpoint's health in the same transaction; the number sent."""
    due = await uow.deliveries.claim_due(now, limit)
    if not due:
        return 0
    results = await asyncio.gather(
        *(sender.send(d["url"], d["id"], now, d["payload"], signing_secrets(d["secrets"], now)) for d in due)
    )
    outcomes, attempts = [], []
    health: dict[str, dict[str, Any]] = {}
    for delivery, (outcome, duration_ms) in zip(due, results, strict=True):
        made = delivery["attempts"] + 1
        sub = health.setdefault(
            delivery["subscription_id"], {"failing_since": delivery["failing_since"], "disable": None}
        )
        step = after_attempt(made, outcome, now, sub["failing_since"])
        if outcome.succeeded:
            sub["failing_since"] = None
        elif sub["failing_since"] is None:
            sub["failing_since"] = now
        if step.disable_subscription:
            sub["disable"] = step.disable_subscription
        outcomes.append(
            {
                "id": delivery["id"],
                "status": step.status.value,
                "attempts": made,
                "next_attempt_at": step.next_attempt_at,
                "last_status_code": outcome.status_code,
                "last_error": outcome.error,
                "delivered_at": now if outcome.succeeded else None,
            }
        )
        attempts.append(
            {
                "delivery_id": delivery["id"],
                "attempt": made,
                "at": now,
                "status_code": outcome.status_code,
                "error": outcome.error,
                "duration_ms": duration_ms,
            }
        )
    await uow.deliveries.record_attempts(outcomes, attempts)
    for subscription_id, state in health.items():
        if state["disable"]:
            await uow.subscriptions.change(
                subscription_id,
                status=SubscriptionStatus.DISABLED.value,
                disabled_reason=state["disable"],
                failing_since=state["failing_since"],
            )
            await uow.deliveries.fail_pending_of(subscription_id, f"endpoint disabled: {state['disable']}")
        else:
            await uow.subscriptions.change(subscription_id, failing_since=state["failing_since"])
    return len(due)


def subscription_view(row: dict[str, Any], *, secret: str | None = None) -> dict[str, Any]:
    view = {
        "id": row["id"],
        "url": row["url"],
        "event_types": row["event_types"],
        "region_code": row["region_code"],
        "status": row["status"],
        "disabled_reason": row["disabled_reason"],
        "failing_since": row["failing_since"],
        "created_at": row["created_at"],
    }
    if secret is not None:  # shown once, when created or rotated
        view["secret"] = secret
    return view


def delivery_view(row: dict[str, Any], attempts: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    view = {
        "id": row["id"],
        "subscription_id": row["subscription_id"],
        "event_id": row["event_id"],
        "event_type": row["event_type"],
        "status": row["status"],
        "attempts": row["attempts"],
        "next_attempt_at": row["next_attempt_at"],
        "last_status_code": row["last_status_code"],
        "last_error": row["last_error"],
        "created_at": row["created_at"],
        "delivered_at": row["delivered_at"],
    }
    if attempts is not None:
        view["attempt_log"] = attempts
    return view


async def create_subscription(
    uow: NotificationsUnitOfWork, owner: str, url: str, event_types: list[str], region_code: str
) -> dict[str, Any]:
    secret = new_secret()
    row = {
        "id": new_record_id(),
        "owner": owner,
        "url": url,
        "event_types": sorted(set(event_types)),
        "region_code": region_code,
        "secrets": [{"secret": secret, "expires_at": None}],
        "status": SubscriptionStatus.ACTIVE.value,
        "disabled_reason": None,
        "failing_since": None,
        "created_at": uow.now(),
    }
    await uow.subscriptions.add(row)
    return subscription_view(row, secret=secret)


async def rotate_secret(uow: NotificationsUnitOfWork, subscription: dict[str, Any]) -> dict[str, Any]:
    """A new secret signs from now on; the previous one signs too for ROTATION_OVERLAP, so the receiver can
    switch without losing a message."""
    now = uow.now()
    secret = new_secret()
    kept = [
        {"secret": s["secret"], "expires_at": s.get("expires_at") or (now + ROTATION_OVERLAP).isoformat()}
        for s in subscription["secrets"]
        if s.get("expires_at") is None or datetime.fromisoformat(s["expires_at"]) > now
    ]
    await uow.subscriptions.change(subscription["id"], secrets=[{"secret": secret, "expires_at": None}, *kept])
    return subscription_view(subscription, secret=secret)


async def enable(uow: NotificationsUnitOfWork, subscription: dict[str, Any]) -> dict[str, Any]:
    await uow.subscriptions.change(
        subscription["id"], status=SubscriptionStatus.ACTIVE.value, disabled_reason=None, failing_since=None
    )
    return subscription_view(subscription | {"status": "active", "disabled_reason": None, "failing_since": None})


async def replay(
    uow: NotificationsUnitOfWork, delivery: dict[str, Any], subscription: dict[str, Any]
) -> dict[str, Any]:
    """Sends a delivery again (same webhook-id, so the receiver can tell; signed afresh with a new timestamp
    when it goes). Its retry schedule continues from where it stopped."""
    if subscription["status"] != SubscriptionStatus.ACTIVE.value:
        raise Conflict(
            "the endpoint is disabled; enable the subscription before replaying",
            errors=[
                {
                    "field": "subscription_id",
                    "rule": "subscription_disabled",
                    "message": subscription["disabled_reason"] or "disabled",
                }
            ],
        )
    if delivery["status"] == DeliveryStatus.PENDING.value:
        raise Conflict(
            "the delivery is still being attempted",
            errors=[{"field": "id", "rule": "delivery_pending", "message": "wait for its outcome"}],
        )
    await uow.deliveries.replay(delivery["id"], uow.now())
    return delivery_view(delivery | {"status": DeliveryStatus.PENDING.value, "next_attempt_at": uow.now()})
