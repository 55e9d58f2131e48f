"""``socialcal worker``, ``beat``, ``sandbox`` and ``demo``: long-running processes."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from worker.app import app
from worker.cli.output import emit_table
from worker.core.queues import WORKER_QUEUES


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option("--queues", "-Q", default=",".join(q.value for q in WORKER_QUEUES), show_default=True)
@click.option("--concurrency", "-c", type=int, default=None, help="Worker processes (default: CPU count).")
@click.option("--pool", default="prefork", show_default=True)
@click.pass_context
def worker(ctx: click.Context, queues: str, concurrency: int | None, pool: str) -> None:
    """Run a Celery worker (extra options are passed to Celery)."""

    argv = ["worker", "-Q", queues, "--pool", pool, "--loglevel", "INFO", *ctx.args]
    if concurrency:
        argv += ["--concurrency", str(concurrency)]
    app.worker_main(argv)


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
def beat(ctx: click.Context) -> None:
    """Run Celery beat (dispatch_due every minute, daily insights, monthly planning, reports)."""
    app.start(["beat", "--loglevel", "INFO", *ctx.args])


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8765, show_default=True, type=int)
@click.option("--pages", default=3, show_default=True, type=int, help="Demo Pages to create at start.")
@click.option("--seed", default=1, show_default=True, type=int)
@click.option("--calls-per-window", default=4800, show_default=True, type=int,
              help="Calls per Page (x its engaged users) per window: Meta's Pages limit is 4800 per 24 h.")
@click.option("--window-seconds", default=86400, show_default=True, type=int)
@click.option("--window-mode", default="rolling", show_default=True, type=click.Choice(["rolling", "fixed"]))
@click.option("--latency-ms", default=0, show_default=True, type=int)
@click.option("--app-secret", envvar="SOCIALCAL_SANDBOX_APP_SECRET", default=None,
              help="The app secret the sandbox knows (its app token and OAuth endpoints); prefer the environment.")
def sandbox(host: str, port: int, pages: int, seed: int, calls_per_window: int, window_seconds: int,
            window_mode: str, latency_ms: int, app_secret: str | None) -> None:
    """Serve the sandbox Graph API on loopback (for the demo, tests and benchmarks)."""
    from graph.sandbox import serve  # the test double is loaded only by its own command

    serve(host=host, port=port, demo_pages=pages, seed=seed, calls_per_window=calls_per_window,
          window_seconds=window_seconds, latency_ms=latency_ms, window_mode=window_mode, app_secret=app_secret)


@click.command()
@click.option("--db", "db_path", default="socialcal-demo.db", show_default=True, type=click.Path(dir_okay=False),
              help="SQLite file for the demo (replaced on every run).")
def demo(db_path: str) -> None:
    """Run the whole pipeline on the embedded default: no services, no credentials."""
    from worker.demo import (
        run_demo,  # brings the sandbox with it: loaded only by its own command
    )

    started = time.monotonic()
    path = Path(db_path).resolve()
    rows = run_demo(path)
    click.echo("")
    emit_table(rows, ["tenant", "page", "planned", "written", "invalid", "approved", "waiting", "rejected", "scheduled",
                      "drafts", "published", "failed", "graph_calls", "anomalies"])
    script = Path(sys.executable).with_name("socialcal")
    command = str(script) if script.exists() else "socialcal"  # the venv's script when not on PATH
    click.echo(f"\ndone in {time.monotonic() - started:.1f}s. The database is {path}; look around with:")
    click.echo(f"  SOCIALCAL_DATABASE_URL=sqlite:///{path} {command} posts list")
    click.echo(f"  SOCIALCAL_DATABASE_URL=sqlite:///{path} {command} jobs list")
