"""The state exporter's collector: gauges read from the database and Redis at scrape time.

Counters and histograms of events live in each worker (``worker.core.metrics``); what the pipeline
*holds* (queue depths, open failed jobs, Pages to reconnect, budgets and pauses per Page, insight pull
age per Page, beat's last run, approved posts not yet on Facebook) is read fresh on every scrape
here, by one process (``socialcal metrics``), so N workers never multiply the queries. Every query is
indexed (``tasks.domain.ops_queries``). A store that is down gives ``socialcal_state_up{part=...} 0``
and the scrape still succeeds.

Labels: ``page_id`` is the Facebook Page id, bounded by the Pages connected by our tenants (one
series per connected Page, aggregated when two tenants connect the same Page); never a token, never
a post id or text.
"""

from __future__ import annotations

import time
from typing import Any, Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from models import utcnow
from models.crypto import get_cipher
from models.db import transaction
from tasks.domain import ops_queries, ops_status
from tasks.domain.clients import budget_for
from tasks.domain.heartbeat import last_dispatch_run
from worker.core.logging import get_logger
from worker.core.settings import Settings, get_settings

log = get_logger(__name__)


def _gauge(name: str, doc: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=labels or [])


class StateCollector(Collector):
    """Yields the state gauges; each part fails alone and says so in ``socialcal_state_up``."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings

    def collect(self) -> Iterator[Any]:
        settings = self.settings or get_settings()
        up = _gauge("socialcal_state_up", "1 when the exporter could read this part of the state.", ["part"])
        for part, read in (("broker", self._broker), ("database", self._database), ("budget", self._budget)):
            try:
                families = list(read(settings))
            except Exception as error:  # noqa: BLE001 - a scrape must still answer: say which part is down
                log.warning("state_metrics_part_failed", part=part, error=ops_status.plain_error(error))
                up.add_metric([part], 0)
                continue
            up.add_metric([part], 1)
            yield from families
        yield up

    # ---- parts

    def _broker(self, settings: Settings) -> Iterator[GaugeMetricFamily]:
        depths = ops_queries.queue_depths(ops_status.broker_redis(settings))
        queues = _gauge("socialcal_queue_messages", "Messages waiting in each queue; queue=unacked: delivered, "
                        "not yet acknowledged.", ["queue"])
        for queue, depth in depths.items():
            queues.add_metric([queue], depth)
        yield queues

    def _database(self, settings: Settings) -> Iterator[GaugeMetricFamily]:
        now = utcnow()
        with transaction() as session:
            failed = ops_queries.open_failed_jobs(session)
            integrations = ops_queries.integrations_by_status(session)
            handoff = ops_queries.awaiting_handoff(session, now, limit=0)
            pulled = ops_queries.budgeted_integrations(session)
            ages = ops_queries.insight_pull_ages(session, now)
        jobs = _gauge("socialcal_failed_jobs_open", "failed_jobs rows not requeued yet.", ["task", "error_class"])
        for row in failed:
            jobs.add_metric([row["task_name"], row["error_class"]], row["count"])
        pages = _gauge("socialcal_integrations", "Connected Facebook Pages by status (needs_reconnect: a person "
                       "must reconnect).", ["status"])
        for status in ("active", "needs_reconnect", "disabled"):
            pages.add_metric([status], integrations.get(status, 0))
        waiting = _gauge("socialcal_posts_awaiting_handoff", "Approved posts not on Facebook yet whose slot is past "
                         "(overdue) or within the next hour (next_hour).", ["window"])
        waiting.add_metric(["overdue"], handoff["overdue"])
        waiting.add_metric(["next_hour"], handoff["count"] - handoff["overdue"])
        age = _gauge("socialcal_insights_pull_age_seconds", "Seconds since the Page's last insights pull (since "
                     "it was connected when never pulled).", ["page_id"])
        by_page: dict[str, float] = {}
        for integration in pulled:
            by_page[integration.page_id] = max(by_page.get(integration.page_id, 0.0), ages.get(integration.id, 0.0))
        for page_id, seconds in sorted(by_page.items()):
            age.add_metric([page_id], seconds)
        yield from (jobs, pages, waiting, age)

    def _budget(self, settings: Settings) -> Iterator[GaugeMetricFamily]:
        state = ops_status.state_redis_or_fail(settings)
        now = time.time()
        beat = _gauge("socialcal_dispatch_due_last_run_timestamp_seconds",
                      "When dispatch_due (sent by beat every minute) last ran; 0: not since Redis started.")
        run = last_dispatch_run(state)
        beat.add_metric([], run["at"] if run else 0)
        budget = budget_for(settings)
        with transaction() as session:
            integrations = ops_queries.budgeted_integrations(session)
            for integration in integrations:
                session.expunge(integration)
        calls = _gauge("socialcal_graph_budget_calls_in_window", "Graph calls taken from the Page's budget "
                       "in the current window.", ["page_id"])
        capacity = _gauge("socialcal_graph_budget_capacity",
                          "Calls allowed per Page per budget window (24 x SOCIALCAL_GRAPH_CALLS_PER_HOUR per 24 h).")
        capacity.add_metric([], budget.shape.capacity)
        paused = _gauge("socialcal_graph_pause_remaining_seconds", "Seconds left on a pause in force for the Page's "
                        "token or the Page (0: not paused).", ["page_id", "scope"])
        used: dict[str, int] = {}
        pauses: dict[tuple[str, str], float] = {}
        for page in ops_queries.page_budgets(integrations, budget, get_cipher(settings), now):
            used[page.page_id] = max(used.get(page.page_id, 0), page.calls_in_window or 0)
            for scope in ("token", "page"):
                key = (page.page_id, scope)
                pauses[key] = max(pauses.get(key, 0.0), page.paused.get(scope, 0.0))
        for page_id, count in sorted(used.items()):
            calls.add_metric([page_id], count)
        for (page_id, scope), seconds in sorted(pauses.items()):
            paused.add_metric([page_id, scope], seconds)
        app = _gauge("socialcal_graph_app_pause_remaining_seconds", "Seconds left on a pause of the whole app "
                     "(0: not paused).")
        app.add_metric([], ops_queries.app_pause_seconds(budget, now) or 0.0)
        yield from (beat, calls, capacity, paused, app)
