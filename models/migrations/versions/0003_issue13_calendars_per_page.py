"""Calendars per Page: calendars and slots bound to an integration, per-Page cadence, planning notes,
held posts.

* ``social_calendars.integration_id`` (the lock is now one calendar per Page and month, unique
  ``(integration_id, month)``; the old ``(tenant_id, month)`` unique becomes a plain index) and
  ``social_calendars.planning_notes`` (how the month was planned: cadence, chosen times and why).
* ``calendar_slots.integration_id``: the Page each slot is for.
* ``integrations.cadence_override``: a Page's changes to its tenant's cadence.
* ``social_posts.hold_reason``: why an approved post waits (tenant paused, Page disconnected).

Existing rows: calendars and slots of a tenant with exactly one Facebook integration (whatever its
status) are bound to that Page. Those of a tenant with no Page or with several stay tenant-wide
(``integration_id`` NULL): which Page a slot was meant for cannot be known. The planner treats such a
month as already planned for that tenant (it never plans a second set of posts over it), and intake
for such a slot keeps the old rule (the output names ``integration_id`` unless the tenant has one
active Page).

Downgrade drops the new columns and restores the ``(tenant_id, month)`` unique constraint; it fails
when a tenant has calendars for several Pages in one month, which the old schema cannot hold.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 22:03:29.897095
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')

# The tenant's only Facebook integration, for tenants that have exactly one (plain SQL: both backends).
_ONLY_PAGE = ("(SELECT i.id FROM integrations i WHERE i.tenant_id = {table}.tenant_id AND i.provider = 'facebook')")
_HAS_ONE_PAGE = ("(SELECT count(*) FROM integrations i WHERE i.tenant_id = {table}.tenant_id "
                 "AND i.provider = 'facebook') = 1")


def upgrade() -> None:
    with op.batch_alter_table('calendar_slots', schema=None) as batch_op:
        batch_op.add_column(sa.Column('integration_id', sa.String(length=36), nullable=True))
        batch_op.create_index(batch_op.f('ix_calendar_slots_integration_id'), ['integration_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_calendar_slots_integration_id_integrations'), 'integrations',
                                    ['integration_id'], ['id'], ondelete='CASCADE')

    with op.batch_alter_table('integrations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cadence_override', JSON_TYPE, nullable=True))

    with op.batch_alter_table('social_calendars', schema=None) as batch_op:
        batch_op.add_column(sa.Column('integration_id', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('planning_notes', JSON_TYPE, nullable=True))
        batch_op.drop_constraint(batch_op.f('uq_social_calendars_tenant_id_month'), type_='unique')
        batch_op.create_index('ix_social_calendars_tenant_id_month', ['tenant_id', 'month'], unique=False)
        batch_op.create_unique_constraint(batch_op.f('uq_social_calendars_integration_id_month'),
                                          ['integration_id', 'month'])
        batch_op.create_foreign_key(batch_op.f('fk_social_calendars_integration_id_integrations'), 'integrations',
                                    ['integration_id'], ['id'], ondelete='CASCADE')

    with op.batch_alter_table('social_posts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('hold_reason', sa.Text(), nullable=True))

    for table in ('social_calendars', 'calendar_slots'):
        op.execute(sa.text(
            f"UPDATE {table} SET integration_id = {_ONLY_PAGE.format(table=table)} "
            f"WHERE integration_id IS NULL AND {_HAS_ONE_PAGE.format(table=table)}"))


def downgrade() -> None:
    with op.batch_alter_table('social_posts', schema=None) as batch_op:
        batch_op.drop_column('hold_reason')

    with op.batch_alter_table('social_calendars', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_social_calendars_integration_id_integrations'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('uq_social_calendars_integration_id_month'), type_='unique')
        batch_op.drop_index('ix_social_calendars_tenant_id_month')
        batch_op.create_unique_constraint(batch_op.f('uq_social_calendars_tenant_id_month'), ['tenant_id', 'month'])
        batch_op.drop_column('planning_notes')
        batch_op.drop_column('integration_id')

    with op.batch_alter_table('integrations', schema=None) as batch_op:
        batch_op.drop_column('cadence_override')

    with op.batch_alter_table('calendar_slots', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_calendar_slots_integration_id_integrations'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_calendar_slots_integration_id'))
        batch_op.drop_column('integration_id')
