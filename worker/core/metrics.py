"""The pipeline's Prometheus metrics: the metric objects, bounded labels and the per-worker endpoint.

Ground floor (``prometheus_client`` only): product code records with one-line calls
(``metrics.post_event(...)``), and this module is the one place that knows names, labels and buckets.

**Multiprocess-safe.** A prefork worker runs tasks in child processes while its endpoint lives in the
main process, so values must cross processes: prometheus_client's multiprocess mode keeps every
process's values in mmap files in one directory and the endpoint merges them at scrape time. The
worker switches that mode on in its main process at ``worker_init``, before the pool forks
(``enable_multiprocess``); that is safe only because **every metric here has labels**: a labelled
metric holds no value until ``.labels(...)`` is first called, so nothing was written in the old mode.
A threads pool (or ``solo``) records from threads of the one process; the mmap values take a lock.

**Bounded labels.** No label ever carries a token, a message text or an unbounded id. Labels are
fixed vocabularies (event kinds, statuses, outcomes), error class names from the code, Graph error
codes, and Graph route *templates* (``POST /{page}/feed``). Whatever arrives from outside (a Graph
code, a route) also passes ``bounded``: a label takes at most ``MAX_VALUES_PER_LABEL`` distinct
values per process; later newcomers are counted as ``other``.

Gauges that describe the database and Redis (open failed jobs, budgets per Page, ...) are not here:
they are computed at scrape time by the state exporter (``tasks.domain.state_metrics``).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server, values
from prometheus_client.multiprocess import MultiProcessCollector

MAX_VALUES_PER_LABEL = 100
OTHER = "other"
NONE = "none"
_LABEL_TEXT = re.compile(r"^[A-Za-z0-9_.:/{} -]{1,80}$")

# What an audit event leaves the post in, for events written by id (the publisher's fenced writes).
EVENT_STATUS = {
    "scheduled": "scheduled", "published": "published", "platform_draft": "platform_draft",
    "failed": "failed", "outcome_unknown": "failed", "publish_intent": "publishing", "reconciled": "publishing",
}
EVENT_KINDS = frozenset({
    "written", "replaced", "invalid", "intake_ignored", "approved", "rejected", "decision_refused", "edit_approved",
    "edit_proposed", "message_updated", "rescheduled", "cancelled", "requeued", "publish_refused", *EVENT_STATUS,
})
POST_STATUSES = frozenset({"pending_approval", "approved", "publishing", "scheduled", "published", "platform_draft",
                           "rejected", "invalid", "failed", "cancelled"})
PUBLISH_OUTCOMES = frozenset({"scheduled", "published", "platform_draft", "waiting", "skipped", "lease_lost",
                              "failed"})

POST_EVENTS = Counter(
    "socialcal_post_events", "Audit events written for posts (committed), by kind and the status the post is left in.",
    ["kind", "status"])
PUBLISH_OUTCOME = Counter(
    "socialcal_publish_outcomes", "publish_post attempts by outcome, error class and Graph error code.",
    ["outcome", "error_class", "code"])
APPROVE_TO_PAGE = Histogram(
    "socialcal_approve_to_page_seconds",
    "Seconds from approval to the post being on the Page (scheduled, draft or live), by the status reached.",
    ["status"],
    buckets=(1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 6 * 3600, 86400, 7 * 86400, 30 * 86400))
GRAPH_CALLS = Counter(
    "socialcal_graph_calls", "Graph API requests sent, by route template, outcome (ok or error class) and Graph code.",
    ["route", "outcome", "code"])
GRAPH_REFUSALS = Counter(
    "socialcal_graph_budget_refusals", "Graph calls the shared budget refused before sending (nothing was sent).",
    ["purpose"])

_seen: dict[str, set[str]] = {}
_seen_lock = threading.Lock()


def bounded(label: str, value: Any) -> str:
    """``value`` as a safe label value: printable, short, and one of at most ``MAX_VALUES_PER_LABEL``."""
    if value is None or value == "":
        return NONE
    text = str(value)
    if not _LABEL_TEXT.match(text):
        return OTHER
    with _seen_lock:
        seen = _seen.setdefault(label, set())
        if text in seen:
            return text
        if len(seen) >= MAX_VALUES_PER_LABEL:
            return OTHER
        seen.add(text)
    return text


def graph_code(code: Any, subcode: Any = None) -> str:
    """A Graph error code label: ``190`` or ``190/463``; anything that is not a small integer is ``other``."""
    if code is None:
        return NONE
    if not isinstance(code, int) or isinstance(code, bool) or not 0 <= code < 10_000_000:
        return OTHER
    if isinstance(subcode, int) and not isinstance(subcode, bool) and 0 < subcode < 10_000_000:
        return bounded("code", f"{code}/{subcode}")
    return bounded("code", str(code))


# ------------------------------------------------------------------------------------ recording

def post_event(kind: str, status: str | None) -> None:
    """One committed audit event; ``status`` is the post's status after it (None: from the kind)."""
    status = status or EVENT_STATUS.get(kind)
    POST_EVENTS.labels(kind if kind in EVENT_KINDS else OTHER,
                       status if status in POST_STATUSES else OTHER).inc()


def publish_outcome(outcome: str, error: BaseException | str | None = None, code: Any = None) -> None:
    """One ``publish_post`` attempt: its outcome, and the error class and Graph code when there was one."""
    if isinstance(error, BaseException):
        code = getattr(error, "code", None) if code is None else code
        error = type(error).__name__
    PUBLISH_OUTCOME.labels(outcome if outcome in PUBLISH_OUTCOMES else OTHER, bounded("error_class", error),
                           graph_code(code)).inc()


def approve_to_page(status: str, seconds: float) -> None:
    if seconds >= 0:
        APPROVE_TO_PAGE.labels(status if status in POST_STATUSES else OTHER).observe(seconds)


def graph_call(route: str, error: BaseException | None) -> None:
    """One Graph request sent (``route`` is a template, never a raw path with ids)."""
    outcome = "ok" if error is None else bounded("error_class", type(error).__name__)
    code = NONE if error is None else graph_code(getattr(error, "code", None), getattr(error, "subcode", None))
    GRAPH_CALLS.labels(bounded("route", route), outcome, code).inc()


def graph_refusal(purpose: str) -> None:
    GRAPH_REFUSALS.labels(purpose if purpose in ("publish", "insights") else OTHER).inc()


# ------------------------------------------------------------------------------------ serving

class WorkerEndpoint:
    """The worker's ``/metrics``: every process of this worker, merged from its multiprocess directory."""

    def __init__(self) -> None:
        self.directory: str | None = None
        self._server: Any = None

    def enable_multiprocess(self) -> str:
        """Record every later value of this process and its children in mmap files in a fresh,
        private directory (removed at ``stop``). Call in the worker's main process before the pool
        forks; a private directory per worker means no two workers (or containers) share pid files.
        """
        directory = tempfile.mkdtemp(prefix="socialcal-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
        values.ValueClass = values.MultiProcessValue()
        self.directory = directory
        return directory

    def start(self, port: int, addr: str = "0.0.0.0") -> int:
        """Serve the merged values on ``port`` (0: any free port); returns the port bound."""
        assert self.directory is not None, "enable_multiprocess first"
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self.directory)
        self._server, _thread = start_http_server(port, addr=addr, registry=registry)
        return int(self._server.server_port)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self.directory:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None


def serve_registry(registry: CollectorRegistry, port: int, addr: str = "0.0.0.0") -> Any:
    """Serve ``registry`` on ``port`` in a daemon thread (the state exporter); returns the server."""
    server, _thread = start_http_server(port, addr=addr, registry=registry)
    return server
