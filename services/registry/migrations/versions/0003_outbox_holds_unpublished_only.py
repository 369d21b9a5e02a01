"""the outbox holds only events not yet published: the relay deletes a row once the broker has it

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""
from shared.migrations import outbox_holds_unpublished_only, outbox_marks_published_rows

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    outbox_holds_unpublished_only()


def downgrade() -> None:
    outbox_marks_published_rows()
