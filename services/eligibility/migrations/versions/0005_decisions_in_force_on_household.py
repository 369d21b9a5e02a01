"""the decisions in force live on the household read model; the decision history is append-only

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23

A re-evaluation used to read the households' current decisions with a query and mark the replaced
ones `current = false` with an update of the history table (a third of a province job's PostgreSQL
time). The household row it reads and rewrites anyway now carries them.
"""
import json
from itertools import groupby

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

FIELDS = ('id', 'programme', 'member_id', 'status', 'monthly_amount_fen', 'valid_from', 'valid_until')


def upgrade() -> None:
    op.add_column('households', sa.Column('current_decisions', sa.JSON(), nullable=True))
    bind = op.get_bind()
    if bind.dialect.name == 'postgresql':
        pairs = ', '.join(f"'{f}', {f}" for f in FIELDS)
        op.execute(f"UPDATE households h SET current_decisions = c.items FROM ("
                   f"SELECT household_id, json_agg(json_build_object({pairs}) ORDER BY programme, "
                   f"coalesce(member_id, '')) AS items FROM decisions WHERE current GROUP BY household_id) c "
                   f"WHERE c.household_id = h.household_id")
    else:
        rows = bind.execute(sa.text(f"SELECT household_id, {', '.join(FIELDS)} FROM decisions WHERE current "
                                    f"ORDER BY household_id, programme, coalesce(member_id, '')")).all()
        for household_id, group in groupby(rows, key=lambda r: r[0]):
            items = [{f: (str(v) if v is not None and f.startswith('valid_') else v)
                      for f, v in zip(FIELDS, r[1:])} for r in group]
            bind.execute(sa.text("UPDATE households SET current_decisions = :c WHERE household_id = :h"),
                         {"c": json.dumps(items), "h": household_id})
    op.drop_index('ix_decisions_current', table_name='decisions')
    with op.batch_alter_table('decisions', schema=None) as batch_op:
        batch_op.drop_column('current')
    op.create_index('ix_decisions_household', 'decisions', ['household_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_decisions_household', table_name='decisions')
    with op.batch_alter_table('decisions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('current', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute("UPDATE decisions SET current = true WHERE id IN (SELECT d.value ->> 'id' FROM households h, "
               "json_array_elements(h.current_decisions) d)" if op.get_bind().dialect.name == 'postgresql' else
               "UPDATE decisions SET current = 1 WHERE id IN (SELECT json_extract(d.value, '$.id') FROM households h, "
               "json_each(h.current_decisions) d)")
    op.create_index('ix_decisions_current', 'decisions', ['household_id', 'current'], unique=False)
    with op.batch_alter_table('households', schema=None) as batch_op:
        batch_op.drop_column('current_decisions')
