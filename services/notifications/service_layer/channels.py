"""Channels beyond the inbox, and the scheduled reminders: an SMS to the cadre when a warning stays unread
(fallback), and the "four contacts" holiday reminder to every cadre with households assigned."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from services.notifications.adapters.sms import SmsGateway
from services.notifications.adapters.uow import NotificationsUnitOfWork
from services.notifications.domain.holidays import SOURCE, reminders_due
from services.notifications.domain.rules import Notice, RecipientKind, Severity
from services.notifications.domain.templates import SMS_TEMPLATES
from services.notifications.service_layer.notices import Cause, deliver_notices
from shared.ids import new_record_id
from shared.tracing import current_trace

# An SMS the gateway refused is tried again after these delays, then given up (listed as failed).
SMS_RETRIES = (timedelta(minutes=1), timedelta(minutes=10), timedelta(hours=1))


async def queue_sms_fallbacks(uow: NotificationsUnitOfWork, now: datetime, unread_for: timedelta) -> int:
    """An SMS to the cadre for each warning left unread for `unread_for`: the cadre's own notices, and the
    households' (the cadre tells a household that may not use the app). Once per notice."""
    rows = []
    for notice in await uow.sms.unread_without_sms(now - unread_for, limit=1000):
        cadre = notice["recipient_id"] if notice["recipient_kind"] == "cadre" else notice["cadre_id"]
        if not cadre:
            continue  # a household without a cadre: the township's open alerts cover it
        rows.append(
            {
                "id": new_record_id(),
                "notification_id": notice["id"],
                "recipient_kind": "cadre",
                "recipient_id": cadre,
                "text": SMS_TEMPLATES[notice["recipient_kind"]].format(title=notice["title"]),
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
        )
    await uow.sms.add(rows)
    return len(rows)


async def send_sms(uow: NotificationsUnitOfWork, gateway: SmsGateway, now: datetime, limit: int = 100) -> int:
    sent = 0
    for message in await uow.sms.claim_due(now, limit):
        error = await gateway.send(message["id"], message["recipient_kind"], message["recipient_id"], message["text"])
        attempts = message["attempts"] + 1
        if error is None:
            await uow.sms.record(message["id"], status="sent", attempts=attempts, sent_at=now, next_attempt_at=None)
            sent += 1
        elif attempts > len(SMS_RETRIES):
            await uow.sms.record(
                message["id"], status="failed", attempts=attempts, last_error=error, next_attempt_at=None
            )
        else:
            await uow.sms.record(
                message["id"], attempts=attempts, last_error=error, next_attempt_at=now + SMS_RETRIES[attempts - 1]
            )
    return sent


async def holiday_reminders(
    uow: NotificationsUnitOfWork, today: date, now: datetime, holidays: Mapping[date, str]
) -> int:
    """The holiday contact reminder to every cadre with households assigned, once per holiday (dedupe)."""
    due = reminders_due(today, holidays)
    if not due:
        return 0
    cadres = await uow.households.cadres_with_households()
    notices: list[tuple[Notice, Cause]] = []
    for holiday in due:
        cause = Cause(
            f"holiday:{holiday.day.isoformat()}",
            "",
            datetime(holiday.day.year, 1, 1, tzinfo=now.tzinfo),
            current_trace(),
        )
        for cadre_id, region in cadres:
            fields: dict[str, Any] = {"holiday": holiday.name, "day": holiday.day.isoformat(), "source": SOURCE}
            notices.append(
                (Notice(RecipientKind.CADRE, cadre_id, None, region, "contact.holiday", Severity.INFO, fields), cause)
            )
    # The cause's time is the holiday's year: one reminder per cadre and holiday, however often this runs.
    await deliver_notices(uow, notices, now, dedupe_window=timedelta(days=366))
    return len(notices)
