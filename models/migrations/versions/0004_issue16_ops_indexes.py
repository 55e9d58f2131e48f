"""Indexes for the operators' views: `socialcal status`, the state metrics and the bulk commands.

* ``failed_jobs (created_at, task_name, error_class, error_code)``: the last 24 hours of failures by
  kind, requeued or not, read from the index alone.
* ``failed_jobs (task_name, error_class, created_at) WHERE status = 'failed'``: open jobs only (the
  metrics by kind, every `jobs requeue` filter). Partial: SQLite's statistics only say status has two
  values, so it would scan the table for ``status = 'failed'`` rather than use an index on (status, ...).
* ``social_posts (status, scheduled_at)``: approved or publishing posts due within the hour that are
  not yet on Facebook.
* ``page_insights (integration_id, fetched_at)``: the age of each Page's last insights pull (one
  index probe per Page instead of reading every row the Page has).

Revision ID: 0004
Revises: 0003
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('failed_jobs', schema=None) as batch_op:
        batch_op.create_index('ix_failed_jobs_created_at_kind', ['created_at', 'task_name', 'error_class', 'error_code'],
                              unique=False)
        batch_op.create_index('ix_failed_jobs_open_kind', ['task_name', 'error_class', 'created_at'], unique=False,
                              sqlite_where=sa.text("status = 'failed'"), postgresql_where=sa.text("status = 'failed'"))
    with op.batch_alter_table('social_posts', schema=None) as batch_op:
        batch_op.create_index('ix_social_posts_status_scheduled_at', ['status', 'scheduled_at'], unique=False)
    with op.batch_alter_table('page_insights', schema=None) as batch_op:
        batch_op.create_index('ix_page_insights_integration_id_fetched_at', ['integration_id', 'fetched_at'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('page_insights', schema=None) as batch_op:
        batch_op.drop_index('ix_page_insights_integration_id_fetched_at')
    with op.batch_alter_table('social_posts', schema=None) as batch_op:
        batch_op.drop_index('ix_social_posts_status_scheduled_at')
    with op.batch_alter_table('failed_jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_failed_jobs_open_kind')
        batch_op.drop_index('ix_failed_jobs_created_at_kind')
