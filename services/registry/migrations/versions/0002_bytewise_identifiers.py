"""identifiers and codes compare byte by byte (COLLATE "C") on PostgreSQL

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""
from shared.migrations import collate_bytewise

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

COLUMNS = {
    'regions': {'code': 12, 'parent_code': 12},
    'households': {'id': 36, 'external_ref': 100, 'region_code': 12, 'cadre_id': 64},
    'person_ids': {'id_hash': 64, 'household_id': 36, 'member_id': 36},
    'household_versions': {'household_id': 36},
    'import_jobs': {'id': 36},
    'outbox': {'event_id': 64, 'key': 200},
    'inbox': {'consumer': 100, 'event_id': 64},
    'idempotency_keys': {'principal': 200, 'key': 200},
}


def upgrade() -> None:
    collate_bytewise(COLUMNS)


def downgrade() -> None:
    collate_bytewise(COLUMNS, 'default')
