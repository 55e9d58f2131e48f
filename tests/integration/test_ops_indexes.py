"""Every query `socialcal status`, the state exporter and the bulk commands send is served by an index.

The statements are captured as the real functions send them, then EXPLAINed on both backends: on
SQLite no big table may be SCANned without an index; on PostgreSQL (sequential scans switched off,
as an empty table would otherwise be scanned whatever its indexes) every big table must be reached
through one of its indexes. bench/ops_queries.py times the same functions on a million rows.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import event, text

from models import utcnow
from models.db import get_engine, transaction
from tasks.domain import bulk, ops_queries
from tests.support.factories import connect, make_tenant

pytestmark = pytest.mark.integration
# The tables that grow with time. `integrations` holds one row per connected Page and the status and
# exporter read all of them (every Page's budget), so it is read whole by design.
BIG_TABLES = ("social_posts", "failed_jobs", "page_insights")
# Partial indexes hold only the rows a query wants: reading one whole is the search.
PARTIAL_INDEXES = ("ix_failed_jobs_open_kind",)


def captured_statements(db: str) -> list[tuple[str, object]]:
    engine = get_engine(db)
    seen: list[tuple[str, object]] = []

    def capture(_conn, _cursor, statement, parameters, _context, _many):
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    tenant_id = make_tenant()
    integration_id = connect(tenant_id, "1234567890", "EAAIndexTestToken0123456789abcdef")
    seed_skewed(engine, tenant_id, integration_id)
    event.listen(engine, "before_cursor_execute", capture)
    try:
        now = utcnow()
        with transaction() as session:
            integrations = ops_queries.budgeted_integrations(session)
            ops_queries.open_failed_jobs(session)
            ops_queries.failures_since(session, now - timedelta(hours=24))
            ops_queries.integrations_by_status(session)
            ops_queries.needs_reconnect(session)
            ops_queries.awaiting_handoff(session, now)
            ops_queries.insight_pull_ages(session, now)
            bulk.select_jobs(session, bulk.JobFilter(task_name="publishing.publish_post"))
            bulk.select_jobs(session, bulk.JobFilter(code="190", since=now - timedelta(days=1), until=now))
            bulk.select_jobs(session, bulk.JobFilter(tenant_id=tenant_id))
            bulk.select_posts(session, tenant_id, "failed")
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    return seen


def seed_skewed(engine, tenant_id: str, integration_id: str, rows: int = 3000) -> None:
    """A few thousand rows shaped like production (few open jobs, few approved posts), then ANALYZE,
    so the planners choose as they would on a big table rather than on an empty one."""
    from sqlalchemy import insert

    from models import FailedJob, PageInsight, SocialPost

    now = utcnow()
    statuses = ["published"] * 17 + ["scheduled", "approved", "failed"]
    with engine.begin() as conn:
        conn.execute(insert(FailedJob), [
            {"task_name": ["publishing.publish_post", "insights.pull_page", "posts.intake"][i % 3],
             "error_class": ["AuthError", "Transient"][i % 2], "error_message": "x", "error_code": "190",
             "tenant_id": tenant_id, "status": "failed" if i % 50 == 0 else "requeued",
             "created_at": now - timedelta(minutes=i * 30)} for i in range(rows)])
        conn.execute(insert(SocialPost), [
            {"tenant_id": tenant_id, "integration_id": integration_id, "status": statuses[i % len(statuses)],
             "message": "m", "scheduled_at": now + timedelta(minutes=i * 30 - rows * 15), "created_at": now,
             "updated_at": now} for i in range(rows)])
        conn.execute(insert(PageInsight), [
            {"integration_id": integration_id, "metric": f"m{i % 10}", "period": "day",
             "end_time": now - timedelta(days=i // 10), "value": 1.0, "fetched_at": now} for i in range(rows)])
        conn.exec_driver_sql("ANALYZE")


def plan(db: str, statement: str, parameters: object) -> str:
    engine = get_engine(db)
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SET enable_seqscan = off"))
            rows = conn.exec_driver_sql("EXPLAIN " + statement, parameters).all()
        else:
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
    return "\n".join(str(row[-1]) for row in rows)


def searched_by_index(explained: str, table: str) -> bool:
    """A PostgreSQL plan node that reaches ``table`` through an index *with* an Index Cond: a search,
    not a walk over a whole index (which enable_seqscan=off would otherwise happily accept)."""
    nodes = re.split(r"\n\s*->\s*", explained)
    for node in nodes:
        head = node.splitlines()[0]
        on_table = re.search(rf"\bon {table}\b", head) or re.search(rf"Bitmap Index Scan on (ix|pk|uq)_{table}_", head)
        if on_table and "Index" in head and ("Index Cond:" in node or any(n in head for n in PARTIAL_INDEXES)):
            return True
    return False


def test_every_operator_query_is_served_by_an_index(db):
    statements = captured_statements(db)
    assert len(statements) >= 14
    postgres = get_engine(db).dialect.name == "postgresql"
    checked = set()
    for statement, parameters in statements:
        tables = [t for t in BIG_TABLES if re.search(rf"\bFROM {t}\b|\bJOIN {t}\b", statement)]
        if not tables:
            continue
        explained = plan(db, statement, parameters)
        for table in tables:
            checked.add(table)
            if postgres:
                assert not re.search(rf"Seq Scan on {table}\b", explained), f"{statement}\n{explained}"
                assert searched_by_index(explained, table), f"no index search on {table}:\n{statement}\n{explained}"
            else:
                # SEARCH, never SCAN: a scan of a whole index is no better than one of the table.
                scans = [line for line in explained.splitlines() if re.match(rf"SCAN {table}\b", line)
                         and not any(f"INDEX {name}" in line for name in PARTIAL_INDEXES)]
                assert not scans, f"{statement}\n{explained}"
    assert checked == set(BIG_TABLES)
