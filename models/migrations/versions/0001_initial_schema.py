"""Initial schema: every table of the DESIGN.md contract.

Revision ID: 0001
Revises: 
Create Date: 2026-11-21 14:34:04.082053
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import models.base

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('failed_jobs',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('task_name', sa.String(length=100), nullable=False),
    sa.Column('task_id', sa.String(length=64), nullable=True),
    sa.Column('args', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('kwargs', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('error_class', sa.String(length=100), nullable=False),
    sa.Column('error_message', sa.Text(), nullable=False),
    sa.Column('error_code', sa.String(length=32), nullable=True),
    sa.Column('hint', sa.Text(), nullable=True),
    sa.Column('tenant_id', sa.String(length=36), nullable=True),
    sa.Column('post_id', sa.String(length=36), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('requeue_count', sa.Integer(), nullable=False),
    sa.Column('requeued_at', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_failed_jobs'))
    )
    with op.batch_alter_table('failed_jobs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_failed_jobs_post_id'), ['post_id'], unique=False)
        batch_op.create_index('ix_failed_jobs_task_name_status', ['task_name', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_failed_jobs_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('tenants',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('auto_publish', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('cadence', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('insight_metrics', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tenants'))
    )
    op.create_table('integrations',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=36), nullable=False),
    sa.Column('provider', sa.String(length=32), nullable=False),
    sa.Column('external_account_id', sa.String(length=64), nullable=False),
    sa.Column('api_key', sa.Text(), nullable=False),
    sa.Column('metadata', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('status_reason', sa.Text(), nullable=True),
    sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_integrations_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_integrations')),
    sa.UniqueConstraint('tenant_id', 'provider', 'external_account_id', name=op.f('uq_integrations_tenant_id_provider_external_account_id'))
    )
    with op.batch_alter_table('integrations', schema=None) as batch_op:
        batch_op.create_index('ix_integrations_provider_status', ['provider', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_integrations_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('report_inputs',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=36), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_report_inputs_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_inputs')),
    sa.UniqueConstraint('tenant_id', 'period_start', 'period_end', name=op.f('uq_report_inputs_tenant_id_period_start_period_end'))
    )
    op.create_table('social_calendars',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=36), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_social_calendars_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_social_calendars')),
    sa.UniqueConstraint('tenant_id', 'month', name=op.f('uq_social_calendars_tenant_id_month'))
    )
    op.create_table('calendar_slots',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('calendar_id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=36), nullable=False),
    sa.Column('scheduled_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('content_type', sa.String(length=16), nullable=False),
    sa.Column('theme', sa.String(length=200), nullable=True),
    sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['calendar_id'], ['social_calendars.id'], name=op.f('fk_calendar_slots_calendar_id_social_calendars'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_calendar_slots_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_calendar_slots')),
    sa.UniqueConstraint('calendar_id', 'scheduled_at', name=op.f('uq_calendar_slots_calendar_id_scheduled_at'))
    )
    with op.batch_alter_table('calendar_slots', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_calendar_slots_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('insight_anomalies',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('integration_id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=36), nullable=False),
    sa.Column('metric', sa.String(length=100), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.Column('expected', sa.Float(), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('direction', sa.String(length=8), nullable=False),
    sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['integration_id'], ['integrations.id'], name=op.f('fk_insight_anomalies_integration_id_integrations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_insight_anomalies_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_insight_anomalies')),
    sa.UniqueConstraint('integration_id', 'metric', 'day', name=op.f('uq_insight_anomalies_integration_id_metric_day'))
    )
    with op.batch_alter_table('insight_anomalies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_insight_anomalies_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('page_insights',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('integration_id', sa.String(length=36), nullable=False),
    sa.Column('metric', sa.String(length=100), nullable=False),
    sa.Column('period', sa.String(length=16), nullable=False),
    sa.Column('end_time', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('fetched_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['integration_id'], ['integrations.id'], name=op.f('fk_page_insights_integration_id_integrations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_page_insights')),
    sa.UniqueConstraint('integration_id', 'metric', 'period', 'end_time', name=op.f('uq_page_insights_integration_id_metric_period_end_time'))
    )
    op.create_table('social_posts',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=36), nullable=False),
    sa.Column('integration_id', sa.String(length=36), nullable=True),
    sa.Column('slot_id', sa.String(length=36), nullable=True),
    sa.Column('platform', sa.String(length=32), nullable=False),
    sa.Column('content_type', sa.String(length=16), nullable=False),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('pending_message', sa.Text(), nullable=True),
    sa.Column('link', sa.Text(), nullable=True),
    sa.Column('media', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('scheduled_at', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=True),
    sa.Column('payload_hash', sa.String(length=64), nullable=True),
    sa.Column('writer_run_id', sa.String(length=128), nullable=True),
    sa.Column('invalid_reasons', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('approved_hash', sa.String(length=64), nullable=True),
    sa.Column('approved_by', sa.String(length=200), nullable=True),
    sa.Column('approved_at', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('due_at', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('enqueued_at', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('lease_owner', sa.String(length=128), nullable=True),
    sa.Column('lease_expires_at', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('publish_intent', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('graph_ids', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('publish_mode', sa.String(length=16), nullable=True),
    sa.Column('external_id', sa.String(length=128), nullable=True),
    sa.Column('publish_url', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('published_at', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['integration_id'], ['integrations.id'], name=op.f('fk_social_posts_integration_id_integrations'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['slot_id'], ['calendar_slots.id'], name=op.f('fk_social_posts_slot_id_calendar_slots'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_social_posts_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_social_posts')),
    sa.UniqueConstraint('slot_id', name=op.f('uq_social_posts_slot_id'))
    )
    with op.batch_alter_table('social_posts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_social_posts_external_id'), ['external_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_social_posts_payload_hash'), ['payload_hash'], unique=False)
        batch_op.create_index('ix_social_posts_status_due_at', ['status', 'due_at'], unique=False)
        batch_op.create_index('ix_social_posts_tenant_id_status', ['tenant_id', 'status'], unique=False)

    op.create_table('post_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('post_id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=True),
    sa.Column('detail', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['post_id'], ['social_posts.id'], name=op.f('fk_post_events_post_id_social_posts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_post_events'))
    )
    with op.batch_alter_table('post_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_post_events_post_id'), ['post_id'], unique=False)

    op.create_table('post_metrics',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('post_id', sa.String(length=36), nullable=False),
    sa.Column('integration_id', sa.String(length=36), nullable=False),
    sa.Column('external_id', sa.String(length=128), nullable=False),
    sa.Column('reactions', sa.Integer(), nullable=True),
    sa.Column('comments', sa.Integer(), nullable=True),
    sa.Column('shares', sa.Integer(), nullable=True),
    sa.Column('media_views', sa.Integer(), nullable=True),
    sa.Column('read_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['integration_id'], ['integrations.id'], name=op.f('fk_post_metrics_integration_id_integrations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['post_id'], ['social_posts.id'], name=op.f('fk_post_metrics_post_id_social_posts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_post_metrics'))
    )
    with op.batch_alter_table('post_metrics', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_post_metrics_integration_id'), ['integration_id'], unique=False)
        batch_op.create_index('ix_post_metrics_post_id_read_at', ['post_id', 'read_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('post_metrics', schema=None) as batch_op:
        batch_op.drop_index('ix_post_metrics_post_id_read_at')
        batch_op.drop_index(batch_op.f('ix_post_metrics_integration_id'))

    op.drop_table('post_metrics')
    with op.batch_alter_table('post_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_post_events_post_id'))

    op.drop_table('post_events')
    with op.batch_alter_table('social_posts', schema=None) as batch_op:
        batch_op.drop_index('ix_social_posts_tenant_id_status')
        batch_op.drop_index('ix_social_posts_status_due_at')
        batch_op.drop_index(batch_op.f('ix_social_posts_payload_hash'))
        batch_op.drop_index(batch_op.f('ix_social_posts_external_id'))

    op.drop_table('social_posts')
    op.drop_table('page_insights')
    with op.batch_alter_table('insight_anomalies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_insight_anomalies_tenant_id'))

    op.drop_table('insight_anomalies')
    with op.batch_alter_table('calendar_slots', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_calendar_slots_tenant_id'))

    op.drop_table('calendar_slots')
    op.drop_table('social_calendars')
    op.drop_table('report_inputs')
    with op.batch_alter_table('integrations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_integrations_tenant_id'))
        batch_op.drop_index('ix_integrations_provider_status')

    op.drop_table('integrations')
    op.drop_table('tenants')
    with op.batch_alter_table('failed_jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_failed_jobs_tenant_id'))
        batch_op.drop_index('ix_failed_jobs_task_name_status')
        batch_op.drop_index(batch_op.f('ix_failed_jobs_post_id'))

    op.drop_table('failed_jobs')
