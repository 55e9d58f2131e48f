"""``socialcal status`` (one screen: is the pipeline healthy?) and ``socialcal metrics`` (the state exporter)."""

from __future__ import annotations

import sys
import threading
from typing import Any

import click

from tasks.domain.ops_status import gather
from worker.cli.output import emit_json, emit_table, json_option
from worker.core.settings import get_settings

BUSIEST_PAGES = 10


@click.command()
@click.option("--timeout", default=1.0, show_default=True, type=click.FloatRange(0.1, 30),
              help="Seconds to wait for workers to answer.")
@json_option
def status(timeout: float, as_json: bool) -> None:
    """Queues, workers, beat, budgets, failures, Pages to reconnect, posts due. Exits 1 if a part is unreadable."""
    report = gather(get_settings(), timeout=timeout)
    if as_json:
        emit_json(report)
    else:
        render(report)
    if report["errors"]:
        sys.exit(1)


@click.command()
@click.option("--port", default=9809, show_default=True, type=click.IntRange(1, 65535))
@click.option("--host", default="0.0.0.0", show_default=True)
def metrics(port: int, host: str) -> None:
    """Serve the state gauges (database and Redis, read at scrape time) on /metrics, until stopped."""
    from prometheus_client import CollectorRegistry

    from tasks.domain.state_metrics import StateCollector
    from worker.core.metrics import serve_registry

    registry = CollectorRegistry()
    registry.register(StateCollector())
    try:
        server = serve_registry(registry, port, host)
    except OSError as error:
        raise click.ClickException(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    click.echo(f"serving state metrics on http://{host}:{server.server_port}/metrics", err=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.shutdown()


# ------------------------------------------------------------------------------------ rendering

def _ago(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    if seconds < 120:
        return f"{seconds:.0f}s ago"
    return f"{seconds / 60:.0f} min ago" if seconds < 7200 else f"{seconds / 3600:.1f} h ago"


def render(report: dict[str, Any]) -> None:
    echo = click.echo
    echo(f"socialcal status at {report['generated_at']:%Y-%m-%d %H:%M:%S} UTC")
    queues = report.get("queues")
    if queues is not None:
        echo("queues     " + " · ".join(f"{name} {depth}" for name, depth in queues.items()))
    workers = report.get("workers")
    if workers is not None:
        names = ", ".join(f"{n['name']} ({','.join(n['queues'])})" for n in workers["nodes"]) or "none answered"
        echo(f"workers    {workers['alive']} alive: {names}")
        if workers["unconsumed_queues"]:
            echo(f"           ! no live worker consumes {', '.join(workers['unconsumed_queues'])}")
    beat = report.get("beat")
    if beat is not None:
        late = "  ! late: is beat running?" if beat["late"] else ""
        echo(f"beat       dispatch_due last ran {_ago(beat['seconds_ago'])}{late}")
    budgets = report.get("budgets")
    if budgets is not None:
        _render_budgets(budgets)
    failures = report.get("failures")
    if failures is not None:
        total = sum(row["count"] for row in failures["last_24h"])
        echo(f"failures   {total} in the last 24 h ({failures['open']} open, not requeued)")
        if failures["last_24h"]:
            emit_table(failures["last_24h"], ["count", "task_name", "error_class", "error_code", "hint"])
    reconnect = report.get("needs_reconnect")
    if reconnect is not None:
        echo(f"reconnect  {len(reconnect)} Page(s) need `socialcal facebook connect`")
        if reconnect:
            emit_table(reconnect, ["page_id", "page_name", "tenant_id", "reason"])
    due = report.get("due_within_hour")
    if due is not None:
        echo(f"due        {due['count']} approved post(s) due within the hour not on Facebook yet "
             f"({due['overdue']} overdue); {due['pending_approval']} still waiting for approval")
        if due["posts"]:
            emit_table(due["posts"][:BUSIEST_PAGES], ["post_id", "status", "scheduled_at", "attempts", "last_error"])
    for error in report["errors"]:
        echo(f"! {error['part']}: {error['error']}", err=True)


def _render_budgets(budgets: dict[str, Any]) -> None:
    pages = budgets["pages"]
    paused = [p for p in pages if p["paused"]]
    app = budgets["app_paused_seconds"]
    app_text = f"app PAUSED {app:.0f}s more" if app else "app not paused"
    click.echo(f"budget     {app_text}; {len(pages)} Page(s), {len(paused)} paused; "
               f"{budgets['capacity_per_window']} calls per {budgets['window_seconds']:.0f}s window each")
    shown = paused + sorted((p for p in pages if not p["paused"]), key=lambda p: -(p["calls_in_window"] or 0))
    rows = [{"page_id": p["page_id"], "status": p["status"],
             "calls": "?" if p["calls_in_window"] is None else f"{p['calls_in_window']}/{p['capacity']}",
             "paused": ", ".join(f"{scope} {left:.0f}s" for scope, left in p["paused"].items()) or "-",
             "note": p["error"]} for p in shown[:BUSIEST_PAGES]]
    if rows:
        emit_table(rows, ["page_id", "status", "calls", "paused", "note"])


