"""households received as single persons say so in their state (dibao.single_person), so the next
evaluation does not send them through the gradual-exit test on their household's income

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""
import json

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

households = sa.table('households', sa.column('household_id'), sa.column('state', sa.JSON), sa.column('current_decisions', sa.JSON))


def _loaded(value):
    return json.loads(value) if isinstance(value, str) else value


def upgrade() -> None:
    bind = op.get_bind()
    marked = []
    rows = bind.execute(sa.select(households.c.household_id, households.c.state, households.c.current_decisions))
    for household_id, state, current in rows:
        state, current = _loaded(state), _loaded(current) or []
        dibao = (state or {}).get('dibao') or {}
        in_force = [d for d in current if d['programme'] == 'dibao' and d['status'] == 'eligible']
        # Received only as single persons: every dibao decision in force names a member.
        if dibao.get('status') == 'eligible' and in_force and all(d['member_id'] for d in in_force):
            marked.append({'b_id': household_id, 'b_state': {**state, 'dibao': {**dibao, 'single_person': True}}})
    if marked:
        bind.execute(
            households.update().where(households.c.household_id == sa.bindparam('b_id')).values(state=sa.bindparam('b_state')),
            marked,
        )


def downgrade() -> None:
    pass  # the flag is ignored by older code; nothing to undo
