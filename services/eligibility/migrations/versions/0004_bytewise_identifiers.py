"""identifiers and codes compare byte by byte (COLLATE "C") on PostgreSQL

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""
from shared.migrations import collate_bytewise

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

COLUMNS = {
    'standards': {'id': 36, 'region_code': 12, 'category': 60},
    'households': {'household_id': 36, 'region_code': 12, 'cadre_id': 64},
    'household_snapshots': {'household_id': 36},
    'decisions': {'id': 36, 'household_id': 36, 'programme': 40, 'member_id': 36},
    'signals': {'id': 36, 'household_id': 36, 'category': 20},
    'jobs': {'id': 36, 'region_prefix': 12},
    'job_partitions': {'job_id': 36, 'region_prefix': 12, 'cursor_region': 12, 'cursor_household': 36},
    'outbox': {'event_id': 64, 'key': 200},
    'inbox': {'consumer': 100, 'event_id': 64},
    'idempotency_keys': {'principal': 200, 'key': 200},
}


def upgrade() -> None:
    collate_bytewise(COLUMNS)


def downgrade() -> None:
    collate_bytewise(COLUMNS, 'default')
