"""SMS messages: the fallback for notices left unread

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
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
        'sms_messages',
        sa.Column('id', code(36), nullable=False),
        sa.Column('notification_id', code(36), nullable=False),
        sa.Column('recipient_kind', code(12), nullable=False),
        sa.Column('recipient_id', code(64), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('status', code(10), nullable=False),
        sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_error', sa.String(300), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('notification_id'),
    )
    op.create_index('ix_sms_due', 'sms_messages', ['status', 'next_attempt_at'], unique=False)


def downgrade() -> None:
    op.drop_table('sms_messages')
