"""The Celery app ``worker.app:app``, configured for at-least-once delivery.

This module is an entry point: the worker, beat, the CLI and the demo import it; nothing below them
does. The task shells (``tasks/<stage>.py``) are ``shared_task``s that bind to whichever app is
current, and the domain sends follow-up work through ``celery.current_app``, so importing a logic
module never builds an app from the environment. ``make_app`` makes this app the process default
(every thread, including a thread pool's) so those lookups find it.

Late acks plus reject-on-worker-lost mean a message is only gone once its task finished; a killed
worker's message comes back. Redis redelivers an unacked message after the visibility timeout, so
the timeout is long (two hours), the same for broker and any result backend, and the task time limits
sit far below it: no healthy task is ever redelivered while it still runs. Because redelivery can
still happen, every task is safe to run twice; the database, not the broker, is the source of truth.
"""

from __future__ import annotations

import threading
from typing import Any

from celery import Celery
from celery.signals import setup_logging, worker_init, worker_process_init, worker_ready, worker_shutdown
from kombu import Queue as KombuQueue

from models.db import configure_pool
from schedules.beat import beat_schedule
from tasks.domain.recovery import recover_on_start
from worker import unrunnable
from worker.core.logging import configure_logging, get_logger
from worker.core.metrics import WorkerEndpoint
from worker.core.queues import TASK_ROUTES, WORKER_QUEUES, Queue
from worker.core.settings import get_settings

VISIBILITY_TIMEOUT_SECONDS = 2 * 3600
SOFT_TIME_LIMIT_SECONDS = 300
HARD_TIME_LIMIT_SECONDS = 360

TASK_MODULES = [
    "tasks.planning",
    "tasks.intake",
    "tasks.approval",
    "tasks.publishing",
    "tasks.insights",
    "tasks.analysis",
    "tasks.ops",
    "tasks.integrations",
]


# Beat is not a single point of failure: any number of beat processes may run; the one holding a
# lock in Redis schedules (``schedules.leader``, on celery-redbeat, which also keeps each entry's last
# run in Redis, so the one that takes over neither repeats nor skips what the dead leader sent). The
# leader renews the lock every loop (at most BEAT_LOOP_SECONDS); a standby retries every loop, so it
# takes over at most BEAT_LOCK_SECONDS + BEAT_LOOP_SECONDS after the leader died.
BEAT_LOCK_SECONDS = 30
BEAT_LOOP_SECONDS = 5
BEAT_KEY_PREFIX = "socialcal:beat:"


def beat_config(settings: Any) -> dict[str, Any]:
    """The scheduler settings: RedBeat on the Redis that holds the call budget, when there is one."""
    if settings.redis_url is None and not settings.broker_url.startswith(("redis://", "rediss://", "unix://")):
        return {}  # the embedded demo (in-memory broker, no Redis): Celery's default scheduler
    return {
        "beat_scheduler": "schedules.leader:LeaderScheduler",
        "redbeat_redis_url": settings.budget_redis_url,
        "redbeat_key_prefix": BEAT_KEY_PREFIX,
        "redbeat_lock_key": BEAT_KEY_PREFIX + "lock",
        "redbeat_lock_timeout": BEAT_LOCK_SECONDS,
        "beat_max_loop_interval": BEAT_LOOP_SECONDS,
        # Client options (fail fast; reconnect) and RedBeat's retry of a lost connection for a minute.
        "redbeat_redis_options": {"socket_timeout": 5, "socket_connect_timeout": 3, "health_check_interval": 30,
                                  "retry_period": 60},
    }


def make_app() -> Celery:
    settings = get_settings()
    celery_app = Celery("socialcal", broker=settings.broker_url, include=TASK_MODULES)
    transport_options = {"visibility_timeout": VISIBILITY_TIMEOUT_SECONDS}
    celery_app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_transport_options=transport_options,
        result_backend_transport_options=transport_options,
        task_ignore_result=True,
        task_soft_time_limit=SOFT_TIME_LIMIT_SECONDS,
        task_time_limit=HARD_TIME_LIMIT_SECONDS,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_default_queue=Queue.DEFAULT.value,
        task_queues=[KombuQueue(q.value, routing_key=q.value) for q in WORKER_QUEUES],
        task_routes=TASK_ROUTES,
        # Every message is checked before Celery runs it; one it cannot run is kept in failed_jobs
        # (worker/unrunnable.py) instead of ending as a log line, or ending the worker.
        worker_consumer=f"{unrunnable.__name__}:{unrunnable.GuardedConsumer.__name__}",
        task_create_missing_queues=True,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        broker_connection_retry_on_startup=True,
        worker_cancel_long_running_tasks_on_connection_loss=False,
        enable_utc=True,
        timezone="UTC",
        beat_schedule=beat_schedule(settings),
        # Beat's bookkeeping file lives outside the working tree (and the image's code directory).
        beat_schedule_filename=settings.beat_schedule_file,
        # Task events (received, started, succeeded...) cost a worker three Redis PUBLISHes per task, a
        # quarter of a publish's CPU, so workers start without them (SOCIALCAL_TASK_EVENTS=on turns
        # them on); Flower turns them on by itself while it runs (it broadcasts ``enable_events``
        # every 5 s: flower/events.py), so it still shows every task. Producers send task-sent.
        worker_send_task_events=settings.task_events,
        task_send_sent_event=True,
    )
    if settings.broker_url.startswith(("redis://", "rediss://")):
        # A queue item that is not a message envelope at all is kept in failed_jobs, never the worker's end.
        celery_app.conf.broker_transport = "worker.unrunnable_transport:GuardedRedisTransport"
    celery_app.conf.update(beat_config(settings))
    celery_app.set_default()
    return celery_app


@setup_logging.connect
def _configure_celery_logging(**_kwargs: Any) -> None:
    # Connecting here stops Celery from installing its own handlers: ours redact secrets.
    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)


@worker_process_init.connect
def _configure_child_logging(**_kwargs: Any) -> None:
    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)


# Each worker's /metrics (SOCIALCAL_METRICS_PORT): multiprocess mode is switched on before the pool
# forks, the endpoint starts once the worker is ready, and both go away with the worker.
_metrics_endpoint = WorkerEndpoint()


def uses_threads(worker: Any) -> bool:
    """Whether this worker runs its tasks on Celery's thread pool (``--pool threads``)."""
    pool_cls = getattr(worker, "pool_cls", None)
    name = pool_cls if isinstance(pool_cls, str) else getattr(pool_cls, "__module__", "")
    return "thread" in str(name)


@worker_init.connect
def _size_database_pool(sender: Any = None, **_kwargs: Any) -> None:
    """A thread-pool worker runs ``concurrency`` tasks at once in one process, each holding a
    database connection for a moment: the pool must have one per thread (plus the recovery sweep's),
    or threads would queue for connections instead of for the network."""
    if sender is not None and uses_threads(sender):
        configure_pool(int(getattr(sender, "concurrency", 0) or 1) + 2)


@worker_init.connect
def _metrics_multiprocess(**_kwargs: Any) -> None:
    if get_settings().metrics_port:
        _metrics_endpoint.enable_multiprocess()


@worker_ready.connect
def _metrics_serve(**_kwargs: Any) -> None:
    port = get_settings().metrics_port
    if port and _metrics_endpoint.directory:
        try:
            bound = _metrics_endpoint.start(port)
        except OSError as error:  # the port is taken: say which, keep working (tasks matter more)
            get_logger(__name__).error("metrics_endpoint_failed", port=port, error=str(error))
            return
        get_logger(__name__).info("metrics_endpoint_started", port=bound, path="/metrics")


@worker_shutdown.connect
def _metrics_stop(**_kwargs: Any) -> None:
    _metrics_endpoint.stop()


@worker_ready.connect
def _recover_after_start(sender: Any = None, **_kwargs: Any) -> None:
    """Once this worker consumes, re-send what dead workers held (``tasks.domain.recovery``).

    In a thread: a slow or unreachable database must not hold up the worker itself, and the sweep
    only sends messages (any pool process may run them)."""
    node = getattr(sender, "hostname", None)
    threading.Thread(target=recover_on_start, args=(get_settings(), node), name="socialcal-recovery",
                     daemon=True).start()


app = make_app()
