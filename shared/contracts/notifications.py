"""Events the notifications service publishes, keyed by household id (or the region code of a
region-wide notice). Ids, categories and severities only: the words sent stay in the service."""

from __future__ import annotations

from shared.events import EventPayload, event

NOTICES_TOPIC = "notifications.notices"
ALERTS_TOPIC = "notifications.alerts"


@event("notifications.notice.created", topic=NOTICES_TOPIC)
class NoticeCreated(EventPayload):
    """A notification was put in a recipient's inbox (household, cadre, township or county)."""

    notification_id: str
    recipient_kind: str
    recipient_id: str
    household_id: str | None
    region_code: str
    category: str
    severity: str
    cause_event_id: str


class AlertEvent(EventPayload):
    """A monitoring alert changed: raised for the cadre, escalated, acknowledged or resolved."""

    alert_id: str
    household_id: str | None
    region_code: str
    category: str
    severity: str
    status: str
    level: str
    actor: str


@event("notifications.alert.raised", topic=ALERTS_TOPIC)
class AlertRaised(AlertEvent):
    """An alert that someone must acknowledge (a monitoring signal, a same-day deadline, a contact)."""


@event("notifications.alert.escalated", topic=ALERTS_TOPIC)
class AlertEscalated(AlertEvent):
    """Nobody acknowledged it in time: the next level (township, then county) is told."""


@event("notifications.alert.acknowledged", topic=ALERTS_TOPIC)
class AlertAcknowledged(AlertEvent):
    """Someone took it on: escalation stops."""


@event("notifications.alert.resolved", topic=ALERTS_TOPIC)
class AlertResolved(AlertEvent):
    """The matter is dealt with."""
