"""decisions keep their inputs (prior state, standards known at); snapshot history

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('decisions', schema=None) as batch_op:
        batch_op.alter_column('explanation', existing_type=sa.JSON(), nullable=True)
        batch_op.add_column(sa.Column('prior_state', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('known_at', sa.DateTime(timezone=True), nullable=True))
    op.create_table('household_snapshots',
    sa.Column('household_id', sa.String(length=36), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('snapshot', sa.JSON(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('household_id', 'version')
    )
    # The snapshots already received are the first entries of the history.
    op.execute("INSERT INTO household_snapshots (household_id, version, snapshot, recorded_at) "
               "SELECT household_id, version, snapshot, updated_at FROM households")


def downgrade() -> None:
    op.drop_table('household_snapshots')
    with op.batch_alter_table('decisions', schema=None) as batch_op:
        batch_op.drop_column('known_at')
        batch_op.drop_column('prior_state')

