"""Notifications REST API: the in-app inbox, alerts with acknowledgement, webhook subscriptions and their
deliveries, and event traces for operators."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from services.notifications.adapters.uow import NotificationsUnitOfWork
from services.notifications.api.presenters import event_view, notification_view, trace_view
from services.notifications.api.schemas import SubscriptionIn
from services.notifications.domain.alerts import Alert, AlertStatus
from services.notifications.domain.traces import build_trace
from services.notifications.domain.webhooks import DeliveryStatus
from services.notifications.service_layer import webhooks
from services.notifications.service_layer.notices import alert_step, alert_view
from shared.app import runtime_of
from shared.auth import Principal, Role, require
from shared.commands import CommandResult, run_command
from shared.errors import Forbidden, NotFound, ValidationProblem
from shared.pagination import decode_cursor, encode_cursor
from shared.registry_client import unknown_here
from shared.text import IDENTIFIER_PATTERN

router = APIRouter(prefix="/v1")
OPERATORS = {Role.TOWNSHIP_OFFICER, Role.COUNTY_OPERATOR, Role.PROVINCE_OPERATOR}
# The inbox is a recipient's own: households, cadres and the operators of townships and counties.
InboxOwner = Annotated[Principal, Depends(require(Role.HOUSEHOLD, Role.VILLAGE_CADRE, *OPERATORS))]
AlertReader = Annotated[Principal, Depends(require(Role.VILLAGE_CADRE, *OPERATORS, Role.AUDITOR, Role.ADMIN))]
AlertHandler = Annotated[Principal, Depends(require(Role.VILLAGE_CADRE, *OPERATORS, Role.ADMIN))]
# Traces are the operators' tool (and the auditors'): ids, types and times, no personal data.
TraceReader = Annotated[Principal, Depends(require(*OPERATORS, Role.AUDITOR, Role.ADMIN))]
Subscriber = Annotated[Principal, Depends(require(Role.PROVINCIAL_SYSTEM, Role.PROVINCE_OPERATOR, Role.ADMIN))]
ID = Annotated[str, Query(max_length=64, pattern=IDENTIFIER_PATTERN)]


def uow_of(request: Request) -> NotificationsUnitOfWork:
    return NotificationsUnitOfWork(runtime_of(request))


def _time_key(at: datetime, record_id: str) -> str:
    micros = int(at.replace(tzinfo=at.tzinfo or UTC).timestamp() * 1_000_000)
    return encode_cursor(f"{micros}:{record_id}")


def _time_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    key = decode_cursor(cursor)
    if key is None:
        return None
    micros, _, record_id = key.partition(":")
    if not micros.isdigit() or not record_id:
        raise ValidationProblem.field("cursor", "cursor_format", "the cursor is not one this API issued")
    return datetime.fromtimestamp(int(micros) / 1_000_000, UTC), record_id


# --- inbox ----------------------------------------------------------------------------------------------
def inbox_recipients(actor: Principal) -> list[tuple[str, str, bool]]:
    """(recipient kind, id, prefix?) the caller reads as its own: a household its household, a cadre its
    cadre id (the token's subject), an operator the townships, counties and cities under its region."""
    recipients: list[tuple[str, str, bool]] = []
    if Role.HOUSEHOLD in actor.roles and actor.household_id:
        recipients.append(("household", actor.household_id, False))
    if Role.VILLAGE_CADRE in actor.roles:
        recipients.append(("cadre", actor.subject, False))
    if actor.roles & OPERATORS:
        recipients += [("township", actor.region, True), ("county", actor.region, True), ("city", actor.region, True)]
    return recipients


@router.get("/inbox", tags=["inbox"], summary="The caller's notifications, newest first")
async def inbox(
    request: Request,
    actor: InboxOwner,
    status: Annotated[str | None, Query(pattern="^(unread|read|archived)$")] = None,
    severity: Annotated[str | None, Query(pattern="^(info|warning|critical)$")] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
):
    before = _time_cursor(cursor)
    async with uow_of(request) as uow:
        rows = await uow.notifications.inbox(
            inbox_recipients(actor), actor.region, status=status, severity=severity, before=before, limit=limit + 1
        )
    items = [notification_view(r) for r in rows[:limit]]
    more = len(rows) > limit
    return {
        "items": items,
        "next_cursor": _time_key(rows[limit - 1]["created_at"], rows[limit - 1]["id"]) if more else None,
    }


@router.get("/inbox/count", tags=["inbox"], summary="Exact counts of the caller's notifications by status")
async def inbox_count(request: Request, actor: InboxOwner):
    async with uow_of(request) as uow:
        counts = await uow.notifications.counts(inbox_recipients(actor), actor.region)
    return {"unread": counts.get("unread", 0), "read": counts.get("read", 0), "archived": counts.get("archived", 0)}


async def _mark(request: Request, actor: Principal, notification_id: str, status: str):
    uow = uow_of(request)

    async def action() -> CommandResult:
        row = await uow.notifications.get(notification_id, inbox_recipients(actor), actor.region)
        if row is None:
            raise NotFound(f"no notification {notification_id} in your inbox")
        read_at = None if status == "unread" else (row["read_at"] or uow.now())
        await uow.notifications.set_status(notification_id, status, read_at)
        return CommandResult(notification_view(row | {"status": status, "read_at": read_at}))

    return await run_command(request, actor, uow, action)


@router.post("/inbox/{notification_id}/read", tags=["inbox"], summary="Mark a notification read")
async def mark_read(notification_id: str, request: Request, actor: InboxOwner):
    return await _mark(request, actor, notification_id, "read")


@router.post("/inbox/{notification_id}/unread", tags=["inbox"], summary="Mark a notification unread")
async def mark_unread(notification_id: str, request: Request, actor: InboxOwner):
    return await _mark(request, actor, notification_id, "unread")


@router.post("/inbox/{notification_id}/archive", tags=["inbox"], summary="Archive a notification")
async def archive(notification_id: str, request: Request, actor: InboxOwner):
    return await _mark(request, actor, notification_id, "archived")


# --- alerts ---------------------------------------------------------------------------------------------
def _cadre_only(actor: Principal) -> bool:
    return Role.VILLAGE_CADRE in actor.roles and not actor.roles & (OPERATORS | {Role.AUDITOR, Role.ADMIN})


def alert_visible(actor: Principal, alert: Alert) -> bool:
    """A cadre sees the alerts of the households assigned to it; others, those in their region."""
    if not actor.covers_region(alert.region_code):
        return False
    return not _cadre_only(actor) or alert.cadre_id == actor.subject


@router.get("/alerts", tags=["alerts"], summary="Alerts in the caller's scope, newest first")
async def alerts(
    request: Request,
    actor: AlertReader,
    status: Annotated[AlertStatus | None, Query()] = None,
    household_id: Annotated[str | None, Query(max_length=36, pattern=IDENTIFIER_PATTERN)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
):
    before = _time_cursor(cursor)
    async with uow_of(request) as uow:
        found = await uow.alerts.search(
            region_prefix=actor.region,
            cadre_id=actor.subject if _cadre_only(actor) else None,
            status=status.value if status else None,
            household_id=household_id,
            before=before,
            limit=limit + 1,
        )
    items = [alert_view(a) for a in found[:limit]]
    more = len(found) > limit
    return {"items": items, "next_cursor": _time_key(found[limit - 1].raised_at, found[limit - 1].id) if more else None}


@router.get("/alerts/{alert_id}", tags=["alerts"], summary="An alert with its steps")
async def alert(alert_id: str, request: Request, actor: AlertReader):
    async with uow_of(request) as uow:
        found = await uow.alerts.get(alert_id)
        if found is None or not alert_visible(actor, found[0]):
            raise NotFound(f"no alert {alert_id}")
        return alert_view(found[0], await uow.alerts.steps(alert_id))


async def _alert_step(request: Request, actor: Principal, alert_id: str, step: str):
    uow = uow_of(request)

    async def action() -> CommandResult:
        return CommandResult(await alert_step(uow, alert_id, step, actor.subject, lambda a: alert_visible(actor, a)))

    return await run_command(request, actor, uow, action)


@router.post("/alerts/{alert_id}/acknowledge", tags=["alerts"], summary="Take an alert on: escalation stops")
async def acknowledge(alert_id: str, request: Request, actor: AlertHandler):
    return await _alert_step(request, actor, alert_id, "acknowledged")


@router.post("/alerts/{alert_id}/resolve", tags=["alerts"], summary="Close an alert: the matter is dealt with")
async def resolve(alert_id: str, request: Request, actor: AlertHandler):
    return await _alert_step(request, actor, alert_id, "resolved")


# --- webhook subscriptions ------------------------------------------------------------------------------
def _owner_filter(actor: Principal) -> str | None:
    """A provincial system sees its own subscriptions; province operators and administrators all of their region's."""
    return None if actor.roles & {Role.PROVINCE_OPERATOR, Role.ADMIN} else actor.access_key


async def _subscription(uow: NotificationsUnitOfWork, actor: Principal, subscription_id: str) -> dict[str, Any]:
    row = await uow.subscriptions.get(subscription_id)
    owner = _owner_filter(actor)
    if row is None or not actor.covers_region(row["region_code"]) or (owner is not None and row["owner"] != owner):
        raise NotFound(f"no subscription {subscription_id}")
    return row


@router.post(
    "/subscriptions", tags=["webhooks"], summary="Subscribe an endpoint to events (Standard Webhooks)", status_code=201
)
async def subscribe(body: SubscriptionIn, request: Request, actor: Subscriber):
    if not actor.covers_region(body.region_code):
        raise Forbidden(f"region {body.region_code} is outside your scope ({actor.region})")
    uow = uow_of(request)

    async def action() -> CommandResult:
        view = await webhooks.create_subscription(
            uow, actor.access_key, str(body.url), body.event_types, body.region_code
        )
        return CommandResult(view, 201)

    return await run_command(request, actor, uow, action)


@router.get("/subscriptions", tags=["webhooks"], summary="The caller's subscriptions")
async def subscriptions(request: Request, actor: Subscriber):
    async with uow_of(request) as uow:
        rows = await uow.subscriptions.visible(actor.region, _owner_filter(actor))
    return {"items": [webhooks.subscription_view(r) for r in rows]}


@router.get("/subscriptions/{subscription_id}", tags=["webhooks"], summary="A subscription")
async def subscription(subscription_id: str, request: Request, actor: Subscriber):
    async with uow_of(request) as uow:
        return webhooks.subscription_view(await _subscription(uow, actor, subscription_id))


@router.get(
    "/subscriptions/{subscription_id}/deliveries",
    tags=["webhooks"],
    summary="A subscription's deliveries (status=failed lists what needs a replay)",
)
async def deliveries(
    subscription_id: str,
    request: Request,
    actor: Subscriber,
    status: Annotated[DeliveryStatus | None, Query()] = None,
    after: Annotated[int | None, Query(ge=0, le=2**62, description="Continue after this sequence")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
):
    async with uow_of(request) as uow:
        await _subscription(uow, actor, subscription_id)
        rows = await uow.deliveries.of_subscription(subscription_id, status.value if status else None, after, limit + 1)
    items = [webhooks.delivery_view(r) for r in rows[:limit]]
    return {"items": items, "next_after": rows[limit - 1]["seq"] if len(rows) > limit else None}


async def _subscription_command(request: Request, actor: Principal, subscription_id: str, change: Any):
    uow = uow_of(request)

    async def action() -> CommandResult:
        return CommandResult(await change(uow, await _subscription(uow, actor, subscription_id)))

    return await run_command(request, actor, uow, action)


@router.post(
    "/subscriptions/{subscription_id}/rotate-secret",
    tags=["webhooks"],
    summary="A new signing secret; the previous one keeps signing for 24 hours",
)
async def rotate_secret(subscription_id: str, request: Request, actor: Subscriber):
    return await _subscription_command(request, actor, subscription_id, webhooks.rotate_secret)


@router.post("/subscriptions/{subscription_id}/enable", tags=["webhooks"], summary="Enable a disabled endpoint again")
async def enable(subscription_id: str, request: Request, actor: Subscriber):
    return await _subscription_command(request, actor, subscription_id, webhooks.enable)


async def _delivery(uow: NotificationsUnitOfWork, actor: Principal, delivery_id: str) -> tuple[dict, dict]:
    delivery = await uow.deliveries.get(delivery_id)
    if delivery is None:
        raise NotFound(f"no delivery {delivery_id}")
    try:
        subscription = await _subscription(uow, actor, delivery["subscription_id"])
    except NotFound:
        raise NotFound(f"no delivery {delivery_id}") from None
    return delivery, subscription


@router.get("/deliveries/{delivery_id}", tags=["webhooks"], summary="A delivery with its attempts")
async def delivery(delivery_id: str, request: Request, actor: Subscriber):
    async with uow_of(request) as uow:
        found, _ = await _delivery(uow, actor, delivery_id)
        return webhooks.delivery_view(found, await uow.deliveries.attempts(delivery_id))


@router.post("/deliveries/{delivery_id}/replay", tags=["webhooks"], summary="Send a delivery again")
async def replay(delivery_id: str, request: Request, actor: Subscriber):
    uow = uow_of(request)

    async def action() -> CommandResult:
        found, subscription = await _delivery(uow, actor, delivery_id)
        return CommandResult(await webhooks.replay(uow, found, subscription))

    return await run_command(request, actor, uow, action)


# --- traces ---------------------------------------------------------------------------------------------
@router.get("/traces/{trace_id}", tags=["traces"], summary="A trace: its events as a causation tree with latencies")
async def trace(trace_id: str, request: Request, actor: TraceReader):
    async with uow_of(request) as uow:
        found = await uow.traces.of_trace(trace_id)
    visible = [e for e in found if e.region_code and actor.covers_region(e.region_code)]
    if not visible:
        raise NotFound(f"no trace {trace_id}")
    return trace_view(build_trace(trace_id, visible))


# A date-time, as RFC 3339 writes it (a bare number is not read as a Unix time).
RFC3339 = r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?([Zz]|[+-]\d{2}:\d{2})?$"


def _parse_time(name: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value.replace("z", "Z").replace("t", "T"))
    except ValueError:
        raise ValidationProblem.field(name, "date_time", f"{name} is not a valid date-time") from None


def _as_utc(value: datetime | None) -> datetime | None:
    return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)


@router.get("/traces", tags=["traces"], summary="Search the event index (time order)")
async def search_traces(
    request: Request,
    actor: TraceReader,
    household_id: Annotated[str | None, Query(max_length=36, pattern=IDENTIFIER_PATTERN)] = None,
    type: Annotated[str | None, Query(max_length=120, description="e.g. eligibility.decision.changed")] = None,
    region_code: Annotated[str | None, Query(pattern=r"^\d{2,12}$")] = None,
    time_from: Annotated[str | None, Query(alias="from", pattern=RFC3339, description="RFC 3339 date-time")] = None,
    time_to: Annotated[str | None, Query(alias="to", pattern=RFC3339, description="RFC 3339 date-time")] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
):
    after = _time_cursor(cursor)
    low, high = _as_utc(_parse_time("from", time_from)), _as_utc(_parse_time("to", time_to))
    async with uow_of(request) as uow:
        found = await uow.traces.search(
            region_prefix=actor.region,
            household_id=household_id,
            event_type=type,
            region_code=region_code,
            time_from=low,
            time_to=high,
            after=after,
            limit=limit + 1,
        )
    items = [event_view(e) for e in found[:limit]]
    more = len(found) > limit
    return {"items": items, "next_cursor": _time_key(found[limit - 1].time, found[limit - 1].id) if more else None}


@router.get(
    "/households/{household_id}/timeline",
    tags=["traces"],
    summary="A household's events across all four services, oldest first",
)
async def timeline(
    household_id: str,
    request: Request,
    actor: TraceReader,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
):
    after = _time_cursor(cursor)
    async with uow_of(request) as uow:
        found = await uow.traces.search(
            region_prefix=actor.region, household_id=household_id, after=after, limit=limit + 1
        )
    if not found:  # unknown and outside the caller's scope answer alike; registered a moment ago: not yet
        raise await unknown_here(runtime_of(request), household_id, actor, f"no events of household {household_id}")
    items = [event_view(e) for e in found[:limit]]
    more = len(found) > limit
    return {
        "household_id": household_id,
        "items": items,
        "next_cursor": _time_key(found[limit - 1].time, found[limit - 1].id) if more else None,
    }
