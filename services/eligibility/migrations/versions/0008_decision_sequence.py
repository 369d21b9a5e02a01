"""a decision sequence per household: consumers of decision events tell a newer decision from a replayed
or out-of-order older one by it

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('households') as batch_op:
        batch_op.add_column(sa.Column('decision_sequence', sa.BigInteger(), nullable=False, server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('households') as batch_op:
        batch_op.drop_column('decision_sequence')
