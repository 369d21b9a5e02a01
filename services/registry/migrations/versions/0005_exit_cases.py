"""exit cases: leaving the register through proposal, appraisal, public notice, approval, announcement

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

from shared.db import Code, UtcDateTime

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

OPEN = sa.text("status IN ('proposed', 'appraised', 'in_notice', 'approved')")


def upgrade() -> None:
    op.create_table('exit_cases',
                    sa.Column('id', Code(36), nullable=False),
                    sa.Column('household_id', Code(36), nullable=False),
                    sa.Column('region_code', Code(12), nullable=False),
                    sa.Column('status', sa.String(length=20), nullable=False),
                    sa.Column('version', sa.Integer(), nullable=False),
                    sa.Column('document', sa.JSON(), nullable=False),
                    sa.Column('created_at', UtcDateTime(), nullable=False),
                    sa.Column('updated_at', UtcDateTime(), nullable=False),
                    sa.PrimaryKeyConstraint('id'))
    op.create_index('ix_exit_cases_region', 'exit_cases', ['region_code', 'id'])
    op.create_index('ix_exit_cases_household', 'exit_cases', ['household_id'])
    op.create_index('ux_exit_cases_one_open', 'exit_cases', ['household_id'], unique=True,
                    postgresql_where=OPEN, sqlite_where=OPEN)


def downgrade() -> None:
    op.drop_index('ux_exit_cases_one_open', table_name='exit_cases')
    op.drop_index('ix_exit_cases_household', table_name='exit_cases')
    op.drop_index('ix_exit_cases_region', table_name='exit_cases')
    op.drop_table('exit_cases')
