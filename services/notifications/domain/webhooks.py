"""Webhook delivery rules after the Standard Webhooks specification: only 2xx is success; retries follow a
schedule with backoff; `Retry-After` is honoured; 410 Gone disables the endpoint, as do five days of
failures; an exhausted delivery is failed and listed for an operator's replay. Pure: times are arguments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

# Delay before each attempt: the first at once, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
RETRY_SCHEDULE: tuple[timedelta, ...] = (
    timedelta(0),
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
DISABLE_AFTER_FAILING = timedelta(days=5)
# A receiver asking for more than this is asked again after it anyway (a typo must not park a delivery).
MAX_RETRY_AFTER = timedelta(hours=10)


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # attempts exhausted or the endpoint disabled: listed, replayable


class SubscriptionStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


@dataclass(frozen=True)
class AttemptOutcome:
    """What one attempt to deliver came to."""

    status_code: int | None  # None: no answer (connection refused, timeout)
    retry_after: timedelta | None = None
    error: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def gone(self) -> bool:
        return self.status_code == 410


@dataclass(frozen=True)
class NextStep:
    status: DeliveryStatus
    next_attempt_at: datetime | None
    disable_subscription: str | None = None  # why, when the endpoint is to be disabled


def after_attempt(
    attempts_made: int, outcome: AttemptOutcome, now: datetime, failing_since: datetime | None
) -> NextStep:
    """The delivery's next step after its `attempts_made`-th attempt (counting this one) came to `outcome`;
    `failing_since` is when the endpoint's current run of failures began (None if it was healthy)."""
    if outcome.succeeded:
        return NextStep(DeliveryStatus.SUCCEEDED, None)
    if outcome.gone:
        return NextStep(DeliveryStatus.FAILED, None, "the endpoint answered 410 Gone")
    if failing_since is not None and now - failing_since >= DISABLE_AFTER_FAILING:
        return NextStep(DeliveryStatus.FAILED, None, "every delivery failed for five days")
    if attempts_made >= len(RETRY_SCHEDULE):
        return NextStep(DeliveryStatus.FAILED, None)
    delay = RETRY_SCHEDULE[attempts_made]
    if outcome.retry_after is not None:
        delay = max(delay, min(outcome.retry_after, MAX_RETRY_AFTER))
    return NextStep(DeliveryStatus.PENDING, now + delay)


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """`Retry-After` as delay-seconds or an HTTP date (RFC 9110 §10.2.3); None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return timedelta(seconds=int(value))
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when - now, timedelta(0)) if when.tzinfo else None


def body(event_type: str, timestamp: datetime, data: dict[str, object]) -> dict[str, object]:
    """The Standard Webhooks payload: {type, timestamp, data}."""
    return {"type": event_type, "timestamp": timestamp.isoformat().replace("+00:00", "Z"), "data": data}
