"""operators' retries of a payment, their free-text reasons kept out of the payment's status and events

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def code(length: int) -> sa.types.TypeEngine[str]:
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        'payment_retries',
        sa.Column('payment_id', code(36), primary_key=True),
        sa.Column('attempt', sa.Integer(), primary_key=True),
        sa.Column('actor', sa.String(200), nullable=False),
        sa.Column('reason', sa.String(500), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table('payment_retries')
