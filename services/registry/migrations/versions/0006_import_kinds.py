"""import kinds: an import job either registers households or restates incomes (a monthly comparison)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('import_jobs') as batch:
        batch.add_column(sa.Column('kind', sa.String(length=30), nullable=False, server_default='households'))


def downgrade() -> None:
    with op.batch_alter_table('import_jobs') as batch:
        batch.drop_column('kind')
