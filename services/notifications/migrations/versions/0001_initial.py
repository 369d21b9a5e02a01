"""initial: platform tables, household directory, trace index, notifications and groups, alerts,
webhook subscriptions and deliveries

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

from shared.migrations import create_platform_tables_v1, drop_platform_tables_v1

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def code(length: int) -> sa.types.TypeEngine[str]:
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    create_platform_tables_v1()
    op.create_table('alert_steps',
    sa.Column('alert_id', code(36), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('step', code(20), nullable=False),
    sa.Column('level', code(12), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('alert_id', 'seq')
    )
    op.create_table('alerts',
    sa.Column('id', code(36), nullable=False),
    sa.Column('category', code(60), nullable=False),
    sa.Column('severity', code(10), nullable=False),
    sa.Column('household_id', code(36), nullable=True),
    sa.Column('region_code', code(12), nullable=False),
    sa.Column('cadre_id', code(64), nullable=True),
    sa.Column('policy', code(20), nullable=False),
    sa.Column('status', code(14), nullable=False),
    sa.Column('level_index', sa.Integer(), nullable=False),
    sa.Column('reminders', sa.Integer(), nullable=False),
    sa.Column('raised_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_by', sa.String(length=200), nullable=True),
    sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_by', sa.String(length=200), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cause_event_id', code(64), nullable=True),
    sa.Column('trace_id', code(32), nullable=True),
    sa.Column('dedupe_key', code(200), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('dedupe_key')
    )
    op.create_index('ix_alerts_due', 'alerts', ['status', 'due_at'], unique=False)
    op.create_index('ix_alerts_region', 'alerts', ['region_code', 'status'], unique=False)
    op.create_table('deliveries',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('id', code(40), nullable=False),
    sa.Column('subscription_id', code(36), nullable=False),
    sa.Column('event_id', code(64), nullable=False),
    sa.Column('event_type', sa.String(length=120), nullable=False),
    sa.Column('ordering_key', code(64), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('status', code(10), nullable=False),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_status_code', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.String(length=300), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('seq'),
    sa.UniqueConstraint('id')
    )
    op.create_index('ix_deliveries_due', 'deliveries', ['status', 'next_attempt_at'], unique=False)
    op.create_index('ix_deliveries_event', 'deliveries', ['subscription_id', 'event_id'], unique=True)
    op.create_index('ix_deliveries_order', 'deliveries', ['subscription_id', 'ordering_key', 'status'], unique=False)
    op.create_table('delivery_attempts',
    sa.Column('delivery_id', code(40), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('error', sa.String(length=300), nullable=True),
    sa.Column('duration_ms', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('delivery_id', 'attempt')
    )
    op.create_table('households',
    sa.Column('household_id', code(36), nullable=False),
    sa.Column('region_code', code(12), nullable=False),
    sa.Column('cadre_id', code(64), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('household_id')
    )
    op.create_index('ix_households_cadre', 'households', ['cadre_id'], unique=False)
    op.create_table('notification_groups',
    sa.Column('key', code(200), nullable=False),
    sa.Column('recipient_kind', code(12), nullable=False),
    sa.Column('recipient_id', code(64), nullable=False),
    sa.Column('region_code', code(12), nullable=False),
    sa.Column('category', code(60), nullable=False),
    sa.Column('severity', code(10), nullable=False),
    sa.Column('pending', sa.Integer(), nullable=False),
    sa.Column('fields', sa.JSON(), nullable=False),
    sa.Column('first_pending_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_flushed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('flush_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_index('ix_notification_groups_due', 'notification_groups', ['flush_at'], unique=False)
    op.create_table('notifications',
    sa.Column('id', code(36), nullable=False),
    sa.Column('recipient_kind', code(12), nullable=False),
    sa.Column('recipient_id', code(64), nullable=False),
    sa.Column('household_id', code(36), nullable=True),
    sa.Column('region_code', code(12), nullable=False),
    sa.Column('category', code(60), nullable=False),
    sa.Column('severity', code(10), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('fields', sa.JSON(), nullable=False),
    sa.Column('status', code(10), nullable=False),
    sa.Column('count', sa.Integer(), server_default='1', nullable=False),
    sa.Column('alert_id', code(36), nullable=True),
    sa.Column('cause_event_id', code(64), nullable=True),
    sa.Column('trace_id', code(32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('read_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('dedupe_key', code(200), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('dedupe_key')
    )
    op.create_index('ix_notifications_inbox', 'notifications', ['recipient_kind', 'recipient_id', 'status', 'created_at'], unique=False)
    op.create_table('subscriptions',
    sa.Column('id', code(36), nullable=False),
    sa.Column('owner', code(64), nullable=False),
    sa.Column('url', sa.String(length=2000), nullable=False),
    sa.Column('event_types', sa.JSON(), nullable=False),
    sa.Column('region_code', code(12), nullable=False),
    sa.Column('secrets', sa.JSON(), nullable=False),
    sa.Column('status', code(10), nullable=False),
    sa.Column('disabled_reason', sa.String(length=200), nullable=True),
    sa.Column('failing_since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('trace_events',
    sa.Column('event_id', code(64), nullable=False),
    sa.Column('type', sa.String(length=120), nullable=False),
    sa.Column('service', code(40), nullable=False),
    sa.Column('topic', sa.String(length=200), nullable=False),
    sa.Column('trace_id', code(32), nullable=False),
    sa.Column('correlation_id', code(64), nullable=True),
    sa.Column('causation_id', code(64), nullable=True),
    sa.Column('household_id', code(36), nullable=True),
    sa.Column('region_code', code(12), nullable=True),
    sa.Column('time', sa.DateTime(timezone=True), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('event_id')
    )
    op.create_index('ix_trace_events_household', 'trace_events', ['household_id', 'time'], unique=False)
    op.create_index('ix_trace_events_region', 'trace_events', ['region_code', 'time'], unique=False)
    op.create_index('ix_trace_events_trace', 'trace_events', ['trace_id', 'time'], unique=False)
    op.create_index('ix_trace_events_type', 'trace_events', ['type', 'time'], unique=False)


def downgrade() -> None:
    op.drop_table('trace_events')
    op.drop_table('subscriptions')
    op.drop_table('notifications')
    op.drop_table('notification_groups')
    op.drop_table('households')
    op.drop_table('delivery_attempts')
    op.drop_table('deliveries')
    op.drop_table('alerts')
    op.drop_table('alert_steps')
    drop_platform_tables_v1()
