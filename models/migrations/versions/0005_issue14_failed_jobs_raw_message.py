"""failed_jobs.raw_message: the redacted raw queue message of work Celery could not run.

Revision ID: 0005
Revises: 0004
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('failed_jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('raw_message', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()),
                                                                           'postgresql'), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('failed_jobs', schema=None) as batch_op:
        batch_op.drop_column('raw_message')
