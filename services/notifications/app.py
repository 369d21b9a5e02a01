"""Assembles the notifications service."""

from __future__ import annotations

from fastapi import FastAPI

from services.notifications.adapters import orm
from services.notifications.api import page, reports, routes
from services.notifications.api.errors import DOMAIN_ERRORS
from services.notifications.service_layer.handlers import CONSUMER, TOPICS, events_consumer, notifications_watch
from shared.app import ServiceRuntime, create_service_app
from shared.bus import EventBus
from shared.config import ServiceSettings
from shared.contracts import notifications as notification_events

SERVICE = "notifications"


def build_runtime(settings: ServiceSettings | None = None, *, bus: EventBus | None = None) -> ServiceRuntime:
    return ServiceRuntime.build(settings or ServiceSettings.load(SERVICE), orm.platform, bus=bus)


def create_app(runtime: ServiceRuntime | None = None, *, manage_bus: bool = True, watch: bool = True) -> FastAPI:
    """`watch=False` leaves escalation, digests and webhook delivery to the caller (tests drive them with
    a controllable clock through service_layer.handlers.watch_once)."""
    runtime = runtime or build_runtime()
    runtime.bus.subscribe_batch(CONSUMER, TOPICS, events_consumer(runtime))
    if watch:
        runtime.background.append(notifications_watch(runtime))
    return create_service_app(
        runtime,
        title="Notifications (inbox, alerts, webhooks, event traces)",
        description="Alerts households, their cadres (包保干部), township and county operators and subscribed "
        "provincial systems of what the other services decide and pay: an in-app inbox with exact unread "
        "counts, alerts that escalate township → county until acknowledged, operator notices grouped into "
        "digests, webhooks signed per Standard Webhooks with retries; and an index of every event so an "
        "operator follows a trace from a change to all of its consequences.",
        routers=[routes.router, reports.router, page.router],
        publishes=[notification_events.NOTICES_TOPIC, notification_events.ALERTS_TOPIC],
        consumes=TOPICS,
        manage_bus=manage_bus,
        domain_errors=DOMAIN_ERRORS,
    )
