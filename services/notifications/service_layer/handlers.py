"""Event handlers of the notifications service. It consumes every domain topic; each batch of a partition
is, in one transaction: the household directory kept (registry events), every event indexed for traces
and its report facts recorded, the notices the rules give delivered (inbox, alerts, groups), and a webhook
delivery queued for every matching subscription."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import timedelta
from typing import Any

from services.notifications.adapters.sms import SmsGateway
from services.notifications.adapters.uow import NotificationsUnitOfWork
from services.notifications.adapters.webhook_sender import WebhookSender
from services.notifications.config import NotificationSettings, notification_settings
from services.notifications.domain.rules import notices_for
from services.notifications.service_layer import channels, reports, webhooks
from services.notifications.service_layer.notices import Cause, deliver_notices, escalate_due, flush_groups
from services.notifications.service_layer.tracing import NO_TRACE, trace_row
from shared.app import ServiceRuntime
from shared.clock import business_day
from shared.contracts import disbursement, eligibility, registry
from shared.contracts.registry import HouseholdEvent
from shared.dispatch import EventHandlers, dispatcher, takes_batches
from shared.events import Envelope, EventPayload

log = logging.getLogger(__name__)
CONSUMER = "notifications"
TOPICS = [
    registry.TOPIC,
    eligibility.DECISIONS_TOPIC,
    eligibility.SIGNALS_TOPIC,
    disbursement.PAYMENTS_TOPIC,
    disbursement.AID_TOPIC,
    disbursement.FUNDS_TOPIC,
    disbursement.RELIEF_TOPIC,
]


@takes_batches
async def events_seen(uow: NotificationsUnitOfWork, events: list[tuple[Envelope, EventPayload]]) -> None:
    now = uow.now()
    directory = [
        {
            "household_id": p.household_id,
            "region_code": p.region_code,
            "cadre_id": p.facts.cadre_id,
            "version": p.version,
        }
        for _, p in events
        if isinstance(p, HouseholdEvent)
    ]
    await uow.households.record(directory)
    rows = [trace_row(envelope, now) for envelope, _ in events]
    await uow.traces.add(rows)
    await reports.record_facts(uow, events, now)
    households = await uow.households.get_many(
        [h for _, p in events if isinstance(h := getattr(p, "household_id", None), str)]
    )
    notices = []
    for (envelope, payload), row in zip(events, rows, strict=True):
        data = envelope.data
        household = households.get(data.get("household_id") or "")
        cause = Cause(
            envelope.id,
            row["trace_id"] if row["trace_id"] != NO_TRACE else "",
            envelope.time,
            envelope.trace_for_consequences(),
        )
        notices += [(notice, cause) for notice in notices_for(payload.event_type, data, household)]
    await deliver_notices(uow, notices, now)
    await webhooks.fan_out(uow, [(envelope, type(payload).event_type) for envelope, payload in events], now)


# The one map of what this service does with the events it consumes: everything, the same way.
EVENT_HANDLERS: EventHandlers = {EventPayload: events_seen}


def events_consumer(runtime: ServiceRuntime) -> Callable[[Sequence[Envelope]], Awaitable[None]]:
    return dispatcher(CONSUMER, lambda: NotificationsUnitOfWork(runtime), EVENT_HANDLERS)


async def watch_once(runtime: ServiceRuntime, sender: WebhookSender, settings: NotificationSettings) -> int:
    """One pass of the background work: alerts escalated, group digests sent, webhooks delivered, unread
    warnings followed by an SMS, the holiday reminders and report deadlines once a day. The amount of work
    done."""
    now = runtime.clock()
    done = 0
    async with NotificationsUnitOfWork(runtime) as uow:
        done += await escalate_due(uow, now)
        done += await flush_groups(uow, now, settings.group_timing)
        await uow.commit()
    async with NotificationsUnitOfWork(runtime) as uow:
        done += await webhooks.deliver_due(uow, sender, now, settings.delivery_batch)
        await uow.commit()
    async with NotificationsUnitOfWork(runtime) as uow:
        await channels.queue_sms_fallbacks(uow, now, timedelta(hours=settings.sms_fallback_after_hours))
        done += await channels.send_sms(uow, sms_gateway(runtime, settings), now)
        await uow.commit()
    today = business_day(now)
    if runtime.caches.get("daily_done_on") != today:
        async with NotificationsUnitOfWork(runtime) as uow:
            await channels.holiday_reminders(uow, today, now, settings.holidays)
            await reports.check_deadlines(uow, today, now)
            await uow.commit()
        runtime.caches["daily_done_on"] = today
    return done


def sms_gateway(runtime: ServiceRuntime, settings: NotificationSettings) -> SmsGateway:
    gateway = runtime.caches.get("sms_gateway")
    if gateway is None:
        gateway = runtime.caches["sms_gateway"] = SmsGateway(settings.sms_gateway_url, settings.sms_api_key)
    return gateway


def notifications_watch(runtime: ServiceRuntime) -> Callable[[], Coroutine[Any, Any, None]]:
    async def loop() -> None:
        settings = notification_settings(runtime)
        sender = runtime.caches.setdefault("webhook_sender", WebhookSender(settings.webhook_timeout_seconds))
        try:
            while True:
                try:
                    busy = await watch_once(runtime, sender, settings)
                except Exception:
                    log.exception("notifications watch failed; trying again")
                    busy = 0
                if not busy:
                    await asyncio.sleep(settings.poll_seconds)
        finally:
            await sender.close()

    return loop
