"""initial: platform tables, entitlements with history, the ledger

Revision ID: 0001
Revises:
Create Date: 2026-11-25
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
    op.create_table(
        'entitlements',
        sa.Column('id', code(36), primary_key=True),
        sa.Column('household_id', code(36), nullable=False),
        sa.Column('region_code', code(12), nullable=False),
        sa.Column('programme', code(40), nullable=False),
        sa.Column('member_key', code(36), nullable=False),
        sa.Column('status', sa.String(10), nullable=False),
        sa.Column('monthly_amount_fen', sa.BigInteger(), nullable=False),
        sa.Column('valid_from', sa.Date()),
        sa.Column('valid_until', sa.Date()),
        sa.Column('gradual_exit', sa.Boolean(), nullable=False),
        sa.Column('decision_id', code(36), nullable=False),
        sa.Column('decision_sequence', sa.BigInteger()),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint('household_id', 'programme', 'member_key', name='uq_entitlement_per_programme'),
        sa.CheckConstraint('monthly_amount_fen >= 0', name='ck_entitlement_amount'),
    )
    op.create_index('ix_entitlements_region', 'entitlements', ['region_code', 'status'])
    op.create_table(
        'entitlement_versions',
        sa.Column('entitlement_id', code(36), primary_key=True),
        sa.Column('version', sa.Integer(), primary_key=True),
        sa.Column('status', sa.String(10), nullable=False),
        sa.Column('monthly_amount_fen', sa.BigInteger(), nullable=False),
        sa.Column('valid_from', sa.Date()),
        sa.Column('valid_until', sa.Date()),
        sa.Column('gradual_exit', sa.Boolean(), nullable=False),
        sa.Column('decision_id', code(36), nullable=False),
        sa.Column('decision_sequence', sa.BigInteger()),
        sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        'ledger_accounts',
        sa.Column('id', code(80), primary_key=True),
        sa.Column('code', code(30), nullable=False),
        sa.Column('region_code', code(12), nullable=False),
        sa.Column('debits_must_not_exceed_credits', sa.Boolean(), nullable=False),
        sa.Column('debits_pending', sa.BigInteger(), nullable=False, server_default='0'),
        sa.Column('debits_posted', sa.BigInteger(), nullable=False, server_default='0'),
        sa.Column('credits_pending', sa.BigInteger(), nullable=False, server_default='0'),
        sa.Column('credits_posted', sa.BigInteger(), nullable=False, server_default='0'),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            'NOT debits_must_not_exceed_credits OR debits_pending + debits_posted <= credits_posted',
            name='ck_debits_must_not_exceed_credits',
        ),
        sa.CheckConstraint(
            'debits_pending >= 0 AND debits_posted >= 0 AND credits_pending >= 0 AND credits_posted >= 0',
            name='ck_ledger_amounts_not_negative',
        ),
    )
    op.create_table(
        'ledger_transfers',
        sa.Column(
            'sequence', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), primary_key=True, autoincrement=True
        ),
        sa.Column('id', code(80), nullable=False, unique=True),
        sa.Column('debit_account_id', code(80), nullable=False),
        sa.Column('credit_account_id', code(80), nullable=False),
        sa.Column('amount_fen', sa.BigInteger(), nullable=False),
        sa.Column('kind', sa.String(15), nullable=False),
        sa.Column('pending_id', code(80)),
        sa.Column('timeout_seconds', sa.Integer(), nullable=False),
        sa.Column('reference', sa.String(200), nullable=False),
        sa.Column('pending_state', sa.String(10)),
        sa.Column('expires_at', sa.DateTime(timezone=True)),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('amount_fen >= 0', name='ck_transfer_amount'),
        sa.UniqueConstraint('pending_id', name='uq_transfer_settles_pending_once'),
    )
    op.create_index('ix_transfers_debit', 'ledger_transfers', ['debit_account_id', 'sequence'])
    op.create_index('ix_transfers_credit', 'ledger_transfers', ['credit_account_id', 'sequence'])


def downgrade() -> None:
    op.drop_table('ledger_transfers')
    op.drop_table('ledger_accounts')
    op.drop_table('entitlement_versions')
    op.drop_table('entitlements')
    drop_platform_tables_v1()
