"""an import job's per-row errors are rows of their own, appended as the job goes (the job row was
rewritten with its whole error list for every row: quadratic in the file's size)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""
import json

import sqlalchemy as sa
from alembic import op

from shared.db import Code

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('import_job_errors',
                    sa.Column('job_id', Code(36), nullable=False),
                    sa.Column('line', sa.Integer(), nullable=False),
                    sa.Column('external_ref', sa.String(length=100), nullable=True),
                    sa.Column('error', sa.Text(), nullable=False),
                    sa.PrimaryKeyConstraint('job_id', 'line'))
    bind = op.get_bind()
    moved = []
    for job_id, errors in bind.execute(sa.text("SELECT id, errors FROM import_jobs")).all():
        for error in (json.loads(errors) if isinstance(errors, str) else errors) or []:
            moved.append({"job_id": job_id, "line": error["line"], "external_ref": error.get("external_ref"),
                          "error": error["error"]})
    if moved:
        op.bulk_insert(sa.table('import_job_errors', sa.column('job_id'), sa.column('line'),
                                sa.column('external_ref'), sa.column('error')), moved)
    with op.batch_alter_table('import_jobs') as batch_op:
        batch_op.drop_column('errors')


def downgrade() -> None:
    with op.batch_alter_table('import_jobs') as batch_op:
        batch_op.add_column(sa.Column('errors', sa.JSON(), nullable=False, server_default='[]'))
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT job_id, line, external_ref, error FROM import_job_errors "
                                "ORDER BY job_id, line")).all()
    by_job: dict[str, list] = {}
    for job_id, line, ref, error in rows:
        by_job.setdefault(job_id, []).append({"line": line, "external_ref": ref, "error": error})
    for job_id, errors in by_job.items():
        bind.execute(sa.text("UPDATE import_jobs SET errors = :e WHERE id = :id"),
                     {"e": json.dumps(errors, ensure_ascii=False), "id": job_id})
    op.drop_table('import_job_errors')
