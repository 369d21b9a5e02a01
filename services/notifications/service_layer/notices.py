"""Turning the domain's notices into inbox notifications, alerts and grouped digests, and the alerts'
life after that: escalation, reminders, acknowledgement, resolution."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.notifications.adapters.uow import NotificationsUnitOfWork
from services.notifications.domain import alerts as alert_rules
from services.notifications.domain.alerts import Alert, Level
from services.notifications.domain.grouping import GroupTiming, digest_window, flush_due_at, group_key
from services.notifications.domain.rules import (
    DEDUPE_WINDOW,
    TOWNSHIP_DIGITS,
    Notice,
    RecipientKind,
    Severity,
    county_of,
    township_of,
)
from services.notifications.domain.templates import DIGEST_TEMPLATE, ESCALATION_TEMPLATE, LEVEL_NAMES, render
from shared.contracts import notifications as events
from shared.errors import NotFound
from shared.ids import new_record_id
from shared.tracing import use_trace

LEVEL_OF_RECIPIENT = {
    RecipientKind.CADRE: Level.CADRE,
    RecipientKind.TOWNSHIP: Level.TOWNSHIP,
    RecipientKind.COUNTY: Level.COUNTY,
    RecipientKind.CITY: Level.COUNTY,  # the last level: a city's alert does not escalate further
}


@dataclass(frozen=True)
class Cause:
    """The event a notice answers: its id, time and trace (the notice's own event joins that trace)."""

    event_id: str
    trace_id: str
    occurred_at: datetime
    trace: Any  # shared.tracing.TraceContext for the consequences


def recipient_for(level: Level, alert: Alert) -> tuple[RecipientKind, str]:
    if level is Level.CADRE and alert.cadre_id:
        return RecipientKind.CADRE, alert.cadre_id
    if level is Level.COUNTY or len(alert.region_code) < TOWNSHIP_DIGITS:  # no township: the county
        return RecipientKind.COUNTY, county_of(alert.region_code)
    return RecipientKind.TOWNSHIP, township_of(alert.region_code)


def _notification_row(
    *,
    kind: RecipientKind,
    recipient: str,
    household_id: str | None,
    region_code: str,
    category: str,
    severity: str,
    fields: dict[str, Any],
    title: str,
    body: str,
    now: datetime,
    cause_event_id: str | None,
    trace_id: str | None,
    dedupe_key: str | None,
    alert_id: str | None = None,
    count: int = 1,
) -> dict[str, Any]:
    return {
        "id": new_record_id(),
        "recipient_kind": kind.value,
        "recipient_id": recipient,
        "household_id": household_id,
        "region_code": region_code,
        "category": category,
        "severity": severity,
        "title": title,
        "body": body,
        "fields": fields,
        "status": "unread",
        "count": count,
        "alert_id": alert_id,
        "cause_event_id": cause_event_id,
        "trace_id": trace_id,
        "created_at": now,
        "read_at": None,
        "dedupe_key": dedupe_key,
    }


def _notice_row(
    notice: Notice, cause: Cause, now: datetime, dedupe_key: str, alert_id: str | None = None
) -> dict[str, Any]:
    """The inbox row of a notice, worded by its template."""
    title, body = render(notice.category, notice.fields)
    return _notification_row(
        kind=notice.recipient_kind,
        recipient=notice.recipient_id,
        household_id=notice.household_id,
        region_code=notice.region_code,
        category=notice.category,
        severity=notice.severity.value,
        fields=dict(notice.fields),
        title=title,
        body=body,
        now=now,
        cause_event_id=cause.event_id,
        trace_id=cause.trace_id,
        dedupe_key=dedupe_key,
        alert_id=alert_id,
    )


def _emit_notice(uow: NotificationsUnitOfWork, row: dict[str, Any]) -> None:
    uow.emit(
        events.NoticeCreated(
            notification_id=row["id"],
            recipient_kind=row["recipient_kind"],
            recipient_id=row["recipient_id"],
            household_id=row["household_id"],
            region_code=row["region_code"],
            category=row["category"],
            severity=row["severity"],
            cause_event_id=row["cause_event_id"] or "",
        ),
        subject=row["household_id"] or row["region_code"],
    )


def _alert_event(kind: type[events.AlertEvent], alert: Alert, actor: str) -> events.AlertEvent:
    return kind(
        alert_id=alert.id,
        household_id=alert.household_id,
        region_code=alert.region_code,
        category=alert.category,
        severity=alert.severity,
        status=alert.status.value,
        level=alert.level.value,
        actor=actor,
    )


async def deliver_notices(
    uow: NotificationsUnitOfWork,
    notices: Sequence[tuple[Notice, Cause]],
    now: datetime,
    dedupe_window: timedelta = DEDUPE_WINDOW,
) -> None:
    """Notices of a batch of events: alerts raised (deduplicated), grouped notices added to their group,
    the rest put in the recipients' inboxes (deduplicated by the database)."""
    direct: list[tuple[dict[str, Any], Cause]] = []
    raised: list[tuple[Alert, dict[str, Any], Notice, Cause]] = []
    grouped: list[dict[str, Any]] = []
    for notice, cause in notices:
        dedupe = notice.dedupe_key(cause.occurred_at, dedupe_window)
        if notice.alert:
            alert = alert_rules.raise_alert(
                new_record_id(),
                notice.category,
                notice.severity.value,
                notice.household_id,
                notice.region_code,
                notice.recipient_id if notice.recipient_kind is RecipientKind.CADRE else None,
                LEVEL_OF_RECIPIENT.get(notice.recipient_kind, Level.TOWNSHIP),
                now,
            )
            extra = {"dedupe_key": dedupe, "cause_event_id": cause.event_id, "trace_id": cause.trace_id}
            raised.append((alert, extra, notice, cause))
        elif notice.grouped:
            grouped.append(
                {
                    "key": group_key(notice.recipient_kind.value, notice.recipient_id, notice.category),
                    "recipient_kind": notice.recipient_kind.value,
                    "recipient_id": notice.recipient_id,
                    "region_code": notice.recipient_id,
                    "category": notice.category,
                    "severity": notice.severity.value,
                    "pending": 1,
                    "fields": dict(notice.fields),
                    "first_pending_at": now,
                    "last_flushed_at": None,
                    "flush_at": None,
                }
            )
        else:
            direct.append((_notice_row(notice, cause, now, dedupe), cause))
    if raised:
        inserted = await uow.alerts.add_deduplicated([(alert, extra) for alert, extra, _, _ in raised])
        steps = []
        for alert, _, notice, cause in raised:
            if alert.id not in inserted:
                continue
            direct.append((_notice_row(notice, cause, now, f"alert:{alert.id}:0", alert.id), cause))
            steps.append(
                {"alert_id": alert.id, "step": "raised", "level": alert.level.value, "actor": "system", "at": now}
            )
            with use_trace(cause.trace):
                uow.emit(
                    _alert_event(events.AlertRaised, alert, "system"), subject=alert.household_id or alert.region_code
                )
        await uow.alerts.add_steps(steps)
    if direct:
        inserted = await uow.notifications.add_deduplicated([row for row, _ in direct])
        for row, cause in direct:
            if row["id"] in inserted:
                with use_trace(cause.trace):
                    _emit_notice(uow, row)
    await uow.groups.add_pending(grouped)


async def flush_groups(uow: NotificationsUnitOfWork, now: datetime, timing: GroupTiming) -> int:
    """Sends the digest of every group whose wait is over; the number sent."""
    sent = 0
    for group in await uow.groups.claim_due(now, timing.wait, timing.interval):
        first_pending_at = group["first_pending_at"] or now
        due = flush_due_at(first_pending_at, group["last_flushed_at"], timing)
        if due > now:
            continue
        title, body = render(group["category"], group["fields"])
        count = group["pending"]
        if count > 1:  # one notice alone is sent as itself
            title, body = (
                DIGEST_TEMPLATE[0].format(title=title, count=count),
                DIGEST_TEMPLATE[1].format(window=digest_window(first_pending_at, now), count=count, body=body),
            )
        row = _notification_row(
            kind=RecipientKind(group["recipient_kind"]),
            recipient=group["recipient_id"],
            household_id=None,
            region_code=group["region_code"],
            category=group["category"],
            severity=group["severity"],
            fields=group["fields"],
            title=title,
            body=body,
            now=now,
            cause_event_id=None,
            trace_id=None,
            dedupe_key=None,
            count=count,
        )
        await uow.notifications.add_deduplicated([row])
        _emit_notice(uow, row)
        await uow.groups.flushed(group["key"], now)
        sent += 1
    return sent


async def escalate_due(uow: NotificationsUnitOfWork, now: datetime) -> int:
    """Escalates (or reminds) every open alert past its due time; the number moved."""
    moved = 0
    steps = []
    for alert, extra in await uow.alerts.claim_due(now):
        after = alert_rules.escalate(alert, now)
        if after is None:
            continue
        escalated = after.level_index != alert.level_index
        await uow.alerts.save(after)
        kind, recipient = recipient_for(after.level, after)
        title, body = render(after.category, {})
        level_name = LEVEL_NAMES[after.level.value]
        row = _notification_row(
            kind=kind,
            recipient=recipient,
            household_id=after.household_id,
            region_code=after.region_code,
            category=after.category,
            severity=Severity.CRITICAL.value if escalated else after.severity,
            fields={"level": after.level.value},
            title=ESCALATION_TEMPLATE[0].format(title=title),
            body=ESCALATION_TEMPLATE[1].format(level_name=level_name, body=body),
            now=now,
            cause_event_id=extra["cause_event_id"],
            trace_id=extra["trace_id"],
            dedupe_key=f"alert:{after.id}:{after.level_index}:{after.reminders}",
            alert_id=after.id,
        )
        await uow.notifications.add_deduplicated([row])
        _emit_notice(uow, row)
        steps.append(
            {
                "alert_id": after.id,
                "step": "escalated" if escalated else "reminded",
                "level": after.level.value,
                "actor": "system",
                "at": now,
            }
        )
        uow.emit(_alert_event(events.AlertEscalated, after, "system"), subject=after.household_id or after.region_code)
        moved += 1
    await uow.alerts.add_steps(steps)
    return moved


async def alert_step(
    uow: NotificationsUnitOfWork, alert_id: str, step: str, actor: str, visible: Any
) -> dict[str, Any]:
    """Acknowledge or resolve an alert the caller may see (`visible(alert)`); 404 otherwise."""
    found = await uow.alerts.get(alert_id)
    if found is None or not visible(found[0]):
        raise NotFound(f"no alert {alert_id}")
    now = uow.now()
    alert = found[0]
    after = (alert_rules.acknowledge if step == "acknowledged" else alert_rules.resolve)(alert, actor, now)
    if after != alert:
        await uow.alerts.save(after)
        await uow.alerts.add_steps(
            [{"alert_id": alert.id, "step": step, "level": after.level.value, "actor": actor, "at": now}]
        )
        kind = events.AlertAcknowledged if step == "acknowledged" else events.AlertResolved
        uow.emit(_alert_event(kind, after, actor), subject=after.household_id or after.region_code)
    return alert_view(after, await uow.alerts.steps(alert.id))


def alert_view(alert: Alert, steps: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    title, _ = render(alert.category, {})
    view: dict[str, Any] = {
        "id": alert.id,
        "category": alert.category,
        "title": title,
        "severity": alert.severity,
        "status": alert.status.value,
        "level": alert.level.value,
        "household_id": alert.household_id,
        "region_code": alert.region_code,
        "cadre_id": alert.cadre_id,
        "policy": alert.policy,
        "raised_at": alert.raised_at,
        "escalates_at": alert.due_at,
        "acknowledged_by": alert.acknowledged_by,
        "acknowledged_at": alert.acknowledged_at,
        "resolved_by": alert.resolved_by,
        "resolved_at": alert.resolved_at,
    }
    if steps is not None:
        view["steps"] = steps
    return view
