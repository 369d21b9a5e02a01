"""entitlements and payments keep the decision event behind them, so payments continue its trace

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('entitlements') as batch_op:
        batch_op.add_column(sa.Column('cause', sa.String(140), nullable=True))
    with op.batch_alter_table('payments') as batch_op:
        batch_op.add_column(sa.Column('cause', sa.String(140), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('payments') as batch_op:
        batch_op.drop_column('cause')
    with op.batch_alter_table('entitlements') as batch_op:
        batch_op.drop_column('cause')
