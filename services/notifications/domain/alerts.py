"""Alerts that someone must acknowledge, and how they escalate (PagerDuty's model: an escalation
policy is a list of levels, each with the time it has to acknowledge; past it, the next level is told;
after the last level the reminder repeats a set number of times). Pure: `now` is an argument."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum


class AlertStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Level(StrEnum):
    CADRE = "cadre"
    TOWNSHIP = "township"
    COUNTY = "county"


@dataclass(frozen=True)
class EscalationStep:
    level: Level
    acknowledge_within: timedelta


@dataclass(frozen=True)
class EscalationPolicy:
    name: str
    steps: tuple[EscalationStep, ...]
    # Reminders to the last level after its time has passed, each `acknowledge_within` apart.
    repeat: int = 1

    def start_index(self, level: Level) -> int:
        for index, step in enumerate(self.steps):
            if step.level is level:
                return index
        return 0


# A monitoring signal or a "contact" should be acknowledged by the cadre within a day (the household may
# need a visit the same day its income collapses); a same-day payment at risk leaves hours, not days.
MONITORING = EscalationPolicy(
    "monitoring",
    (
        EscalationStep(Level.CADRE, timedelta(hours=24)),
        EscalationStep(Level.TOWNSHIP, timedelta(hours=24)),
        EscalationStep(Level.COUNTY, timedelta(hours=24)),
    ),
    repeat=2,
)
SAME_DAY = EscalationPolicy(
    "same_day",
    (EscalationStep(Level.TOWNSHIP, timedelta(hours=1)), EscalationStep(Level.COUNTY, timedelta(hours=1))),
    repeat=3,
)
POLICIES = {p.name: p for p in (MONITORING, SAME_DAY)}


def policy_for(category: str) -> EscalationPolicy:
    return SAME_DAY if category.startswith("aid.deadline") else MONITORING


class AlertStepRefused(Exception):
    """The alert is not in a state that allows this step (`rule` names why)."""

    def __init__(self, message: str, rule: str):
        super().__init__(message)
        self.rule = rule


@dataclass(frozen=True)
class Alert:
    id: str
    category: str
    severity: str
    household_id: str | None
    region_code: str
    cadre_id: str | None
    policy: str
    status: AlertStatus
    level_index: int
    reminders: int  # reminders sent to the last level
    raised_at: datetime
    due_at: datetime | None  # when it escalates (or reminds) unless acknowledged
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    resolved_by: str | None = None
    resolved_at: datetime | None = None

    @property
    def level(self) -> Level:
        return POLICIES[self.policy].steps[self.level_index].level


def raise_alert(
    alert_id: str,
    category: str,
    severity: str,
    household_id: str | None,
    region_code: str,
    cadre_id: str | None,
    first_level: Level,
    now: datetime,
) -> Alert:
    policy = policy_for(category)
    index = policy.start_index(first_level)
    return Alert(
        alert_id,
        category,
        severity,
        household_id,
        region_code,
        cadre_id,
        policy.name,
        AlertStatus.OPEN,
        index,
        0,
        now,
        now + policy.steps[index].acknowledge_within,
    )


def escalate(alert: Alert, now: datetime) -> Alert | None:
    """The alert after its due time has passed: the next level, or a reminder to the last one; None if
    nothing is due (acknowledged, resolved, not yet due, or the reminders are used up)."""
    if alert.status is not AlertStatus.OPEN or alert.due_at is None or now < alert.due_at:
        return None
    policy = POLICIES[alert.policy]
    if alert.level_index + 1 < len(policy.steps):
        index = alert.level_index + 1
        return replace(alert, level_index=index, due_at=now + policy.steps[index].acknowledge_within)
    if alert.reminders < policy.repeat:
        reminders = alert.reminders + 1
        due = now + policy.steps[-1].acknowledge_within if reminders < policy.repeat else None
        return replace(alert, reminders=reminders, due_at=due)
    return replace(alert, due_at=None)


def acknowledge(alert: Alert, actor: str, now: datetime) -> Alert:
    if alert.status is AlertStatus.RESOLVED:
        raise AlertStepRefused("a resolved alert cannot be acknowledged", "alert_resolved")
    if alert.status is AlertStatus.ACKNOWLEDGED:
        return alert  # acknowledging twice is the same acknowledgement (the mobile app retries)
    return replace(alert, status=AlertStatus.ACKNOWLEDGED, acknowledged_by=actor, acknowledged_at=now, due_at=None)


def resolve(alert: Alert, actor: str, now: datetime) -> Alert:
    if alert.status is AlertStatus.RESOLVED:
        return alert
    return replace(
        alert,
        status=AlertStatus.RESOLVED,
        resolved_by=actor,
        resolved_at=now,
        due_at=None,
        acknowledged_by=alert.acknowledged_by or actor,
        acknowledged_at=alert.acknowledged_at or now,
    )
