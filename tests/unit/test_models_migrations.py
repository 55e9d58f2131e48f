"""The schema: migrations create every contract table on both backends and agree with the models."""

from datetime import datetime, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError

from models import Base, Integration, PageInsight, SocialCalendar, Tenant
from models.db import get_engine, transaction

CONTRACT_TABLES = {"tenants", "integrations", "social_calendars", "calendar_slots", "social_posts", "post_events",
                   "page_insights", "post_metrics", "insight_anomalies", "report_inputs", "failed_jobs"}


def test_upgrade_creates_every_contract_table(db):
    assert CONTRACT_TABLES <= set(inspect(get_engine(db)).get_table_names())


def test_migrations_and_models_agree(db):
    with get_engine(db).connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []


def test_due_index_exists(db):
    indexes = {ix["name"]: ix["column_names"] for ix in inspect(get_engine(db)).get_indexes("social_posts")}
    assert indexes["ix_social_posts_status_due_at"] == ["status", "due_at"]


def test_one_calendar_per_tenant_and_month(db):
    with pytest.raises(IntegrityError):
        with transaction() as s:
            t = Tenant(name="a")
            s.add(t)
            s.flush()
            s.add_all([SocialCalendar(tenant_id=t.id, month="2026-12"), SocialCalendar(tenant_id=t.id, month="2026-12")])


def test_one_insight_row_per_integration_metric_period_end_time(db):
    end = datetime(2026, 11, 1, 8, tzinfo=timezone.utc)
    with pytest.raises(IntegrityError):
        with transaction() as s:
            t = Tenant(name="a")
            s.add(t)
            s.flush()
            i = Integration(tenant_id=t.id, external_account_id="1", api_key="x", meta={"pageId": "1"})
            s.add(i)
            s.flush()
            for value in (1, 2):
                s.add(PageInsight(integration_id=i.id, metric="page_follows", period="day", end_time=end, value=value))
            s.flush()


def test_integration_requires_existing_tenant(db):
    with pytest.raises(IntegrityError):
        with transaction() as s:
            s.add(Integration(tenant_id="00000000-0000-0000-0000-000000000000", external_account_id="1", api_key="x"))
            s.flush()


def test_datetimes_come_back_aware_utc(db):
    with transaction() as s:
        t = Tenant(name="a")
        s.add(t)
    with transaction() as s:
        assert s.get(Tenant, t.id).created_at.tzinfo is not None
