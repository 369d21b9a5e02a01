"""temporary aid: the household directory, applications and their steps

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def code(length: int) -> sa.types.TypeEngine[str]:
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        'households',
        sa.Column('household_id', code(36), primary_key=True),
        sa.Column('region_code', code(12), nullable=False),
        sa.Column('active_members', sa.Integer(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
    )
    op.create_table(
        'aid_applications',
        sa.Column('id', code(36), primary_key=True),
        sa.Column('household_id', code(36), nullable=False),
        sa.Column('region_code', code(12), nullable=False),
        sa.Column('kind', sa.String(10), nullable=False),
        sa.Column('cause', sa.String(10), nullable=False),
        sa.Column('requested_amount_fen', sa.BigInteger(), nullable=False),
        sa.Column('approved_amount_fen', sa.BigInteger()),
        sa.Column('fast_track', sa.Boolean(), nullable=False),
        sa.Column('one_case_one_discussion', sa.Boolean(), nullable=False),
        sa.Column('commitment', sa.String(500), nullable=False),
        sa.Column('evidence', sa.JSON(), nullable=False),
        sa.Column('status', sa.String(10), nullable=False),
        sa.Column('approval_level', sa.String(10)),
        sa.Column('township_approved_by', sa.String(120)),
        sa.Column('decision', sa.JSON()),
        sa.Column('deadline', sa.DateTime(timezone=True)),
        sa.Column('deadline_warned', sa.String(10)),
        sa.Column('reservation_id', code(80)),
        sa.Column('payment_id', code(36)),
        sa.Column('created_by', sa.String(120), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('requested_amount_fen >= 0', name='ck_aid_requested_amount'),
    )
    op.create_index('ix_aid_household', 'aid_applications', ['household_id'])
    op.create_index('ix_aid_deadline', 'aid_applications', ['status', 'deadline'])
    op.create_table(
        'aid_steps',
        sa.Column('application_id', code(36), primary_key=True),
        sa.Column('position', sa.Integer(), primary_key=True),
        sa.Column('step', sa.String(20), nullable=False),
        sa.Column('actor', sa.String(120), nullable=False),
        sa.Column('role', sa.String(30), nullable=False),
        sa.Column('reason', sa.String(500)),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table('aid_steps')
    op.drop_table('aid_applications')
    op.drop_table('households')
