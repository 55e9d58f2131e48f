"""``socialcal demo``: the whole pipeline on the embedded default, with nothing running beforehand.

SQLite in a named file, a real Celery worker in this process (threads; an in-memory broker, or
Redis when ``SOCIALCAL_BROKER_URL`` points at a live one), the sandbox Graph server on a free
loopback port and fresh encryption keys. Three tenants connect their Pages through user tokens (one
of them a bakery whose user token manages two Pages, planned per Page), plan next month, get copy
from a clearly labelled demo writer that answers each slot without naming a Page (the slot knows it;
one output invalid on purpose),
have most posts approved and one rejected, publish, pull 90 days of insights, find the planted
anomaly and build a report input. Everything goes through the broker and the worker, as in
production; only the writer and the approver are played by this module. The summary has one row per
Page.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import click
from cryptography.fernet import Fernet

from graph.sandbox import SandboxServer
from models import (
    CalendarSlot,
    InsightAnomaly,
    PostMetric,
    PostStatus,
    ReportInput,
    SocialPost,
)
from models.crypto import get_cipher
from models.db import transaction
from models.migrate import upgrade
from tasks.domain.clients import client_for_token
from tasks.domain.connect import connect_user_token
from tasks.domain.tenancy import create_tenant
from worker.app import app
from worker.core.logging import configure_logging
from worker.core.settings import get_settings

# (tenant, time zone, auto-publish, the Pages its user token manages)
DEMO_TENANTS = (
    ("Northwind Bakery", "Europe/Berlin", False, ("Northwind Bakery", "Northwind Bakery Outlet")),
    ("Harbor Bikes", "America/New_York", False, ("Harbor Bikes",)),
    ("Lumen Studio", "Asia/Tokyo", True, ("Lumen Studio",)),
)
DEMO_WRITER = "demo-writer (canned copy, not an AI)"


@dataclass(frozen=True)
class PageRun:
    page_id: str
    integration_id: str
    name: str


@dataclass
class TenantRun:
    tenant_id: str
    name: str
    pages: list[PageRun]
    auto_publish: bool
    post_ids: list[str] = field(default_factory=list)


def _redis_is_live(url: str) -> bool:
    if not url.startswith(("redis://", "rediss://")):
        return False
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5).ping()
        return True
    except Exception:  # noqa: BLE001 - any failure means "not live": fall back to the in-memory broker
        return False


def configure_environment(db_path: Path, graph_url: str) -> str:
    """Point this process at the demo's database, broker, keys and sandbox; returns the broker URL."""
    requested = os.environ.get("SOCIALCAL_BROKER_URL")
    broker = requested if requested and _redis_is_live(requested) else "memory://"
    os.environ.update({
        "SOCIALCAL_DATABASE_URL": f"sqlite:///{db_path}",
        "SOCIALCAL_BROKER_URL": broker,
        "SOCIALCAL_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "SOCIALCAL_GRAPH_URL": graph_url,
        "SOCIALCAL_GRAPH_VIDEO_URL": graph_url,
        "SOCIALCAL_LOG_LEVEL": os.environ.get("SOCIALCAL_LOG_LEVEL", "WARNING"),
        "SOCIALCAL_INSIGHTS_SPREAD_SECONDS": "0",
        # A one-minute budget window keeps Meta's 200-calls-per-hour shape but paces in 0.3 s steps,
        # so the demo finishes in seconds while every call still draws from the budget.
        "SOCIALCAL_GRAPH_BUDGET_WINDOW_SECONDS": "60",
        # The demo plans next month (up to 60 days ahead) and shows it scheduled at once: the feed
        # reference's 75-day window, which the sandbox enforces, instead of the cautious 29-day default.
        "SOCIALCAL_SCHEDULE_MAX_DAYS": "75",
    })
    if broker == "memory://":
        os.environ.pop("SOCIALCAL_REDIS_URL", None)

    get_settings.cache_clear()

    app.conf.broker_url = broker  # the app was built at import; nothing has connected yet
    if broker == "memory://":
        # The in-memory transport polls its queues; its 1 s default would dominate the demo's time.
        app.conf.broker_transport_options = {**app.conf.broker_transport_options, "polling_interval": 0.01}
    return broker


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise click.ClickException(f"demo timed out waiting for {what}")


def demo_copy(slot: Any, index: int, page_name: str) -> dict[str, Any]:
    """The demo writer: canned, labelled copy for a slot, routed by the slot's content type."""
    theme = slot.theme or "news"
    payload: dict[str, Any] = {"message": f"[demo] {page_name}: {theme} #{index + 1}",
                               "writer_run_id": DEMO_WRITER}
    if slot.content_type == "link":
        payload["link"] = "https://example.com/socialcal-demo"
    elif slot.content_type == "photo":
        payload["media"] = [{"url": f"https://picsum.photos/seed/{index}/1080/1080", "type": "image",
                             "alt_text": f"demo picture {index + 1}"}]
    return payload


class Demo:
    def __init__(self, db_path: Path, echo: Callable[[str], None] = click.echo) -> None:
        self.db_path = db_path
        self.echo = echo
        self.runs: list[TenantRun] = []
        self.timings: dict[str, float] = {}
        # Fresh tokens per run: a shared Redis must not carry one run's budget state into the next.
        self.nonce = os.urandom(4).hex()

    # Each step sends tasks through the broker and waits for the worker's rows to show up.

    def connect_pages(self, sandbox: Any) -> None:

        for number, (name, tz, auto, page_names) in enumerate(DEMO_TENANTS, start=1):
            user_token = f"EAADemoUser{number}{self.nonce}" + "x" * 16
            for page_name in page_names:  # one user token managing every Page of the tenant
                sandbox.add_page(name=f"{page_name} Page", user_token=user_token, anomaly=number != 2)
            with transaction() as session:
                tenant = create_tenant(session, name=name, timezone=tz, auto_publish=auto)
                connected = connect_user_token(session, get_cipher(), client_for_token(user_token, purpose="publish"),
                                               tenant_id=tenant.id)
                pages = [PageRun(c.page_id, c.integration_id, c.page_name) for c in connected]  # /me/accounts order
                self.runs.append(TenantRun(tenant.id, name, pages, auto))

    def plan(self) -> str:

        month = (datetime.now(timezone.utc).replace(day=1) + timedelta(days=32)).strftime("%Y-%m")
        for run in self.runs:
            app.send_task("calendar.plan_month", args=[run.tenant_id, month])
        wait_until(lambda: all(self._slots(run) for run in self.runs), 20, "calendar planning")
        return month

    def _slots(self, run: TenantRun) -> list[Any]:

        with transaction() as session:
            slots = session.query(CalendarSlot).filter_by(tenant_id=run.tenant_id).order_by(CalendarSlot.scheduled_at).all()
            for slot in slots:
                session.expunge(slot)
            return slots

    def write(self) -> None:

        now = datetime.now(timezone.utc)
        expected = 0
        for run_index, run in enumerate(self.runs):
            page_names = {page.integration_id: page.name for page in run.pages}
            for index, slot in enumerate(self._slots(run)):
                # Answered like a writer request: the slot names the Page, so the output does not.
                payload = {"tenant_id": run.tenant_id, "slot_id": slot.id, "platform": "facebook",
                           **demo_copy(slot, index, page_names.get(slot.integration_id, run.name))}
                if run_index == 0 and index == 1:
                    payload["media"] = [{"url": "http://insecure.example/not-https.jpg", "type": "image"}]
                app.send_task("posts.intake", args=[payload])
                expected += 1
            # One post for right now: a platform draft (or, with auto-publish, a live post). It has no
            # slot, so it names its Page.
            soon = now + (timedelta(minutes=-1) if run.auto_publish else timedelta(minutes=5))
            app.send_task("posts.intake", args=[{"tenant_id": run.tenant_id, "platform": "facebook",
                                                 "integration_id": run.pages[0].integration_id,
                                                 "message": f"[demo] {run.name}: today's special",
                                                 "scheduled_at": soon.isoformat(), "writer_run_id": DEMO_WRITER}])
            expected += 1
        wait_until(lambda: self._count_posts() >= expected, 30, "writer intake")

    def _count_posts(self) -> int:

        with transaction() as session:
            return session.query(SocialPost).count()

    def review(self) -> None:
        """The demo approver: approve every valid post but one, which is rejected with a reason."""

        with transaction() as session:
            pending = session.query(SocialPost).filter_by(status=PostStatus.PENDING_APPROVAL) \
                .order_by(SocialPost.tenant_id, SocialPost.scheduled_at).all()
            decisions = [(p.id, p.content_hash) for p in pending]
        for index, (post_id, content_hash) in enumerate(decisions):
            if index == 2:
                app.send_task("approval.reject", args=[post_id, "demo-approver", "off-brand tone (demo rejection)"])
            else:
                app.send_task("approval.approve", args=[post_id, "demo-approver", content_hash])
        wait_until(lambda: self._count_status(PostStatus.PENDING_APPROVAL) == 0, 30, "approvals")

    def _count_status(self, status: str) -> int:

        with transaction() as session:
            return session.query(SocialPost).filter_by(status=status).count()

    def publish(self) -> None:

        def settled() -> bool:
            now = datetime.now(timezone.utc)
            with transaction() as session:
                # Posts paced by the budget come back within seconds; only far-future ones may wait.
                busy = session.query(SocialPost).filter(
                    (SocialPost.status == PostStatus.PUBLISHING)
                    | ((SocialPost.status == PostStatus.APPROVED)
                       & (SocialPost.due_at <= now + timedelta(seconds=30)))).count()
            return busy == 0

        wait_until(settled, 40, "publishing")

    def insights(self) -> None:

        for page in (page for run in self.runs for page in run.pages):
            app.send_task("insights.pull_page", args=[page.integration_id])

        def found() -> bool:
            with transaction() as session:
                anomalies = session.query(InsightAnomaly).count()
                metrics = session.query(PostMetric).count()
            return anomalies >= 2 and metrics >= 1

        wait_until(found, 40, "insights and anomaly detection")

    def reports(self) -> None:

        end = date.today()
        for run in self.runs:
            app.send_task("analysis.build_report_input",
                          args=[run.tenant_id, (end - timedelta(days=28)).isoformat(), end.isoformat()])

        def built() -> bool:
            with transaction() as session:
                return session.query(ReportInput).count() >= len(self.runs)

        wait_until(built, 30, "report inputs")

    def summary(self, sandbox: Any) -> list[dict[str, Any]]:
        """One row per Page: what was planned for it, written, decided and published."""
        stats = sandbox.stats()
        calls_by_page = stats.get("calls_by_page") or {}
        rows = []
        with transaction() as session:
            for run in self.runs:
                for page in run.pages:
                    posts = session.query(SocialPost).filter_by(tenant_id=run.tenant_id,
                                                                integration_id=page.integration_id).all()
                    count = lambda *s: sum(1 for p in posts if p.status in s)  # noqa: E731
                    rows.append({
                        "tenant": run.name + (" (auto-publish)" if run.auto_publish else ""), "page": page.name,
                        "planned": session.query(CalendarSlot).filter_by(integration_id=page.integration_id).count(),
                        "written": len(posts), "invalid": count("invalid"),
                        "approved": sum(1 for p in posts if p.approved_by),
                        "waiting": count("approved"), "rejected": count("rejected"),
                        "scheduled": count("scheduled"), "drafts": count("platform_draft"),
                        "published": count("published"), "failed": count("failed"),
                        "graph_calls": int(calls_by_page.get(page.page_id, 0)),
                        "anomalies": session.query(InsightAnomaly).filter_by(integration_id=page.integration_id).count(),
                    })
        return rows


def run_demo(db_path: Path) -> list[dict[str, Any]]:
    from celery.contrib.testing.worker import start_worker


    if db_path.exists():
        db_path.unlink()
    for suffix in ("-wal", "-shm"):
        Path(str(db_path) + suffix).unlink(missing_ok=True)
    sandbox = SandboxServer(port=0, seed=int.from_bytes(os.urandom(2), "big")).start()
    try:
        broker = configure_environment(db_path, sandbox.graph_url)

        configure_logging("console", os.environ["SOCIALCAL_LOG_LEVEL"], force=True)
        logging.getLogger("kombu").setLevel(logging.ERROR)  # "no hostname" notes from the memory transport
        upgrade()
        demo = Demo(db_path)
        steps: list[tuple[str, Callable[[], Any]]] = [
            ("connect Pages through user tokens", lambda: demo.connect_pages(sandbox)),
            ("plan next month", demo.plan),
            ("demo writer fills the slots", demo.write),
            ("approve all but one, reject one", demo.review),
            ("publish (scheduled, drafts, live)", demo.publish),
            ("pull 90 days of insights, detect anomalies", demo.insights),
            ("build report inputs", demo.reports),
        ]
        click.echo(f"socialcal demo: SQLite at {db_path}, broker {broker.split('@')[-1]}, "
                   f"sandbox Graph at {sandbox.graph_url}")
        with start_worker(app, pool="threads", concurrency=4, perform_ping_check=False, loglevel="WARNING",
                          shutdown_timeout=10):
            with click.progressbar(steps, label="running the pipeline",
                                   item_show_func=lambda s: s[0] if s else "") as bar:
                for label, step in bar:
                    began = time.monotonic()
                    step()
                    demo.timings[label] = time.monotonic() - began
        if os.environ.get("SOCIALCAL_DEMO_TIMINGS"):
            click.echo(" ".join(f"{k}={v:.1f}s" for k, v in demo.timings.items()))
        return demo.summary(sandbox)
    finally:
        sandbox.stop()
