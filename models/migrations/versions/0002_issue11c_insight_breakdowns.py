"""page_insights.breakdown: metric values Graph sends as objects are kept whole, not dropped.

Revision ID: 0002
Revises: 0001
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('page_insights', schema=None) as batch_op:
        batch_op.add_column(sa.Column(
            'breakdown', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('page_insights', schema=None) as batch_op:
        batch_op.drop_column('breakdown')
