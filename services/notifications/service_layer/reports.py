"""Reports, applied: the facts of each consumed event recorded beside the trace index (same transaction);
a report generated as a new version with its figures, its knowledge time and what changed since the
version before; a version re-run at its own knowledge time to show it reproduces; deadlines with a
reminder before each and an alert once one is missed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

from services.notifications.adapters.uow import NotificationsUnitOfWork
from services.notifications.domain import reports as rules
from services.notifications.domain.rules import Notice, RecipientKind, Severity
from services.notifications.service_layer.notices import Cause, deliver_notices
from shared.clock import BUSINESS_TZ, business_day
from shared.errors import NotFound, ValidationProblem
from shared.events import Envelope, EventPayload
from shared.ids import new_record_id
from shared.tracing import current_trace

# A report counts what was recorded this long before it was asked for: a consumer transaction still open
# at that moment commits facts stamped a little earlier, and they must not appear in a later re-run.
KNOWLEDGE_SETTLE = timedelta(seconds=5)


async def record_facts(uow: NotificationsUnitOfWork, events: Sequence[tuple[Envelope, EventPayload]], now: datetime):
    rows = [
        fact | {"recorded_at": now}
        for envelope, payload in events
        for fact in rules.facts_of(payload.event_type, envelope.id, envelope.time, envelope.data)
    ]
    if rows:
        await uow.reports.add_facts(rows)


def _period(kind: str, label: str) -> rules.Period:
    try:
        return rules.Period.parse(rules.ReportKind(kind), label)
    except ValueError as exc:
        raise ValidationProblem.field("period", "period_format", str(exc)) from None


def as_of(period: rules.Period, knowledge: datetime) -> date:
    """The period's last day; for a period still running, the day the report was made (provisional)."""
    return min(period.end, business_day(knowledge))


async def _figures(uow: NotificationsUnitOfWork, period: rules.Period, region_code: str, knowledge: datetime):
    until = as_of(period, knowledge)
    end_moment = datetime.combine(until + timedelta(days=1), time(0), tzinfo=BUSINESS_TZ)
    by_county = await uow.reports.county_figures(region_code, period.start, until, period.months, knowledge, end_moment)
    return rules.roll_up(by_county, region_code)


async def generate(
    uow: NotificationsUnitOfWork, kind: str, label: str, region_code: str, actor: str, today: date
) -> dict[str, Any]:
    """A new version of the report of a county, a city or the province: for a period that has ended, as of
    its last day; for the running one, as of today (provisional)."""
    period = _period(kind, label)
    level = rules.level_of(region_code)
    if period.start > today:
        raise ValidationProblem.field("period", "period_started", f"{label} has not begun (it starts {period.start})")
    now = uow.now()
    knowledge = now - KNOWLEDGE_SETTLE
    figures = await _figures(uow, period, region_code, knowledge)
    previous = await uow.reports.latest_version(period.kind.value, period.label, region_code)
    report = {
        "id": new_record_id(),
        "kind": period.kind.value,
        "period": period.label,
        "region_code": region_code,
        "version": (previous["version"] if previous else 0) + 1,
        "knowledge_at": knowledge,
        "generated_at": now,
        "generated_by": actor,
        "figures": figures,
        "differences": rules.differences(previous["figures"], figures) if previous else [],
        "submitted_at": None,
        "submitted_by": None,
    }
    await uow.reports.add_report(report)
    return view(report, period, level)


async def load(uow: NotificationsUnitOfWork, report_id: str, region_prefix: str) -> dict[str, Any]:
    report = await uow.reports.report(report_id)
    # Outside the caller's scope a report is reported as absent, so ids cannot be probed.
    if report is None or not report["region_code"].startswith(region_prefix):
        raise NotFound(f"no report {report_id}")
    return report


def view(report: dict[str, Any], period: rules.Period | None = None, level: rules.Level | None = None) -> dict:
    period = period or rules.Period.parse(rules.ReportKind(report["kind"]), report["period"])
    level = level or rules.level_of(report["region_code"])
    figures = report.get("figures")
    return {
        **{k: v for k, v in report.items() if k != "figures"},
        "period_start": period.start,
        "period_end": period.end,
        "as_of": as_of(period, report["knowledge_at"]),
        "provisional": as_of(period, report["knowledge_at"]) < period.end,
        "level": level.value,
        "due_on": period.due_on(level),
        "due_to": period.due_to(level),
        "source": rules.SOURCES[period.kind.value],
        **(
            {
                "regions": [
                    {"region_code": code, "figures": values, "aid_same_day_rate": rules.same_day_rate(values)}
                    for code, values in figures.items()
                ]
            }
            if figures is not None
            else {}
        ),
    }


async def reproduce(uow: NotificationsUnitOfWork, report: dict[str, Any]) -> dict[str, Any]:
    """The report computed again at its own knowledge time: the same figures, whatever changed since."""
    period = _period(report["kind"], report["period"])
    again = await _figures(uow, period, report["region_code"], report["knowledge_at"])
    found = rules.differences(report["figures"], again)
    return {
        "report_id": report["id"],
        "knowledge_at": report["knowledge_at"],
        "reproduced": not found,
        "differences": found,
    }


async def submit(uow: NotificationsUnitOfWork, report: dict[str, Any], actor: str) -> dict[str, Any]:
    """The responsible operator sends this version on (to the city or the province): the deadline is met."""
    await uow.reports.submit(report["id"], actor, uow.now())
    return view(await uow.reports.report(report["id"]) or report)


# --- deadlines -------------------------------------------------------------------------------------------
async def deadlines(uow: NotificationsUnitOfWork, region_prefix: str, today: date) -> list[dict[str, Any]]:
    """The deadlines of the reports being prepared today (last month's dispatch, last quarter's report) for
    every county and city under `region_prefix` with households on record."""
    counties = await uow.reports.regions(region_prefix)
    # A city's report is its own operators' (a token for the city or the province), not a county's.
    cities = sorted({code[:4] for code in counties}) if len(region_prefix) <= 4 else []
    found = []
    for kind in rules.ReportKind:
        period = rules.last_complete(kind, today)
        marks = await uow.reports.deadline_rows(kind.value, period.label)
        for level, codes in ((rules.Level.COUNTY, counties), (rules.Level.CITY, cities)):
            due = period.due_on(level)
            if due is None or not codes:
                continue
            submitted = await uow.reports.submitted(kind.value, period.label, codes)
            for code in codes:
                mark = marks.get(code) or {}
                found.append(
                    {
                        "kind": kind.value,
                        "period": period.label,
                        "region_code": code,
                        "level": level.value,
                        "due_on": due,
                        "due_to": period.due_to(level),
                        "state": rules.deadline_state(due, today, code in submitted),
                        "reminded_at": mark.get("reminded_at"),
                        "missed_at": mark.get("missed_at"),
                    }
                )
    return found


async def check_deadlines(uow: NotificationsUnitOfWork, today: date, now: datetime) -> int:
    """A reminder to the responsible operators when a deadline is near, an alert once it is missed; each
    once per report and period (recorded in report_deadlines)."""
    notices: list[tuple[Notice, Cause]] = []
    for deadline in await deadlines(uow, "", today):
        state, code = deadline["state"], deadline["region_code"]
        if (
            state not in ("due_soon", "missed")
            or deadline["missed_at"]
            or (state == "due_soon" and deadline["reminded_at"])
        ):
            continue
        kind = RecipientKind.CITY if deadline["level"] == "city" else RecipientKind.COUNTY
        fields = {
            "report_kind": deadline["kind"],
            "period": deadline["period"],
            "due_on": deadline["due_on"].isoformat(),
            "due_to": deadline["due_to"],
        }
        cause = Cause(f"report:{deadline['kind']}:{deadline['period']}:{code}:{state}", "", now, current_trace())
        if state == "due_soon":
            reminder = Notice(kind, code, None, code, "report.due_soon", Severity.WARNING, fields, direct=True)
            notices.append((reminder, cause))
            await uow.reports.mark_deadline(
                deadline["kind"], deadline["period"], code, deadline["due_on"], reminded_at=now
            )
        else:
            notices.append(
                (Notice(kind, code, None, code, "report.missed", Severity.CRITICAL, fields, alert=True), cause)
            )
            await uow.reports.mark_deadline(
                deadline["kind"], deadline["period"], code, deadline["due_on"], missed_at=now
            )
    await deliver_notices(uow, notices, now)
    return len(notices)
