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


def test_one_calendar_per_page_and_month(db):
    with transaction() as s:
        t = Tenant(name="a")
        s.add(t)
        s.flush()
        pages = [Integration(tenant_id=t.id, external_account_id=p, api_key="x", meta={"pageId": p}) for p in "12"]
        s.add_all(pages)
        s.flush()
        # Two Pages of one tenant: a calendar each for the same month.
        s.add_all([SocialCalendar(tenant_id=t.id, integration_id=p.id, month="2026-12") for p in pages])
        s.flush()
        tenant_id, page_id = t.id, pages[0].id
    with pytest.raises(IntegrityError):
        with transaction() as s:
            s.add(SocialCalendar(tenant_id=tenant_id, integration_id=page_id, month="2026-12"))
            s.flush()


def _before_calendars_per_page() -> str:
    """The revision just before the calendars-per-Page migration (whatever it is chained after)."""
    from alembic.script import ScriptDirectory

    from models.migrate import alembic_config

    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    (mine,) = [r for r in scripts.walk_revisions() if "issue13_calendars_per_page" in (r.path or "")]
    return str(mine.down_revision)


def _before_revision(backend: str, tmp_path) -> str:
    import uuid

    from models.migrate import upgrade

    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'legacy.db'}"
    else:
        import psycopg

        from tests.support.services import check_postgres
        from tests.support.stack import PG_ADMIN_URL

        check_postgres()
        name = f"socialcal_legacy_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url, _before_calendars_per_page())
    return url


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_calendars_per_page_migration_binds_legacy_calendars_of_single_page_tenants_only(backend, tmp_path):
    from sqlalchemy import create_engine, text

    from models.db import normalize_url
    from models.migrate import upgrade
    from tests.support.stack import drop_database

    url = _before_revision(backend, tmp_path)
    engine = create_engine(normalize_url(url))
    now = "2026-11-01 00:00:00"
    try:
        with engine.begin() as conn:
            for tenant, pages in (("t-one", ["i-one"]), ("t-two", ["i-a", "i-b"]), ("t-none", [])):
                conn.execute(text("INSERT INTO tenants (id, name, timezone, auto_publish, status, cadence, created_at) "
                                  "VALUES (:id, :id, 'UTC', false, 'active', '{}', :now)"), {"id": tenant, "now": now})
                for page in pages:
                    conn.execute(text("INSERT INTO integrations (id, tenant_id, provider, external_account_id, api_key, "
                                      "metadata, status, created_at, updated_at) VALUES (:id, :t, 'facebook', :id, 'x', "
                                      "'{}', 'active', :now, :now)"), {"id": page, "t": tenant, "now": now})
                conn.execute(text("INSERT INTO social_calendars (id, tenant_id, month, created_at) "
                                  "VALUES (:id, :t, '2026-12', :now)"), {"id": f"c-{tenant}", "t": tenant, "now": now})
                conn.execute(text("INSERT INTO calendar_slots (id, calendar_id, tenant_id, scheduled_at, content_type, "
                                  "created_at) VALUES (:id, :c, :t, :now, 'text', :now)"),
                             {"id": f"s-{tenant}", "c": f"c-{tenant}", "t": tenant, "now": now})
        upgrade(url)
        with engine.connect() as conn:
            calendars = dict(conn.execute(text("SELECT tenant_id, integration_id FROM social_calendars")).all())
            slots = dict(conn.execute(text("SELECT tenant_id, integration_id FROM calendar_slots")).all())
        assert calendars == {"t-one": "i-one", "t-two": None, "t-none": None}
        assert slots == calendars
    finally:
        engine.dispose()
        drop_database(url)


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
