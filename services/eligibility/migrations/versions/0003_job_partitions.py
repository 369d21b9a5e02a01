"""jobs split into partitions (one per county) that several workers claim

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('job_partitions',
    sa.Column('job_id', sa.String(length=36), nullable=False),
    sa.Column('region_prefix', sa.String(length=12), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('cursor_region', sa.String(length=12), server_default='', nullable=False),
    sa.Column('cursor_household', sa.String(length=36), server_default='', nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('processed', sa.Integer(), nullable=False),
    sa.Column('changed', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], ),
    sa.PrimaryKeyConstraint('job_id', 'region_prefix')
    )
    # Existing jobs become one partition each. A job still running restarts from its beginning: the
    # cursor's order changed, and re-evaluating a household already done writes nothing new.
    op.execute("INSERT INTO job_partitions (job_id, region_prefix, status, cursor_region, cursor_household, total, "
               "processed, changed, updated_at) SELECT id, region_prefix, status, '', '', total, "
               "CASE WHEN status = 'done' THEN processed ELSE 0 END, CASE WHEN status = 'done' THEN changed ELSE 0 END, "
               "updated_at FROM jobs")
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_column('cursor')
        batch_op.drop_column('processed')
        batch_op.drop_column('changed')


def downgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cursor', sa.String(length=36), server_default='', nullable=False))
        batch_op.add_column(sa.Column('processed', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('changed', sa.Integer(), server_default='0', nullable=False))
    op.drop_table('job_partitions')
