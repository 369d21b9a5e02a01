"""reports: the facts events contribute (bitemporal), generated reports by version, deadline reminders

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def code(length: int) -> sa.types.TypeEngine[str]:
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        'report_facts',
        sa.Column('event_id', code(80), primary_key=True),
        sa.Column('kind', code(12), nullable=False),
        sa.Column('key', code(120), nullable=False),
        sa.Column('household_id', code(36)),
        sa.Column('region_code', code(12), nullable=False),
        sa.Column('effective_on', sa.Date(), nullable=False),
        sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('sequence', sa.BigInteger(), nullable=False),
        sa.Column('category', code(40)),
        sa.Column('status', code(20)),
        sa.Column('cause', code(20)),
        sa.Column('people', sa.Integer()),
        sa.Column('amount_fen', sa.BigInteger()),
        sa.Column('month', code(7)),
        sa.Column('deadline', sa.DateTime(timezone=True)),
    )
    op.create_index('ix_report_facts_kind_key', 'report_facts', ['kind', 'key', 'effective_on'])
    op.create_table(
        'reports',
        sa.Column('id', code(36), primary_key=True),
        sa.Column('kind', code(10), nullable=False),
        sa.Column('period', code(8), nullable=False),
        sa.Column('region_code', code(12), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('knowledge_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('generated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('generated_by', sa.String(200), nullable=False),
        sa.Column('figures', sa.JSON(), nullable=False),
        sa.Column('differences', sa.JSON(), nullable=False),
        sa.Column('submitted_at', sa.DateTime(timezone=True)),
        sa.Column('submitted_by', sa.String(200)),
        sa.UniqueConstraint('kind', 'period', 'region_code', 'version', name='uq_report_version'),
    )
    op.create_table(
        'report_deadlines',
        sa.Column('kind', code(10), primary_key=True),
        sa.Column('period', code(8), primary_key=True),
        sa.Column('region_code', code(12), primary_key=True),
        sa.Column('due_on', sa.Date(), nullable=False),
        sa.Column('reminded_at', sa.DateTime(timezone=True)),
        sa.Column('missed_at', sa.DateTime(timezone=True)),
    )


def downgrade() -> None:
    op.drop_table('report_deadlines')
    op.drop_table('reports')
    op.drop_table('report_facts')
