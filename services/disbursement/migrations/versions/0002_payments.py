"""payment runs, payments and their references

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def code(length: int) -> sa.types.TypeEngine[str]:
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        'payment_runs',
        sa.Column('id', code(36), primary_key=True),
        sa.Column('region_code', code(12), nullable=False),
        sa.Column('month', code(7), nullable=False),
        sa.Column('status', sa.String(12), nullable=False),
        sa.Column('status_reason', sa.String(300)),
        sa.Column('cursor', code(36), nullable=False, server_default=''),
        sa.Column('created_by', sa.String(120), nullable=False),
        sa.Column('traceparent', sa.String(60), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        'uq_one_active_run', 'payment_runs', ['region_code', 'month'], unique=True,
        postgresql_where=sa.text("status <> 'completed'"), sqlite_where=sa.text("status <> 'completed'"),
    )
    op.create_table(
        'payments',
        sa.Column('id', code(36), primary_key=True),
        sa.Column('run_id', code(36)),
        sa.Column('entitlement_id', code(36)),
        sa.Column('household_id', code(36), nullable=False),
        sa.Column('region_code', code(12), nullable=False),
        sa.Column('programme', code(40), nullable=False),
        sa.Column('member_key', code(36), nullable=False),
        sa.Column('month', code(7), nullable=False),
        sa.Column('kind', sa.String(12), nullable=False),
        sa.Column('amount_fen', sa.BigInteger(), nullable=False),
        sa.Column('status', sa.String(12), nullable=False),
        sa.Column('status_reason', sa.String(300)),
        sa.Column('attempt', sa.Integer(), nullable=False),
        sa.Column('reference_id', code(80), nullable=False),
        sa.Column('batch_id', code(36)),
        sa.Column('status_changed_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint('entitlement_id', 'month', name='uq_payment_per_entitlement_month'),
        sa.UniqueConstraint('household_id', 'programme', 'member_key', 'month', name='uq_payment_per_household_month'),
        sa.UniqueConstraint('reference_id', name='uq_payment_reference'),
        sa.CheckConstraint('amount_fen > 0', name='ck_payment_amount'),
    )
    op.create_index('ix_payments_run_status', 'payments', ['run_id', 'status'])
    op.create_index('ix_payments_household', 'payments', ['household_id'])
    op.create_table(
        'payment_references',
        sa.Column('reference_id', code(80), primary_key=True),
        sa.Column('payment_id', code(36), nullable=False),
        sa.Column('attempt', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index('ix_payment_references_payment', 'payment_references', ['payment_id'])


def downgrade() -> None:
    op.drop_table('payment_references')
    op.drop_table('payments')
    op.drop_index('uq_one_active_run', table_name='payment_runs')
    op.drop_table('payment_runs')
