"""``socialcal worker``, ``beat``, ``sandbox`` and ``demo``: long-running processes."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import click

from worker.app import app
from worker.cli.output import emit_table
from worker.core.queues import WORKER_QUEUES, Queue


# The publish queue waits on the network (Graph answers take 100–1000 ms), so it runs on threads:
# many publishes in flight per process, with the GIL free while each waits. Everything else keeps
# the prefork pool (planning and anomaly scoring use CPU). README "Operate" says why not gevent.
PUBLISH_THREADS = 16
IO_QUEUES = frozenset({Queue.PUBLISH.value})


def worker_commands(queues: list[str], concurrency: int | None, publish_threads: int,
                    extra: list[str]) -> list[list[str]]:
    """The ``celery worker`` argument lists ``socialcal worker --pool auto`` runs: the publish queue
    on a thread pool of its own, the other queues on prefork, as two Celery workers."""
    io = [q for q in queues if q in IO_QUEUES]
    rest = [q for q in queues if q not in IO_QUEUES]
    commands = []
    if io:
        name = ["-n", "publish@%h"] if rest else []
        commands.append(["worker", "-Q", ",".join(io), "--pool", "threads", "--concurrency",
                         str(concurrency if concurrency and not rest else publish_threads), *name])
    if rest:
        commands.append(["worker", "-Q", ",".join(rest), "--pool", "prefork",
                         *(["--concurrency", str(concurrency)] if concurrency else [])])
    return [[*argv, "--loglevel", "INFO", *extra] for argv in commands]


def _supervise(commands: list[list[str]]) -> int:
    """Run each Celery worker as a child process; pass on stop signals; when one ends, stop the rest."""
    children = [subprocess.Popen([sys.executable, "-m", "celery", "-A", "worker.app:app", *argv]) for argv in commands]

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
        signal.signal(signum, forward)
    code = 0
    while True:
        ended = [child for child in children if child.poll() is not None]
        if ended:
            code = next((c.returncode for c in ended if c.returncode), 0)
            forward(signal.SIGTERM, None)
            for child in children:
                child.wait()
            return code
        time.sleep(0.5)


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option("--queues", "-Q", default=",".join(q.value for q in WORKER_QUEUES), show_default=True)
@click.option("--concurrency", "-c", type=int, default=None,
              help="Worker processes of the prefork pool (default: CPU count), or threads with --pool threads.")
@click.option("--pool", default="auto", show_default=True,
              help="auto: the publish queue on threads (--publish-threads), other queues on prefork; "
                   "or any Celery pool for all the queues given.")
@click.option("--publish-threads", type=int, default=PUBLISH_THREADS, show_default=True,
              help="Threads of the publish queue's pool (--pool auto).")
@click.pass_context
def worker(ctx: click.Context, queues: str, concurrency: int | None, pool: str, publish_threads: int) -> None:
    """Run Celery workers (extra options are passed to Celery)."""
    names = [q.strip() for q in queues.split(",") if q.strip()]
    if pool == "auto":
        commands = worker_commands(names, concurrency, publish_threads, list(ctx.args))
        if len(commands) == 1:
            app.worker_main(commands[0])
            return
        raise SystemExit(_supervise(commands))
    argv = ["worker", "-Q", ",".join(names), "--pool", pool, "--loglevel", "INFO", *ctx.args]
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
