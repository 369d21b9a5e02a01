"""Every SQL statement of the notifications service, in its own terms. The rules are the domain's."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, exists, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement

from services.notifications.adapters import orm
from services.notifications.domain.alerts import Alert, AlertStatus
from services.notifications.domain.reports import GROUP_OF_STATUS, GROUPS
from services.notifications.domain.rules import HouseholdEntry
from services.notifications.domain.traces import TraceEvent
from services.notifications.domain.webhooks import DeliveryStatus, SubscriptionStatus
from shared.db import insert_many, one_of


def _insert(session: AsyncSession, table: Any) -> Any:
    return (pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert)(table)


def _locking(session: AsyncSession, query: Any, *, skip_locked: bool = False) -> Any:
    if session.bind.dialect.name == "postgresql":
        return query.with_for_update(skip_locked=skip_locked)
    return query


class HouseholdDirectory:
    """Region and cadre of each household, from the registry's events (the newest version wins)."""

    def __init__(self, session: AsyncSession):
        self.session = session

    async def record(self, rows: list[dict[str, Any]]) -> None:
        newest: dict[str, dict[str, Any]] = {}
        for row in rows:
            if row["household_id"] not in newest or newest[row["household_id"]]["version"] < row["version"]:
                newest[row["household_id"]] = row
        if not newest:
            return
        h = orm.households
        statement = _insert(self.session, h)
        statement = statement.on_conflict_do_update(
            index_elements=[h.c.household_id],
            set_={
                "region_code": statement.excluded.region_code,
                "cadre_id": statement.excluded.cadre_id,
                "version": statement.excluded.version,
            },
            where=h.c.version < statement.excluded.version,
        )
        await self.session.execute(statement, sorted(newest.values(), key=lambda r: r["household_id"]))

    async def get_many(self, household_ids: Sequence[str]) -> dict[str, HouseholdEntry]:
        if not household_ids:
            return {}
        h = orm.households.c
        rows = await self.session.execute(
            select(h.household_id, h.region_code, h.cadre_id).where(one_of(self.session, h.household_id, household_ids))
        )
        return {r.household_id: HouseholdEntry(r.household_id, r.region_code, r.cadre_id) for r in rows}

    async def cadres_with_households(self) -> list[tuple[str, str]]:
        """(cadre id, the region of one of its households) for every cadre with a household assigned."""
        h = orm.households.c
        rows = await self.session.execute(
            select(h.cadre_id, func.min(h.region_code)).where(h.cadre_id.is_not(None)).group_by(h.cadre_id)
        )
        return [(r[0], r[1]) for r in rows]


class TraceIndex:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def add(self, rows: list[dict[str, Any]]) -> None:
        """Index events (COPY for many): each event is indexed once, as the consumer's inbox lets each through
        once and the events this service emits are new."""
        await insert_many(self.session, orm.trace_events, rows)

    @staticmethod
    def _event(row: Any) -> TraceEvent:
        return TraceEvent(
            row.event_id,
            row.type,
            row.service,
            row.trace_id,
            row.causation_id,
            row.household_id,
            row.region_code,
            row.time,
            row.received_at,
        )

    async def of_trace(self, trace_id: str, limit: int = 5000) -> list[TraceEvent]:
        t = orm.trace_events.c
        rows = await self.session.execute(
            select(orm.trace_events).where(t.trace_id == trace_id).order_by(t.time, t.event_id).limit(limit)
        )
        return [self._event(r) for r in rows]

    async def search(
        self,
        *,
        region_prefix: str,
        household_id: str | None = None,
        event_type: str | None = None,
        region_code: str | None = None,
        time_from: datetime | None = None,
        time_to: datetime | None = None,
        after: tuple[datetime, str] | None = None,
        limit: int = 50,
    ) -> list[TraceEvent]:
        """Events in time order (then id): deterministic, so a cursor resumes exactly."""
        t = orm.trace_events.c
        where: list[ColumnElement[bool]] = [t.region_code.startswith(region_prefix)] if region_prefix else []
        if household_id:
            where.append(t.household_id == household_id)
        if event_type:
            where.append(t.type == event_type)
        if region_code:
            where.append(t.region_code.startswith(region_code))
        if time_from:
            where.append(t.time >= time_from)
        if time_to:
            where.append(t.time < time_to)
        if after:
            where.append(or_(t.time > after[0], and_(t.time == after[0], t.event_id > after[1])))
        rows = await self.session.execute(
            select(orm.trace_events).where(*where).order_by(t.time, t.event_id).limit(limit)
        )
        return [self._event(r) for r in rows]


class NotificationRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def add_deduplicated(self, rows: list[dict[str, Any]]) -> set[str]:
        """Inserts the notifications whose dedupe key is new; the ids of those inserted. Two transactions
        inserting the same key: the database keeps one, the other inserts nothing."""
        if not rows:
            return set()
        n = orm.notifications
        statement = _insert(self.session, n).on_conflict_do_nothing(index_elements=[n.c.dedupe_key]).returning(n.c.id)
        return set((await self.session.execute(statement, rows)).scalars())

    @staticmethod
    def _visible(recipients: Sequence[tuple[str, str, bool]], region_prefix: str) -> ColumnElement[bool]:
        """(kind, id, prefix?) pairs: a prefix matches every recipient id under it (operators' regions);
        and only what concerns the caller's region, whoever it is addressed to."""
        n = orm.notifications.c
        return and_(
            n.region_code.startswith(region_prefix),
            or_(
                *(
                    and_(n.recipient_kind == kind, n.recipient_id.startswith(rid) if prefix else n.recipient_id == rid)
                    for kind, rid, prefix in recipients
                )
            ),
        )

    async def inbox(
        self,
        recipients: Sequence[tuple[str, str, bool]],
        region_prefix: str,
        *,
        status: str | None,
        severity: str | None,
        before: tuple[datetime, str] | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        n = orm.notifications.c
        where = [self._visible(recipients, region_prefix)]
        if status:
            where.append(n.status == status)
        else:
            where.append(n.status != "archived")
        if severity:
            where.append(n.severity == severity)
        if before:
            where.append(or_(n.created_at < before[0], and_(n.created_at == before[0], n.id < before[1])))
        sms = orm.sms_messages.c
        rows = await self.session.execute(
            select(orm.notifications, sms.status.label("sms_status"))
            .outerjoin(orm.sms_messages, sms.notification_id == n.id)
            .where(*where)
            .order_by(n.created_at.desc(), n.id.desc())
            .limit(limit)
        )
        return [dict(r._mapping) for r in rows]

    async def counts(self, recipients: Sequence[tuple[str, str, bool]], region_prefix: str) -> dict[str, int]:
        """Exact counts by status, read from the notifications themselves in one statement."""
        n = orm.notifications.c
        rows = await self.session.execute(
            select(n.status, func.count()).where(self._visible(recipients, region_prefix)).group_by(n.status)
        )
        return {status: count for status, count in rows}

    async def get(
        self, notification_id: str, recipients: Sequence[tuple[str, str, bool]], region_prefix: str
    ) -> dict[str, Any] | None:
        n = orm.notifications.c
        row = (
            await self.session.execute(
                _locking(
                    self.session,
                    select(orm.notifications).where(n.id == notification_id, self._visible(recipients, region_prefix)),
                )
            )
        ).first()
        return dict(row._mapping) if row else None

    async def set_status(self, notification_id: str, status: str, read_at: datetime | None) -> None:
        n = orm.notifications
        await self.session.execute(update(n).where(n.c.id == notification_id).values(status=status, read_at=read_at))


class GroupRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def add_pending(self, rows: list[dict[str, Any]]) -> None:
        """Adds notices to their groups (one row per key; `pending` counts what the next digest holds)."""
        if not rows:
            return
        g = orm.notification_groups
        merged: dict[str, dict[str, Any]] = {}
        for row in rows:
            if row["key"] in merged:
                merged[row["key"]]["pending"] += row["pending"]
                merged[row["key"]]["fields"] = row["fields"]
            else:
                merged[row["key"]] = dict(row)
        statement = _insert(self.session, g)
        statement = statement.on_conflict_do_update(
            index_elements=[g.c.key],
            set_={
                "pending": g.c.pending + statement.excluded.pending,
                "fields": statement.excluded.fields,
                # A group that had nothing pending starts waiting now.
                "first_pending_at": func.coalesce(g.c.first_pending_at, statement.excluded.first_pending_at),
            },
        )
        await self.session.execute(statement, sorted(merged.values(), key=lambda r: r["key"]))

    async def claim_due(
        self, now: datetime, wait: timedelta, interval: timedelta, limit: int = 500
    ) -> list[dict[str, Any]]:
        """Groups whose digest is due (domain.grouping.flush_due_at, as a filter), locked: only those, so
        the consumers adding to the other groups never wait on this."""
        g = orm.notification_groups.c
        query = (
            select(orm.notification_groups)
            .where(
                g.pending > 0,
                g.first_pending_at <= now - wait,
                or_(g.last_flushed_at.is_(None), g.last_flushed_at <= now - interval),
            )
            .order_by(g.key)
            .limit(limit)
        )
        rows = await self.session.execute(_locking(self.session, query, skip_locked=True))
        return [dict(r._mapping) for r in rows]

    async def flushed(self, key: str, now: datetime) -> None:
        g = orm.notification_groups
        await self.session.execute(
            update(g).where(g.c.key == key).values(pending=0, first_pending_at=None, last_flushed_at=now)
        )


class AlertRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    @staticmethod
    def _row(alert: Alert) -> dict[str, Any]:
        row = asdict(alert)
        row["status"] = alert.status.value
        return row

    @staticmethod
    def _alert(row: Any) -> Alert:
        fields = {k: getattr(row, k) for k in Alert.__dataclass_fields__}
        fields["status"] = AlertStatus(fields["status"])
        return Alert(**fields)

    async def add_deduplicated(self, alerts: list[tuple[Alert, dict[str, Any]]]) -> set[str]:
        """Inserts alerts whose dedupe key is new (extra columns: dedupe_key, cause, trace); ids inserted."""
        if not alerts:
            return set()
        a = orm.alerts
        statement = _insert(self.session, a).on_conflict_do_nothing(index_elements=[a.c.dedupe_key]).returning(a.c.id)
        return set(
            (await self.session.execute(statement, [self._row(alert) | extra for alert, extra in alerts])).scalars()
        )

    async def get(self, alert_id: str) -> tuple[Alert, dict[str, Any]] | None:
        a = orm.alerts.c
        row = (await self.session.execute(_locking(self.session, select(orm.alerts).where(a.id == alert_id)))).first()
        return (self._alert(row), {"cause_event_id": row.cause_event_id, "trace_id": row.trace_id}) if row else None

    async def save(self, alert: Alert) -> None:
        a = orm.alerts
        await self.session.execute(update(a).where(a.c.id == alert.id).values(**self._row(alert)))

    async def claim_due(self, now: datetime, limit: int = 500) -> list[tuple[Alert, dict[str, Any]]]:
        a = orm.alerts.c
        query = (
            select(orm.alerts)
            .where(a.status == AlertStatus.OPEN.value, a.due_at <= now)
            .order_by(a.due_at, a.id)
            .limit(limit)
        )
        rows = await self.session.execute(_locking(self.session, query, skip_locked=True))
        return [(self._alert(r), {"cause_event_id": r.cause_event_id, "trace_id": r.trace_id}) for r in rows]

    async def search(
        self,
        *,
        region_prefix: str,
        cadre_id: str | None,
        status: str | None,
        household_id: str | None,
        before: tuple[datetime, str] | None,
        limit: int,
    ) -> list[Alert]:
        a = orm.alerts.c
        where: list[ColumnElement[bool]] = [a.region_code.startswith(region_prefix)] if region_prefix else []
        if cadre_id is not None:
            where.append(a.cadre_id == cadre_id)
        if status:
            where.append(a.status == status)
        if household_id:
            where.append(a.household_id == household_id)
        if before:
            where.append(or_(a.raised_at < before[0], and_(a.raised_at == before[0], a.id < before[1])))
        rows = await self.session.execute(
            select(orm.alerts).where(*where).order_by(a.raised_at.desc(), a.id.desc()).limit(limit)
        )
        return [self._alert(r) for r in rows]

    async def add_steps(self, steps: list[dict[str, Any]]) -> None:
        """Appends steps (alert_id, step, level, actor, at); each alert's seq continues from its last."""
        if not steps:
            return
        s = orm.alert_steps.c
        ids = {step["alert_id"] for step in steps}
        found = await self.session.execute(
            select(s.alert_id, func.max(s.seq)).where(s.alert_id.in_(ids)).group_by(s.alert_id)
        )
        last: dict[str, int] = {alert_id: seq for alert_id, seq in found}
        rows = []
        for step in steps:
            last[step["alert_id"]] = last.get(step["alert_id"], 0) + 1
            rows.append(step | {"seq": last[step["alert_id"]]})
        await insert_many(self.session, orm.alert_steps, rows)

    async def steps(self, alert_id: str) -> list[dict[str, Any]]:
        s = orm.alert_steps.c
        rows = await self.session.execute(
            select(s.step, s.level, s.actor, s.at).where(s.alert_id == alert_id).order_by(s.seq)
        )
        return [dict(r._mapping) for r in rows]


class SubscriptionRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def add(self, row: dict[str, Any]) -> None:
        await self.session.execute(orm.subscriptions.insert().values(row))

    async def get(self, subscription_id: str, *, lock: bool = False) -> dict[str, Any] | None:
        s = orm.subscriptions.c
        query = select(orm.subscriptions).where(s.id == subscription_id)
        row = (await self.session.execute(_locking(self.session, query) if lock else query)).first()
        return dict(row._mapping) if row else None

    async def visible(self, region_prefix: str, owner: str | None) -> list[dict[str, Any]]:
        s = orm.subscriptions.c
        where: list[ColumnElement[bool]] = [s.region_code.startswith(region_prefix)]
        if owner is not None:
            where.append(s.owner == owner)
        rows = await self.session.execute(select(orm.subscriptions).where(*where).order_by(s.created_at, s.id))
        return [dict(r._mapping) for r in rows]

    async def active(self) -> list[dict[str, Any]]:
        s = orm.subscriptions.c
        rows = await self.session.execute(
            select(s.id, s.event_types, s.region_code).where(s.status == SubscriptionStatus.ACTIVE.value)
        )
        return [dict(r._mapping) for r in rows]

    async def change(self, subscription_id: str, **values: Any) -> None:
        s = orm.subscriptions
        await self.session.execute(update(s).where(s.c.id == subscription_id).values(**values))


class DeliveryRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def add_many(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            statement = _insert(self.session, orm.deliveries)
            await self.session.execute(
                statement.on_conflict_do_nothing(index_elements=["subscription_id", "event_id"]), rows
            )

    async def claim_due(self, now: datetime, limit: int) -> list[dict[str, Any]]:
        """Due deliveries, at most one per (subscription, household): a household's events reach an
        endpoint in order, the next only after the one before it has succeeded or failed for good."""
        d = orm.deliveries
        earlier = d.alias("earlier")
        query = (
            select(d, orm.subscriptions.c.url, orm.subscriptions.c.secrets, orm.subscriptions.c.failing_since)
            .join(orm.subscriptions, orm.subscriptions.c.id == d.c.subscription_id)
            .where(
                d.c.status == DeliveryStatus.PENDING.value,
                d.c.next_attempt_at <= now,
                ~exists().where(
                    earlier.c.subscription_id == d.c.subscription_id,
                    earlier.c.ordering_key == d.c.ordering_key,
                    earlier.c.status == DeliveryStatus.PENDING.value,
                    earlier.c.seq < d.c.seq,
                ),
            )
            .order_by(d.c.seq)
            .limit(limit)
        )
        if self.session.bind.dialect.name == "postgresql":
            query = query.with_for_update(of=d, skip_locked=True)
        return [dict(r._mapping) for r in await self.session.execute(query)]

    async def record_attempts(self, outcomes: list[dict[str, Any]], attempts: list[dict[str, Any]]) -> None:
        """Each delivery's new state (id, status, attempts, next_attempt_at, last_status_code, last_error,
        delivered_at) and the attempt made."""
        d = orm.deliveries
        for outcome in outcomes:
            await self.session.execute(
                update(d).where(d.c.id == outcome["id"]).values({k: v for k, v in outcome.items() if k != "id"})
            )
        await insert_many(self.session, orm.delivery_attempts, attempts)

    async def fail_pending_of(self, subscription_id: str, reason: str) -> None:
        d = orm.deliveries
        await self.session.execute(
            update(d)
            .where(d.c.subscription_id == subscription_id, d.c.status == DeliveryStatus.PENDING.value)
            .values(status=DeliveryStatus.FAILED.value, next_attempt_at=None, last_error=reason)
        )

    async def of_subscription(
        self, subscription_id: str, status: str | None, after_seq: int | None, limit: int
    ) -> list[dict[str, Any]]:
        d = orm.deliveries.c
        where = [d.subscription_id == subscription_id]
        if status:
            where.append(d.status == status)
        if after_seq is not None:
            where.append(d.seq > after_seq)
        rows = await self.session.execute(select(orm.deliveries).where(*where).order_by(d.seq).limit(limit))
        return [dict(r._mapping) for r in rows]

    async def get(self, delivery_id: str) -> dict[str, Any] | None:
        d = orm.deliveries.c
        row = (
            await self.session.execute(_locking(self.session, select(orm.deliveries).where(d.id == delivery_id)))
        ).first()
        return dict(row._mapping) if row else None

    async def attempts(self, delivery_id: str) -> list[dict[str, Any]]:
        a = orm.delivery_attempts.c
        rows = await self.session.execute(
            select(a.attempt, a.at, a.status_code, a.error, a.duration_ms)
            .where(a.delivery_id == delivery_id)
            .order_by(a.attempt)
        )
        return [dict(r._mapping) for r in rows]

    async def replay(self, delivery_id: str, now: datetime) -> None:
        d = orm.deliveries
        await self.session.execute(
            update(d)
            .where(d.c.id == delivery_id)
            .values(status=DeliveryStatus.PENDING.value, next_attempt_at=now, delivered_at=None)
        )


class SmsRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def unread_without_sms(self, created_before: datetime, limit: int) -> list[dict[str, Any]]:
        """Warning or critical notices to a household or a cadre still unread since before `created_before`
        and not yet followed by an SMS, with the household's cadre."""
        n, sms, h = orm.notifications.c, orm.sms_messages.c, orm.households.c
        rows = await self.session.execute(
            select(n.id, n.recipient_kind, n.recipient_id, n.title, h.cadre_id)
            .outerjoin(orm.households, h.household_id == n.household_id)
            .where(
                n.status == "unread",
                n.created_at <= created_before,
                n.severity.in_(("warning", "critical")),
                n.recipient_kind.in_(("household", "cadre")),
                ~exists().where(sms.notification_id == n.id),
            )
            .order_by(n.created_at, n.id)
            .limit(limit)
        )
        return [dict(r._mapping) for r in rows]

    async def add(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            statement = _insert(self.session, orm.sms_messages)
            await self.session.execute(statement.on_conflict_do_nothing(index_elements=["notification_id"]), rows)

    async def claim_due(self, now: datetime, limit: int) -> list[dict[str, Any]]:
        sms = orm.sms_messages.c
        query = (
            select(orm.sms_messages)
            .where(sms.status == "pending", sms.next_attempt_at <= now)
            .order_by(sms.next_attempt_at, sms.id)
            .limit(limit)
        )
        return [dict(r._mapping) for r in await self.session.execute(_locking(self.session, query, skip_locked=True))]

    async def record(self, sms_id: str, **values: Any) -> None:
        table = orm.sms_messages
        await self.session.execute(update(table).where(table.c.id == sms_id).values(**values))


FACT_COLUMNS = [c.name for c in orm.report_facts.columns]
# The register's statuses counted as monitoring groups (marginal is its own), and the groups' names.
GROUP_OF_STATUS_SQL = GROUP_OF_STATUS | {"marginal": "marginal"}
GROUP_STATUSES = list(GROUP_OF_STATUS_SQL)
GROUPS_SQL = list(GROUPS)


class ReportRepository:
    """Report facts and generated reports. Figures are computed here, set-based, per county: the latest
    fact of each key that took effect by the period's end and was recorded by the knowledge time."""

    def __init__(self, session: AsyncSession):
        self.session = session

    async def add_facts(self, rows: list[dict[str, Any]]) -> None:
        """Facts of events the consumer's inbox lets through once (COPY for many)."""
        await insert_many(self.session, orm.report_facts, [{c: row.get(c) for c in FACT_COLUMNS} for row in rows])

    def _facts(self, kind: str, knowledge: datetime, until: date, since: date | None = None) -> Any:
        f = orm.report_facts.c
        query = select(orm.report_facts).where(f.kind == kind, f.recorded_at <= knowledge, f.effective_on <= until)
        if since is not None:
            query = query.where(f.effective_on >= since)
        return query

    def _latest(self, kind: str, knowledge: datetime, until: date) -> Any:
        """The latest fact of each key as of `until`, as known at `knowledge`."""
        f = orm.report_facts.c
        rank = (
            func.row_number()
            .over(partition_by=f.key, order_by=(f.effective_on.desc(), f.sequence.desc(), f.recorded_at.desc()))
            .label("rank")
        )
        ranked = self._facts(kind, knowledge, until).add_columns(rank).subquery()
        # Computed once per report: left to the planner, a selective region filter outside it turned the
        # window into the inner side of a nested loop, computed again for every row.
        return (
            select(ranked)
            .where(ranked.c.rank == 1)
            .cte(f"latest_{kind}")
            .prefix_with("MATERIALIZED", dialect="postgresql")
        )

    async def county_figures(
        self, prefix: str, start: date, end: date, months: Sequence[str], knowledge: datetime, end_moment: datetime
    ) -> dict[str, dict[str, int]]:
        """Every report figure of every county under `prefix` (see domain/reports.py for their names)."""
        figures: dict[str, dict[str, int]] = {}

        def add(county: str, name: str, value: Any) -> None:
            row = figures.setdefault(county, {})
            row[name] = row.get(name, 0) + int(value or 0)

        households = self._latest("household", knowledge, end)
        h = households.c
        county = func.substr(h.region_code, 1, 6)
        for code, status, count in await self.session.execute(
            select(county, h.category, func.count())
            .where(h.region_code.startswith(prefix), h.category.in_(GROUP_STATUSES))
            .group_by(county, h.category)
        ):
            add(code, f"monitoring_households.{GROUP_OF_STATUS_SQL[status]}", count)

        decisions = self._latest("decision", knowledge, end)
        d = decisions.c
        county = func.substr(d.region_code, 1, 6)
        people = func.coalesce(d.people, h.people, 1)
        for code, category, count, total in await self.session.execute(
            select(county, d.category, func.count(func.distinct(d.household_id)), func.sum(people))
            .select_from(decisions.outerjoin(households, h.key == d.household_id))
            .where(d.region_code.startswith(prefix), d.category.is_not(None))
            .group_by(county, d.category)
        ):
            add(code, f"households.{category}", count)
            add(code, f"people.{category}", total)

        payments = self._latest("payment", knowledge, end)
        p = payments.c
        county = func.substr(p.region_code, 1, 6)
        for code, programme, amount, paid_households in await self.session.execute(
            select(county, p.category, func.sum(p.amount_fen), func.count(func.distinct(p.household_id)))
            .where(p.region_code.startswith(prefix), p.status == "paid", p.month.in_(list(months)))
            .group_by(county, p.category)
        ):
            add(code, f"paid_fen.{programme}", amount)
            if programme == "disaster_relief":
                add(code, "relief.paid_fen", amount)
                add(code, "relief.households", paid_households)

        f = orm.report_facts.c
        approved = self._facts("aid", knowledge, end, start).where(f.status == "approved").subquery()
        a = approved.c
        county = func.substr(a.region_code, 1, 6)
        for code, kind, cause, count in await self.session.execute(
            select(county, a.category, a.cause, func.count(func.distinct(a.key)))
            .where(a.region_code.startswith(prefix))
            .group_by(county, a.category, a.cause)
        ):
            add(code, f"aid_cases.{kind}.{cause}", count)
        paid = orm.report_facts.alias("paid")
        on_time = exists().where(
            paid.c.kind == "aid",
            paid.c.key == a.key,
            paid.c.status == "paid",
            paid.c.recorded_at <= knowledge,
            paid.c.occurred_at <= a.deadline,
        )
        for code, cases, in_time in await self.session.execute(
            select(county, func.count(func.distinct(a.key)), func.count(func.distinct(case((on_time, a.key)))))
            .where(a.region_code.startswith(prefix), a.deadline.is_not(None))
            .group_by(county)
        ):
            add(code, "aid_same_day.cases", cases)
            add(code, "aid_same_day.on_time", in_time)

        signals = self._facts("signal", knowledge, end, start).subquery()
        s = signals.c
        county = func.substr(s.region_code, 1, 6)
        al = orm.alerts.c
        handled_by = min(knowledge, end_moment)
        handled = exists().where(
            al.cause_event_id == s.event_id, or_(al.acknowledged_at <= handled_by, al.resolved_at <= handled_by)
        )
        for code, group, raised, dealt in await self.session.execute(
            select(county, s.category, func.count(), func.count(case((handled, s.key))))
            .where(s.region_code.startswith(prefix), s.category.in_(GROUPS_SQL))
            .group_by(county, s.category)
        ):
            add(code, f"signals_raised.{group}", raised)
            add(code, f"signals_handled.{group}", dealt)

        exits = self._facts("exit", knowledge, end, start).subquery()
        e = exits.c
        county = func.substr(e.region_code, 1, 6)
        for code, count in await self.session.execute(
            select(county, func.count(func.distinct(e.key))).where(e.region_code.startswith(prefix)).group_by(county)
        ):
            add(code, "exits.households", count)
        return figures

    async def add_report(self, report: dict[str, Any]) -> None:
        await self.session.execute(orm.reports.insert().values(**report))

    async def report(self, report_id: str) -> dict[str, Any] | None:
        row = (await self.session.execute(select(orm.reports).where(orm.reports.c.id == report_id))).first()
        return dict(row._mapping) if row else None

    async def latest_version(self, kind: str, period: str, region_code: str) -> dict[str, Any] | None:
        r = orm.reports.c
        row = (
            await self.session.execute(
                select(orm.reports)
                .where(r.kind == kind, r.period == period, r.region_code == region_code)
                .order_by(r.version.desc())
                .limit(1)
            )
        ).first()
        return dict(row._mapping) if row else None

    async def submit(self, report_id: str, by: str, at: datetime) -> None:
        r = orm.reports.c
        await self.session.execute(
            update(orm.reports)
            .where(r.id == report_id, r.submitted_at.is_(None))
            .values(submitted_at=at, submitted_by=by)
        )

    async def find(self, prefix: str, kind: str | None, period: str | None, limit: int) -> list[dict[str, Any]]:
        r = orm.reports.c
        query = select(*(c for c in orm.reports.c if c.name != "figures")).where(r.region_code.startswith(prefix))
        if kind:
            query = query.where(r.kind == kind)
        if period:
            query = query.where(r.period == period)
        rows = await self.session.execute(query.order_by(r.generated_at.desc(), r.id).limit(limit))
        return [dict(row._mapping) for row in rows]

    async def submitted(self, kind: str, period: str, region_codes: Sequence[str]) -> set[str]:
        r = orm.reports.c
        rows = await self.session.execute(
            select(r.region_code).where(
                r.kind == kind, r.period == period, r.region_code.in_(list(region_codes)), r.submitted_at.is_not(None)
            )
        )
        return set(rows.scalars())

    async def regions(self, prefix: str) -> list[str]:
        """Counties that have households on record (their cities follow from their codes): from the
        household directory, one row per household, not from every fact of every version."""
        h = orm.households.c
        county = func.substr(h.region_code, 1, 6)
        rows = await self.session.execute(select(func.distinct(county)).where(h.region_code.startswith(prefix)))
        return sorted(code for code in rows.scalars() if code and len(code) == 6)

    async def deadline_rows(self, kind: str, period: str) -> dict[str, dict[str, Any]]:
        d = orm.report_deadlines.c
        rows = await self.session.execute(select(orm.report_deadlines).where(d.kind == kind, d.period == period))
        return {row.region_code: dict(row._mapping) for row in rows}

    async def mark_deadline(self, kind: str, period: str, region_code: str, due_on: date, **values: Any) -> None:
        d = orm.report_deadlines
        statement = _insert(self.session, d).values(
            kind=kind, period=period, region_code=region_code, due_on=due_on, **values
        )
        await self.session.execute(
            statement.on_conflict_do_update(index_elements=[d.c.kind, d.c.period, d.c.region_code], set_=values)
        )
