"""Grouping operator notices the way Alertmanager groups alerts: notices to one operator recipient of one
category wait `group_wait` after the first, so those arriving together become one digest; after a digest,
the next one waits at least `group_interval`. A province standard raise then reaches each township as a
handful of digests, not one notice per household. Critical notices are never grouped (rules.Notice.grouped).
Pure: times are arguments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

GROUP_WAIT = timedelta(seconds=30)
GROUP_INTERVAL = timedelta(minutes=5)


@dataclass(frozen=True)
class GroupTiming:
    wait: timedelta = GROUP_WAIT
    interval: timedelta = GROUP_INTERVAL


def group_key(recipient_kind: str, recipient_id: str, category: str) -> str:
    return f"{recipient_kind}:{recipient_id}:{category}"


def flush_due_at(first_pending_at: datetime, last_flushed_at: datetime | None, timing: GroupTiming) -> datetime:
    """When a group holding notices since `first_pending_at` sends its digest."""
    due = first_pending_at + timing.wait
    if last_flushed_at is not None:
        due = max(due, last_flushed_at + timing.interval)
    return due


def digest_window(first_pending_at: datetime, now: datetime) -> str:
    minutes = max(1, round((now - first_pending_at).total_seconds() / 60))
    return f"近 {minutes} 分钟"
