"""Benchmark: the daily insights pull for P Pages against the sandbox, through real workers.

    .venv/bin/python -m bench.insights --pages 1000 --workers 2

Setup (not timed): P tenants, each with one sandbox Page (token encrypted with
``models.crypto.get_cipher``), ``--posts-per-page`` posts published on each Page (created on the
sandbox through its Graph API, stored as ``published`` socialcal posts, so the daily pull also reads
post metrics), and ``--history-days`` of stored Page insights per Page up to the day before
yesterday, with the sandbox's own values: the timed pull is an incremental daily pull (one new
day, plus the re-read overlap), not a backfill. ``--backfill`` instead times the first pull (90 days
backfilled per Page) and then the daily pull on top of it.

The pull is what beat does every day: one ``insights.pull_all`` message (fan-out in waves, the daily
spread set to 0 so every Page is pulled now), then per Page ``insights.pull_page`` ->
``insights.sync_post_metrics`` and ``analysis.detect_anomalies``, all on W worker processes (solo
pool) on the ``insights`` queue. Timed from sending ``pull_all`` until the broker holds nothing
(queued or unacked) and every Page's post metrics are stored.

Printed: wall time, Pages/s, Graph calls per Page (sandbox counters: mean, min, max, by route) against
the target of 2 per Page for a daily pull (1 insights + 1 post metrics), rows written (page_insights
inserted/changed, post_metrics, anomalies), and where the time goes (task runtimes, worker CPU).

Budget: every Page token gets 100,000 calls/hour (socialcal's Redis budget and the sandbox alike), so
the budget does not pace the run; the budget is benchmarked separately.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from bench import (
    _common as common,  # first: it sets the broker env before anything reads settings
)

SEED = 7
TARGET_CALLS_PER_PAGE = 2
SUCCEEDED = re.compile(r"Task ([\w.]+)\[[0-9a-f-]+\] succeeded in ([0-9.]+)s")


# ----------------------------------------------------------------------------------- setup

def make_pages(sandbox: common.Sandbox, count: int) -> list[common.Page]:
    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(lambda n: sandbox.add_page(f"insights page {n}"), range(count)))


def publish_on_sandbox(sandbox: common.Sandbox, pages: list[common.Page], per_page: int) -> dict[str, list[str]]:
    """``per_page`` live posts on each Page, made through the sandbox's Graph API (as if published
    earlier today); returns post ids by Page id."""
    import threading

    import requests

    local = threading.local()

    def make(page: common.Page) -> tuple[str, list[str]]:
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        ids = []
        for n in range(per_page):
            response = session.post(f"{sandbox.graph_url}/{page.page_id}/feed",
                                    data={"message": f"bench post {n} of {page.page_id}"},
                                    headers={"Authorization": f"OAuth {page.token}"}, timeout=30)
            response.raise_for_status()
            ids.append(response.json()["id"])
        return page.page_id, ids

    with ThreadPoolExecutor(4) as pool:
        return dict(pool.map(make, pages))


def store_tenants(pages: list[common.Page], posts: dict[str, list[str]]) -> dict[str, str]:
    """Tenants, integrations (tokens encrypted) and published posts; returns integration id by Page id."""
    from sqlalchemy import insert

    from models import Integration, PostStatus, SocialPost, Tenant
    from models.crypto import get_cipher
    from models.db import transaction

    cipher = get_cipher()
    now = datetime.now(timezone.utc)
    tenants, integrations, rows, by_page = [], [], [], {}
    for page in pages:
        tenant_id, integration_id = str(uuid.uuid4()), str(uuid.uuid4())
        by_page[page.page_id] = integration_id
        tenants.append({"id": tenant_id, "name": f"Tenant {page.page_id}"})
        integrations.append({"id": integration_id, "tenant_id": tenant_id, "provider": "facebook",
                             "external_account_id": page.page_id, "api_key": cipher.encrypt(page.token),
                             "meta": {"pageId": page.page_id, "pageName": page.name, "tokenExpiresAt": None}})
        for n, external_id in enumerate(posts.get(page.page_id, [])):
            rows.append({"tenant_id": tenant_id, "integration_id": integration_id, "content_type": "text",
                         "message": f"bench post {n} of {page.page_id}", "status": PostStatus.PUBLISHED,
                         "external_id": external_id, "published_at": now - timedelta(minutes=5),
                         "scheduled_at": now - timedelta(minutes=5), "approved_by": "bench", "approved_at": now,
                         "publish_mode": "live"})
    with transaction() as session:
        for table, values in ((Tenant, tenants), (Integration, integrations), (SocialPost, rows)):
            for start in range(0, len(values), 1000):
                session.execute(insert(table), values[start:start + 1000])
    return by_page


def seed_history(db_url: str, by_page: dict[str, str], days: int) -> int:
    """``days`` of Page insights per Page, ending the day before yesterday, with the sandbox's values."""
    from graph.sandbox import series
    from models import PageInsight
    from models.db import get_engine
    from tasks.domain.page_insights import DEFAULT_METRICS

    today = datetime.now(timezone.utc).date()
    first, last = today - timedelta(days=days + 1), today - timedelta(days=2)
    fetched = datetime.now(timezone.utc) - timedelta(days=1)
    rows = []
    for page_id, integration_id in by_page.items():
        for metric in DEFAULT_METRICS:
            for day, value in series.series(SEED, page_id, metric, first, last, None):
                end = datetime.combine(day + timedelta(days=1), datetime.min.time(), timezone.utc).replace(hour=8)
                rows.append((integration_id, metric, "day", end, float(value), fetched))
    engine = get_engine(db_url)
    if engine.dialect.name == "postgresql":
        raw = engine.raw_connection()
        try:
            with raw.cursor() as cursor:  # type: ignore[attr-defined]
                with cursor.copy("COPY page_insights (integration_id, metric, period, end_time, value, fetched_at) "
                                 "FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            raw.commit()
        finally:
            raw.close()
    else:
        from sqlalchemy import insert

        keys = ("integration_id", "metric", "period", "end_time", "value", "fetched_at")
        with engine.begin() as conn:
            conn.execute(insert(PageInsight.__table__), [dict(zip(keys, r)) for r in rows])
    return len(rows)


# ----------------------------------------------------------------------------------- one pull

def db_counts(since: datetime) -> dict[str, int]:
    from sqlalchemy import func, select

    from models import FailedJob, InsightAnomaly, PageInsight, PostMetric
    from models.db import transaction

    with transaction() as session:
        return {
            "page_insights": session.scalar(select(func.count()).select_from(PageInsight)) or 0,
            "page_insights_written": session.scalar(select(func.count()).select_from(PageInsight)
                                                    .where(PageInsight.fetched_at >= since)) or 0,
            "post_metrics": session.scalar(select(func.count()).select_from(PostMetric)) or 0,
            "pages_with_metrics": session.scalar(select(func.count(func.distinct(PostMetric.integration_id)))
                                                 .where(PostMetric.read_at >= since)) or 0,
            "anomalies": session.scalar(select(func.count()).select_from(InsightAnomaly)) or 0,
            "failed_jobs": session.scalar(select(func.count()).select_from(FailedJob)) or 0,
        }


def machine_busy() -> tuple[float, float]:
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return float(sum(fields) - idle), float(sum(fields))


def run_pull(label: str, pages: list[common.Page], sandbox: common.Sandbox, workers: common.Workers, redis: Any,
             *, expect_metrics: bool, stall_seconds: float) -> dict[str, Any]:
    from worker.app import app

    p = len(pages)
    marks = workers.log_marks()
    stats0 = sandbox.stats()
    start_dt = datetime.now(timezone.utc)
    before = db_counts(start_dt)
    cpu0, busy0 = workers.cpu_seconds(), machine_busy()
    sandbox_cpu0 = common.process_cpu_seconds(sandbox._proc.pid) if sandbox._proc else None
    start = time.time()
    app.send_task("insights.pull_all", queue="insights")
    last, last_change, seen_work = None, time.monotonic(), False
    while True:
        time.sleep(0.25)
        backlog = common.broker_backlog(redis, ["insights"])
        seen_work = seen_work or backlog > 0
        now_counts = db_counts(start_dt)
        metrics_done = (not expect_metrics) or now_counts["pages_with_metrics"] >= p
        if backlog == 0 and seen_work and metrics_done:
            break
        progress = (now_counts["page_insights_written"], now_counts["post_metrics"], backlog)
        if progress != last:
            last, last_change = progress, time.monotonic()
        elif time.monotonic() - last_change > stall_seconds:
            print(f"  {label}: stalled (backlog {backlog}); stopping", file=sys.stderr)
            break
    wall = time.time() - start
    busy1, cpu1 = machine_busy(), workers.cpu_seconds()
    sandbox_cpu = (common.process_cpu_seconds(sandbox._proc.pid) - sandbox_cpu0) if sandbox._proc else None
    after = db_counts(start_dt)
    stats1 = sandbox.stats()

    page_ids = {page.page_id for page in pages}
    by_page = common.stats_delta(stats1, stats0, "calls_by_page")
    per_page = [by_page.get(pid, 0) for pid in page_ids]
    times: dict[str, list[float]] = defaultdict(list)
    for name, seconds in SUCCEEDED.findall(workers.logs_since(marks)):
        times[name].append(float(seconds))
    task_ms = {name: {"count": len(v), "mean_ms": round(1000 * sum(v) / len(v), 2),
                      "p95_ms": round(1000 * (common.percentile(v, 95) or 0), 2)} for name, v in sorted(times.items())}
    return {
        "phase": label,
        "pages": p,
        "wall_seconds": round(wall, 2),
        "pages_per_second": round(p / wall, 1),
        "graph_calls": sum(per_page),
        "calls_per_page_mean": round(sum(per_page) / p, 3),
        "calls_per_page_min": min(per_page),
        "calls_per_page_max": max(per_page),
        "calls_by_route": common.stats_delta(stats1, stats0, "calls_by_route"),
        "graph_errors": common.stats_delta(stats1, stats0, "errors_by_code"),
        "over_budget_calls": int(stats1["over_budget_calls"]) - int(stats0["over_budget_calls"]),
        "page_insights_inserted": after["page_insights"] - before["page_insights"],
        "page_insights_changed_or_inserted": after["page_insights_written"],
        "post_metrics_rows": after["post_metrics"] - before["post_metrics"],
        "pages_with_post_metrics": after["pages_with_metrics"],
        "anomalies_new": after["anomalies"] - before["anomalies"],
        "failed_jobs_new": after["failed_jobs"] - before["failed_jobs"],
        "tasks": task_ms,
        "worker_cpu_ms_per_page": round((cpu1 - cpu0) * 1000 / p, 2),
        "sandbox_cpu_ms_per_page": round(sandbox_cpu * 1000 / p, 2) if sandbox_cpu is not None else None,
        "machine_cpu_busy": round((busy1[0] - busy0[0]) / max(1.0, busy1[1] - busy0[1]), 3),
    }


# ----------------------------------------------------------------------------------- profile

def run_profile(k: int, by_page: dict[str, str], sandbox: common.Sandbox) -> dict[str, Any]:
    """One Page's daily pull (insights + post metrics + anomaly scoring), in this process, for ``k``
    Pages: wall/CPU per Page and SQL/Redis round trips, then cProfile's view of where time goes."""
    import cProfile
    import io
    import os
    import pstats

    from models.db import transaction
    from tasks.domain.anomalies import detect_anomalies
    from tasks.domain.page_insights import pull_page_insights
    from tasks.domain.post_metrics import sync_post_metrics
    from worker.core.logging import configure_logging
    from worker.core.settings import get_settings

    ids = list(by_page.values())[:k]
    configure_logging("json", "INFO", stream=open(os.devnull, "w"), force=True)
    def one(integration_id: str) -> None:
        pull_page_insights(integration_id)
        sync_post_metrics(integration_id)
        with transaction() as session:
            detect_anomalies(session, integration_id, threshold=get_settings().anomaly_threshold, notify=False)

    half = max(1, len(ids) // 2)
    stats0 = sandbox.stats()
    with common.counting_io() as counts:
        wall0, cpu0 = time.perf_counter(), time.process_time()
        for integration_id in ids[:half]:
            one(integration_id)
        wall, cpu = (time.perf_counter() - wall0) / half, (time.process_time() - cpu0) / half
        per_page = {name: round(v / half, 2) for name, v in sorted(counts.items())}
        profiler = cProfile.Profile()
        profiler.enable()
        for integration_id in ids[half:]:
            one(integration_id)
        profiler.disable()
    configure_logging("json", "WARNING", force=True)
    calls = common.stats_delta(sandbox.stats(), stats0, "calls_by_route")
    stats = pstats.Stats(profiler, stream=io.StringIO())
    n = max(1, len(ids) - half)
    spots = [("tasks/insights_pull.py", "pull_page_insights"), ("tasks/insights_pull.py", "plan_pull"),
             ("tasks/insights_pull.py", "fetch_insights"), ("tasks/insights_pull.py", "store_insights"),
             ("tasks/post_metrics.py", "sync_post_metrics"), ("tasks/anomalies.py", "detect_anomalies"),
             ("graph/budget.py", "acquire"), ("requests/sessions.py", "request"),
             ("models/crypto.py", "decrypt"), ("structlog/stdlib.py", "_proxy_to_logger"),
             ("worker/redaction.py", "redact"), ("sqlalchemy/orm/session.py", "commit")]
    inclusive = []
    for suffix, func in spots:
        cum = sum(v[3] for (file, _l, name), v in stats.stats.items()  # type: ignore[attr-defined]
                  if file.endswith(suffix) and name == func)
        inclusive.append((f"{Path(suffix).name}:{func}", round(cum * 1000 / n, 2)))
    top = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)[:8]  # type: ignore[attr-defined]
    return {"pages": len(ids), "wall_ms_per_page": round(wall * 1000, 2), "cpu_ms_per_page": round(cpu * 1000, 2),
            "per_page_counts": per_page, "graph_calls_by_route": calls, "inclusive_ms_per_page_profiled": inclusive,
            "top_own_time": [(f"{Path(f).name}:{line} {name}", round(v[2] * 1000 / n, 3))
                             for (f, line, name), v in top]}


# ----------------------------------------------------------------------------------- report

def describe(run: dict[str, Any]) -> list[str]:
    tasks = ", ".join(f"{name.split('.', 1)[1]} {t['mean_ms']} ms x{t['count']}" for name, t in run["tasks"].items())
    return [
        f"  {run['phase']}: {run['pages']} Pages in {run['wall_seconds']} s ({run['pages_per_second']} Pages/s)",
        f"      Graph calls per Page: mean {run['calls_per_page_mean']} (min {run['calls_per_page_min']}, max "
        f"{run['calls_per_page_max']}); by route {run['calls_by_route']}; errors {run['graph_errors'] or 'none'}; "
        f"over budget {run['over_budget_calls']}",
        f"      rows: page_insights inserted {run['page_insights_inserted']}, changed or inserted "
        f"{run['page_insights_changed_or_inserted']}; post_metrics {run['post_metrics_rows']} "
        f"({run['pages_with_post_metrics']} Pages); anomalies {run['anomalies_new']}; failed_jobs {run['failed_jobs_new']}",
        f"      tasks (mean runtime): {tasks}",
        f"      worker CPU {run['worker_cpu_ms_per_page']} ms/Page, sandbox CPU {run['sandbox_cpu_ms_per_page']} ms/Page, "
        f"machine CPU busy {run['machine_cpu_busy']:.0%}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=1000, help="Pages (one tenant each; default 1000)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--pool", choices=("solo", "threads", "prefork"), default="solo",
                        help="Celery pool of each worker process (default solo; threads overlaps Graph waits)")
    parser.add_argument("--concurrency", type=int, default=8, help="threads or children per process (not solo)")
    parser.add_argument("--posts-per-page", type=int, default=3, help="published posts per Page (default 3)")
    parser.add_argument("--history-days", type=int, default=35,
                        help="stored days of insights per Page before the daily pull (default 35: the anomaly "
                             "detector's 28-day reference plus its 7 scored days)")
    parser.add_argument("--backfill", action="store_true",
                        help="no seeded history: time the first pull (90-day backfill) and then the daily pull")
    parser.add_argument("--repeat", type=int, default=1, help="daily pulls to time (medians printed; default 1)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="sandbox latency per Graph call (default 0)")
    parser.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--sandbox", choices=("process", "thread"), default="process")
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--profile", type=int, default=0, metavar="K",
                        help="afterwards, pull K Pages in this process and print where the time goes")
    parser.add_argument("--stall-seconds", type=float, default=30.0)
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args(argv)

    mach = common.machine()
    common.flush_redis()
    db_url = common.create_database(args.db)
    sandbox = common.Sandbox(mode=args.sandbox, seed=SEED, calls_per_window=common.BIG_BUDGET,
                             latency_ms=args.latency_ms).start()
    log_dir = Path(tempfile.mkdtemp(prefix="socialcal-bench-insights-"))
    env = common.configure(db_url, sandbox.graph_url, extra={"SOCIALCAL_LOG_LEVEL": args.log_level.upper(),
                                                             "SOCIALCAL_INSIGHTS_SPREAD_SECONDS": "0"})
    redis = common.redis_client()
    workers = common.Workers("worker.app:app", ["insights"], env, args.workers, log_dir, "ins", loglevel=args.log_level,
                             pool=args.pool, concurrency=1 if args.pool == "solo" else args.concurrency)
    try:
        t0 = time.time()
        print(f"setup: database {db_url.rsplit('/', 1)[-1]}, sandbox {sandbox.base_url}, worker logs {log_dir}",
              file=sys.stderr, flush=True)
        pages = make_pages(sandbox, args.pages)
        posts = publish_on_sandbox(sandbox, pages, args.posts_per_page) if args.posts_per_page else {}
        by_page = store_tenants(pages, posts)
        seeded = 0 if args.backfill else seed_history(db_url, by_page, args.history_days)
        workers.start()
        setup_seconds = time.time() - t0
        print(f"setup done in {setup_seconds:.1f} s ({seeded} history rows)", file=sys.stderr, flush=True)
        runs = []
        if args.backfill:
            print("backfill pull...", file=sys.stderr, flush=True)
            runs.append(run_pull("first pull (90-day backfill)", pages, sandbox, workers, redis,
                                 expect_metrics=bool(args.posts_per_page), stall_seconds=args.stall_seconds))
        for rep in range(args.repeat):
            print(f"daily pull {rep + 1}/{args.repeat}...", file=sys.stderr, flush=True)
            runs.append(run_pull(f"daily pull {rep + 1}", pages, sandbox, workers, redis,
                                 expect_metrics=bool(args.posts_per_page), stall_seconds=args.stall_seconds))
        workers.stop()
        profile = run_profile(args.profile, by_page, sandbox) if args.profile else None

        daily = [r for r in runs if r["phase"].startswith("daily")]
        med = common.median
        summary = {
            "daily_wall_seconds": med(r["wall_seconds"] for r in daily),
            "daily_pages_per_second": med(r["pages_per_second"] for r in daily),
            "daily_calls_per_page": med(r["calls_per_page_mean"] for r in daily),
            "daily_calls_per_page_max": max(r["calls_per_page_max"] for r in daily),
            "daily_worker_cpu_ms_per_page": med(r["worker_cpu_ms_per_page"] for r in daily),
        }
        met = summary["daily_calls_per_page_max"] <= TARGET_CALLS_PER_PAGE
        backend = "PostgreSQL" if db_url.startswith("postgresql") else "SQLite"
        lines = [
            "",
            "socialcal insights benchmark (daily pull)",
            f"  size    : {args.pages} Pages (one tenant each), {args.posts_per_page} published posts per Page, "
            f"{'no history (backfill timed first)' if args.backfill else f'{args.history_days} days of stored history per Page'}, "
            f"{args.workers} worker processes ({args.pool} pool"
            f"{'' if args.pool == 'solo' else f', {args.concurrency} each'}, insights queue), "
            f"sandbox latency {args.latency_ms:g} ms",
            f"  stack   : Redis broker {common.BROKER_URL}, {backend}, sandbox in a {args.sandbox}, {mach['cpus']} CPUs "
            f"(load {mach['loadavg_1m_at_start']} at start); setup {setup_seconds:.1f} s (not timed)",
            f"  budget  : {common.BIG_BUDGET:,} calls/hour per Page token (socialcal budget and sandbox): not the "
            "limit here; the budget is benchmarked separately",
            f"  daily   : {fmt(summary['daily_wall_seconds'], 1)} s wall for {args.pages} Pages "
            f"({fmt(summary['daily_pages_per_second'], 1)} Pages/s), Graph calls per Page "
            f"{fmt(summary['daily_calls_per_page'], 2)} (max {summary['daily_calls_per_page_max']}); target "
            f"<= {TARGET_CALLS_PER_PAGE} (1 insights + 1 post metrics) -> {'MET' if met else 'MISSED'}",
            "",
        ]
        for run in runs:
            lines += describe(run)
        if profile:
            lines += ["", f"profile: {profile['pages']} Pages pulled in this process (insights + post metrics + "
                          "anomaly scoring; half plain, half under cProfile)",
                      f"  plain: {profile['wall_ms_per_page']} ms wall, {profile['cpu_ms_per_page']} ms CPU per Page",
                      "  per Page: " + ", ".join(f"{k} {v}" for k, v in profile["per_page_counts"].items()),
                      "  inclusive ms per Page (cProfile; nested overlap): "
                      + "; ".join(f"{name} {ms}" for name, ms in profile["inclusive_ms_per_page_profiled"]),
                      "  top own time per Page (ms): " + "; ".join(f"{n} {ms}" for n, ms in profile["top_own_time"])]
        print("\n".join(lines), flush=True)
        print(common.json_line({"benchmark": "insights", "config": {
            "pages": args.pages, "workers": args.workers, "posts_per_page": args.posts_per_page,
            "history_days": 0 if args.backfill else args.history_days, "backfill": args.backfill,
            "latency_ms": args.latency_ms, "repeat": args.repeat, "database": backend, "sandbox": args.sandbox,
            "broker": common.BROKER_URL, "calls_per_hour_per_page": common.BIG_BUDGET,
            "setup_seconds": round(setup_seconds, 1), **mach},
            "median": summary, "target_calls_per_page": TARGET_CALLS_PER_PAGE, "target_met": met,
            "runs": runs, "profile": profile}), flush=True)
        return 0
    finally:
        workers.stop()
        sandbox.stop()
        common.flush_redis()
        if args.keep_db:
            print(f"kept database {db_url}", file=sys.stderr)
        else:
            common.drop_database(db_url)


def fmt(value: Any, digits: int = 2) -> str:
    return common.fmt(value, digits)


if __name__ == "__main__":
    raise SystemExit(main())
