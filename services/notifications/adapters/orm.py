"""The notifications service's tables: the household directory, the trace index, inbox notifications and
their groups, alerts with their steps, webhook subscriptions and deliveries."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, Date, Index, Integer, MetaData, String, Table, Text, UniqueConstraint

from shared.db import Code, UtcDateTime
from shared.platform_tables import BigId, add_platform_tables

metadata = MetaData()
platform = add_platform_tables(metadata)

households = Table(
    "households",
    metadata,
    Column("household_id", Code(36), primary_key=True),
    Column("region_code", Code(12), nullable=False),
    Column("cadre_id", Code(64)),
    Column("version", Integer, nullable=False),
)
Index("ix_households_cadre", households.c.cadre_id)

# One row per event seen on any topic (and per event this service emits): the operators' trace index.
trace_events = Table(
    "trace_events",
    metadata,
    Column("event_id", Code(64), primary_key=True),
    Column("type", String(120), nullable=False),
    Column("service", Code(40), nullable=False),
    Column("topic", String(200), nullable=False),
    Column("trace_id", Code(32), nullable=False),
    Column("correlation_id", Code(64)),
    Column("causation_id", Code(64)),
    Column("household_id", Code(36)),
    Column("region_code", Code(12)),
    Column("time", UtcDateTime(), nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
)
Index("ix_trace_events_trace", trace_events.c.trace_id, trace_events.c.time)
Index("ix_trace_events_household", trace_events.c.household_id, trace_events.c.time)
Index("ix_trace_events_region", trace_events.c.region_code, trace_events.c.time)
Index("ix_trace_events_type", trace_events.c.type, trace_events.c.time)

notifications = Table(
    "notifications",
    metadata,
    Column("id", Code(36), primary_key=True),
    Column("recipient_kind", Code(12), nullable=False),
    Column("recipient_id", Code(64), nullable=False),
    Column("household_id", Code(36)),
    Column("region_code", Code(12), nullable=False),
    Column("category", Code(60), nullable=False),
    Column("severity", Code(10), nullable=False),
    Column("title", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("fields", JSON, nullable=False),
    Column("status", Code(10), nullable=False),  # unread | read | archived
    Column("count", Integer, nullable=False, server_default="1"),  # notices a digest stands for
    Column("alert_id", Code(36)),
    Column("cause_event_id", Code(64)),
    Column("trace_id", Code(32)),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("read_at", UtcDateTime()),
    # Recipient + household + cause + window: a duplicate inserted concurrently is refused by the database.
    Column("dedupe_key", Code(200), unique=True),
)
Index(
    "ix_notifications_inbox",
    notifications.c.recipient_kind,
    notifications.c.recipient_id,
    notifications.c.status,
    notifications.c.created_at,
)

notification_groups = Table(
    "notification_groups",
    metadata,
    Column("key", Code(200), primary_key=True),
    Column("recipient_kind", Code(12), nullable=False),
    Column("recipient_id", Code(64), nullable=False),
    Column("region_code", Code(12), nullable=False),
    Column("category", Code(60), nullable=False),
    Column("severity", Code(10), nullable=False),
    Column("pending", Integer, nullable=False),
    Column("fields", JSON, nullable=False),  # the latest notice's, for the digest's wording
    Column("first_pending_at", UtcDateTime()),
    Column("last_flushed_at", UtcDateTime()),
    Column("flush_at", UtcDateTime()),
)
Index("ix_notification_groups_due", notification_groups.c.flush_at)

alerts = Table(
    "alerts",
    metadata,
    Column("id", Code(36), primary_key=True),
    Column("category", Code(60), nullable=False),
    Column("severity", Code(10), nullable=False),
    Column("household_id", Code(36)),
    Column("region_code", Code(12), nullable=False),
    Column("cadre_id", Code(64)),
    Column("policy", Code(20), nullable=False),
    Column("status", Code(14), nullable=False),
    Column("level_index", Integer, nullable=False),
    Column("reminders", Integer, nullable=False),
    Column("raised_at", UtcDateTime(), nullable=False),
    Column("due_at", UtcDateTime()),
    Column("acknowledged_by", String(200)),
    Column("acknowledged_at", UtcDateTime()),
    Column("resolved_by", String(200)),
    Column("resolved_at", UtcDateTime()),
    Column("cause_event_id", Code(64)),
    Column("trace_id", Code(32)),
    Column("dedupe_key", Code(200), unique=True),
)
Index("ix_alerts_due", alerts.c.status, alerts.c.due_at)
Index("ix_alerts_region", alerts.c.region_code, alerts.c.status)

alert_steps = Table(
    "alert_steps",
    metadata,
    Column("alert_id", Code(36), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("step", Code(20), nullable=False),  # raised | escalated | reminded | acknowledged | resolved
    Column("level", Code(12), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", Code(36), primary_key=True),
    Column("owner", Code(64), nullable=False),  # Principal.access_key of the creator
    Column("url", String(2000), nullable=False),
    Column("event_types", JSON, nullable=False),
    Column("region_code", Code(12), nullable=False),
    # [{"secret": "whsec_…", "expires_at": iso | null}]: during a rotation both sign.
    Column("secrets", JSON, nullable=False),
    Column("status", Code(10), nullable=False),
    Column("disabled_reason", String(200)),
    Column("failing_since", UtcDateTime()),
    Column("created_at", UtcDateTime(), nullable=False),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("seq", BigId, primary_key=True, autoincrement=True),  # per-household order of delivery
    Column("id", Code(40), nullable=False, unique=True),  # the webhook-id: the same on every retry
    Column("subscription_id", Code(36), nullable=False),
    Column("event_id", Code(64), nullable=False),
    Column("event_type", String(120), nullable=False),
    Column("ordering_key", Code(64), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("status", Code(10), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UtcDateTime()),
    Column("last_status_code", Integer),
    Column("last_error", String(300)),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("delivered_at", UtcDateTime()),
)
Index("ix_deliveries_event", deliveries.c.subscription_id, deliveries.c.event_id, unique=True)
Index("ix_deliveries_due", deliveries.c.status, deliveries.c.next_attempt_at)
Index("ix_deliveries_order", deliveries.c.subscription_id, deliveries.c.ordering_key, deliveries.c.status)

delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    Column("delivery_id", Code(40), primary_key=True),
    Column("attempt", Integer, primary_key=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("status_code", Integer),
    Column("error", String(300)),
    Column("duration_ms", BigInteger, nullable=False),
)

# SMS sent when an in-app notice stays unread (fallback to the cadre): one per notification at most.
sms_messages = Table(
    "sms_messages",
    metadata,
    Column("id", Code(36), primary_key=True),
    Column("notification_id", Code(36), nullable=False, unique=True),
    Column("recipient_kind", Code(12), nullable=False),
    Column("recipient_id", Code(64), nullable=False),
    Column("text", Text, nullable=False),
    Column("status", Code(10), nullable=False),  # pending | sent | failed
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UtcDateTime()),
    Column("last_error", String(300)),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("sent_at", UtcDateTime()),
)
Index("ix_sms_due", sms_messages.c.status, sms_messages.c.next_attempt_at)

# Reports (003 四(四), 002 三(二)): the facts events contribute, each with when it took effect and when it was
# recorded (figures are "as of" a day, as known at a moment: reproducible, corrections show as differences).
report_facts = Table(
    "report_facts",
    metadata,
    Column("event_id", Code(80), primary_key=True),
    Column("kind", Code(12), nullable=False),  # household | decision | signal | payment | aid | exit
    Column("key", Code(120), nullable=False),  # whose latest state counts (household, decision key, ...)
    Column("household_id", Code(36)),
    Column("region_code", Code(12), nullable=False),
    Column("effective_on", Date, nullable=False),
    Column("occurred_at", UtcDateTime(), nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
    Column("sequence", BigInteger, nullable=False),
    Column("category", Code(40)),
    Column("status", Code(20)),
    Column("cause", Code(20)),
    Column("people", Integer),
    Column("amount_fen", BigInteger),
    Column("month", Code(7)),
    Column("deadline", UtcDateTime()),
)
Index("ix_report_facts_kind_key", report_facts.c.kind, report_facts.c.key, report_facts.c.effective_on)

# Each generated report, version by version: the figures, the knowledge time they were computed at, and
# what changed since the version before.
reports = Table(
    "reports",
    metadata,
    Column("id", Code(36), primary_key=True),
    Column("kind", Code(10), nullable=False),
    Column("period", Code(8), nullable=False),
    Column("region_code", Code(12), nullable=False),
    Column("version", Integer, nullable=False),
    Column("knowledge_at", UtcDateTime(), nullable=False),
    Column("generated_at", UtcDateTime(), nullable=False),
    Column("generated_by", String(200), nullable=False),
    Column("figures", JSON, nullable=False),
    Column("differences", JSON, nullable=False),
    Column("submitted_at", UtcDateTime()),
    Column("submitted_by", String(200)),
    UniqueConstraint("kind", "period", "region_code", "version", name="uq_report_version"),
)

# Which deadline reminders and missed-deadline alerts went out (once each).
report_deadlines = Table(
    "report_deadlines",
    metadata,
    Column("kind", Code(10), primary_key=True),
    Column("period", Code(8), primary_key=True),
    Column("region_code", Code(12), primary_key=True),
    Column("due_on", Date, nullable=False),
    Column("reminded_at", UtcDateTime()),
    Column("missed_at", UtcDateTime()),
)
