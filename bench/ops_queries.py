"""The operators' queries on a big database: `socialcal status`, the state exporter and the bulk selections.

Seeds ``--rows`` posts, failed jobs and insight rows (a million each by default) over ``--tenants``
tenants with one Page each, then times each question (median of ``--repeat`` runs):

    .venv/bin/python -m bench.ops_queries [--db postgresql|sqlite] [--rows 1000000] [--tenants 1000]

Figures only, never assertions; tests/integration/test_ops_indexes.py checks the plans use indexes.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from datetime import timedelta
from typing import Any, Callable

from bench import _common



# The big tables are filled by the database itself (one INSERT ... SELECT each), so a million rows take
# seconds. Pseudo-random spreads come from the row number (k * prime % n): the same data every run.
POSTS = """
INSERT INTO social_posts (id, tenant_id, integration_id, platform, content_type, message, media, status, graph_ids,
                          attempts, scheduled_at, created_at, updated_at)
SELECT {uuid}, p.tenant_id, p.integration_id, 'facebook', 'text', 'post ' || k, '[]',
       CASE WHEN k * 7919 % 20 < 12 THEN 'published' WHEN k * 7919 % 20 < 17 THEN 'scheduled'
            WHEN k * 7919 % 20 < 18 THEN 'pending_approval' WHEN k * 7919 % 100 < 93 THEN 'approved'
            WHEN k * 7919 % 100 < 97 THEN 'failed' ELSE 'cancelled' END,
       '{{}}', 0, {minutes_from_now}, {now}, {now}
FROM {series} JOIN bench_pages p ON p.n = k % {tenants}
"""
JOBS = """
INSERT INTO failed_jobs (id, task_name, args, kwargs, error_class, error_message, error_code, tenant_id, status,
                         requeue_count, created_at)
SELECT {uuid}, CASE WHEN k % 2 = 0 THEN 'publishing.publish_post' ELSE 'insights.pull_page' END, '[]', '{{}}',
       CASE k % 3 WHEN 0 THEN 'AuthError' WHEN 1 THEN 'InvalidRequest' ELSE 'Transient' END, 'bench',
       CASE k % 4 WHEN 0 THEN '190' WHEN 1 THEN '190/463' WHEN 2 THEN '100' ELSE NULL END, p.tenant_id,
       CASE WHEN k % 50 = 0 THEN 'failed' ELSE 'requeued' END, 0, {minutes_ago}
FROM {series} JOIN bench_pages p ON p.n = k % {tenants}
"""
INSIGHTS = """
INSERT INTO page_insights (integration_id, metric, period, end_time, value, fetched_at)
SELECT p.integration_id, 'm' || (k % 10), 'day', {days_ago}, 1.0, {hours_ago}
FROM {series} JOIN bench_pages p ON p.n = k / {per_page}
"""
SQL_PARTS = {
    "postgresql": {
        "uuid": "gen_random_uuid()::text", "now": "now()",
        "minutes_from_now": "now() + ((k * 7919 % 216000) - 129600) * interval '1 minute'",
        "minutes_ago": "now() - (k * 104729 % 129600) * interval '1 minute'",
        "days_ago": "date_trunc('day', now()) - ((k % {per_page}) / 10) * interval '1 day'",
        "hours_ago": "now() - (1 + k * 31 % 48) * interval '1 hour'",
        "series": "generate_series(0::bigint, {rows} - 1) AS g(k)",
    },
    "sqlite": {
        "uuid": "lower(hex(randomblob(16)))", "now": "strftime('%Y-%m-%d %H:%M:%f', 'now')",
        "minutes_from_now": "strftime('%Y-%m-%d %H:%M:%f', 'now', printf('%+d minutes', (k * 7919 % 216000) - 129600))",
        "minutes_ago": "strftime('%Y-%m-%d %H:%M:%f', 'now', printf('-%d minutes', k * 104729 % 129600))",
        "days_ago": "strftime('%Y-%m-%d 00:00:00.000', 'now', printf('-%d days', (k % {per_page}) / 10))",
        "hours_ago": "strftime('%Y-%m-%d %H:%M:%f', 'now', printf('-%d hours', 1 + k * 31 % 48))",
        "series": "(WITH RECURSIVE g(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM g WHERE k < {rows} - 1) SELECT k FROM g)",
    },
}


def seed(url: str, rows: int, tenants: int) -> dict[str, float]:
    from sqlalchemy import insert

    from models import Integration, Tenant, utcnow
    from models.crypto import get_cipher
    from models.db import get_engine

    engine = get_engine(url)
    dialect = engine.dialect.name
    now = utcnow()
    ciphertext = get_cipher().encrypt("EAABenchToken" + uuid.uuid4().hex)  # one token for every Page
    tenant_ids = [str(uuid.uuid4()) for _ in range(tenants)]
    per_page = max(10, rows // tenants // 10 * 10)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(insert(Tenant), [{"id": t, "name": f"t{i}", "created_at": now} for i, t in enumerate(tenant_ids)])
        conn.execute(insert(Integration), [{
            "tenant_id": t, "external_account_id": str(10**14 + i), "api_key": ciphertext,
            "meta": {"pageId": str(10**14 + i), "pageName": f"p{i}"},
            "status": "needs_reconnect" if i % 100 == 0 else "active", "created_at": now, "updated_at": now}
            for i, t in enumerate(tenant_ids)])
        conn.exec_driver_sql("CREATE TEMP TABLE bench_pages AS SELECT (row_number() OVER (ORDER BY id)) - 1 AS n, "
                             "tenant_id, id AS integration_id FROM integrations")
    timings["tenants_and_pages"] = round(time.perf_counter() - started, 1)
    for table, template, count in (("social_posts", POSTS, rows), ("failed_jobs", JOBS, rows),
                                   ("page_insights", INSIGHTS, per_page * tenants)):
        parts = {k: v.format(rows=count, per_page=per_page) for k, v in SQL_PARTS[dialect].items()}
        started = time.perf_counter()
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TEMP TABLE IF NOT EXISTS bench_pages AS SELECT (row_number() OVER "
                                 "(ORDER BY id)) - 1 AS n, tenant_id, id AS integration_id FROM integrations")
            sql = template.format(tenants=tenants, per_page=per_page, **parts)
            conn.exec_driver_sql(sql.replace("%", "%%") if dialect == "postgresql" else sql)  # psycopg's % escape
        timings[table] = round(time.perf_counter() - started, 1)
    with engine.begin() as conn:  # fresh statistics, as autovacuum (or a periodic ANALYZE) would keep them
        conn.exec_driver_sql("ANALYZE")
    return timings


def timed(repeat: int, call: Callable[[], Any]) -> float:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        runs.append(time.perf_counter() - started)
    return round(statistics.median(runs) * 1000, 1)


def measure(repeat: int, tenant_id: str) -> dict[str, float]:
    from models import utcnow
    from models.db import transaction
    from tasks.domain import bulk, ops_queries, ops_status
    from tasks.domain.state_metrics import StateCollector
    from worker.core.settings import get_settings

    now = utcnow()

    def in_session(read: Callable[[Any], Any]) -> Callable[[], Any]:
        def run() -> Any:
            with transaction() as session:
                return read(session)
        return run

    settings = get_settings()
    return {
        "status_failures_24h_ms": timed(repeat, lambda: ops_status.failures_part(now)),
        "status_due_within_hour_ms": timed(repeat, lambda: ops_status.due_part(now)),
        "status_needs_reconnect_ms": timed(repeat, ops_status.reconnect_part),
        "insight_pull_ages_all_pages_ms": timed(repeat, in_session(lambda s: ops_queries.insight_pull_ages(s, now))),
        "exporter_database_part_ms": timed(repeat, lambda: list(StateCollector(settings)._database(settings))),
        "exporter_full_scrape_ms": timed(repeat, lambda: list(StateCollector(settings).collect())),
        "bulk_select_jobs_by_tenant_ms": timed(repeat, in_session(lambda s: bulk.select_jobs(
            s, bulk.JobFilter(tenant_id=tenant_id)))),
        "bulk_select_jobs_by_code_last_day_ms": timed(repeat, in_session(lambda s: bulk.select_jobs(
            s, bulk.JobFilter(code="190", since=now - timedelta(days=1))))),
        "bulk_select_posts_tenant_failed_ms": timed(repeat, in_session(lambda s: bulk.select_posts(
            s, tenant_id, "failed"))),
        "status_whole_report_ms": timed(repeat, lambda: ops_status.gather(settings, timeout=0.2)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--rows", type=int, default=1_000_000, help="posts, failed jobs and insight rows, each")
    parser.add_argument("--tenants", type=int, default=1000, help="tenants, one Page each")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()

    _common.flush_redis()
    url = _common.create_database(args.db)
    _common.configure(url, "http://127.0.0.1:9/v24.0")
    try:
        print(f"machine: {_common.machine()}")
        print(f"seeding {args.rows:,} posts, failed jobs and insight rows over {args.tenants:,} tenants ({args.db}) ...")
        seeding = seed(url, args.rows, args.tenants)
        print(f"seeded in seconds per table: {seeding}")
        from models import Tenant
        from models.db import transaction

        with transaction() as session:
            tenant_id = session.query(Tenant.id).first()[0]
        figures = measure(args.repeat, tenant_id)
        width = max(len(name) for name in figures)
        for name, value in figures.items():
            print(f"  {name:<{width}}  {value:>9.1f} ms (median of {args.repeat})")
        print(_common.json_line({"bench": "ops_queries", "db": args.db, "rows": args.rows, "tenants": args.tenants,
                                 "seed_seconds": seeding, **figures, **_common.machine()}))
    finally:
        if not args.keep_db:
            _common.drop_database(url)
        _common.flush_redis()


if __name__ == "__main__":
    main()
