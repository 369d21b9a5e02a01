"""reconciliations of provider statements and their items

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def code(length: int) -> sa.types.TypeEngine[str]:
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        'reconciliations',
        sa.Column('id', code(36), primary_key=True),
        sa.Column('region_code', code(12), nullable=False),
        sa.Column('month', code(7), nullable=False),
        sa.Column('lines', sa.Integer(), nullable=False),
        sa.Column('counts', sa.JSON(), nullable=False),
        sa.Column('settled', sa.Integer(), nullable=False),
        sa.Column('created_by', sa.String(120), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        'reconciliation_items',
        sa.Column('reconciliation_id', code(36), primary_key=True),
        sa.Column('position', sa.Integer(), primary_key=True),
        sa.Column('kind', sa.String(20), nullable=False),
        sa.Column('reference_id', code(80)),
        sa.Column('payment_id', code(36)),
        sa.Column('household_id', code(36)),
        sa.Column('detail', sa.String(300), nullable=False),
        sa.Column('statement_amount_fen', sa.BigInteger()),
        sa.Column('payment_amount_fen', sa.BigInteger()),
        sa.Column('line', sa.Integer()),
    )


def downgrade() -> None:
    op.drop_table('reconciliation_items')
    op.drop_table('reconciliations')
