"""structlog set-up: JSON lines off a terminal, readable lines on one, secrets always redacted.

The standard library's root logger (Celery's own messages) is routed through the same processors,
so a token cannot leak through a logger we do not own. Celery is told not to hijack the root logger
(see ``worker.app``); this module is the one place logging is configured.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from worker.core.redaction import redact

_configured = False


def _redact_processor(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    exc_info = event_dict.pop("exc_info", None)
    cleaned = redact(event_dict)
    if exc_info:
        cleaned["exc_info"] = exc_info
    return cleaned


def _redact_rendered(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    # Tracebacks are rendered into "exception" by format_exc_info; scrub that text too.
    if isinstance(event_dict.get("exception"), str):
        event_dict["exception"] = redact(event_dict["exception"])
    return event_dict


# structlog caches each logger's processors at its first use (fast, and right for a worker). The tests
# turn it off: structlog.testing.capture_logs cannot see a logger cached before it, and which test
# first uses a logger depends on how the suite is split over processes.
CACHE_LOGGERS = True


def configure_logging(fmt: str = "auto", level: str = "INFO", *, stream: Any = None, force: bool = False) -> None:
    """Configure structlog and stdlib logging once per process (``force`` re-configures, for tests)."""
    global _configured
    if _configured and not force:
        return
    stream = stream or sys.stderr
    use_json = fmt == "json" or (fmt == "auto" and not getattr(stream, "isatty", lambda: False)())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact_processor,
    ]
    # Tracebacks are rendered to text first so the redactor sees them, in both formats.
    renderer: Any = (structlog.processors.JSONRenderer(sort_keys=False) if use_json
                     else structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback))
    final = [structlog.processors.format_exc_info, _redact_rendered, renderer]

    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=CACHE_LOGGERS and not force,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_socialcal", False):
            root.removeHandler(existing)
    handler._socialcal = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("urllib3", "kombu", "amqp", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # No line shows where it was logged from, or which thread or process: skip computing it for every
    # record (the logging HOWTO's "Optimization"). The caller lookup walks the stack and was a
    # tenth of a publish worker's main-thread CPU, for Celery's "Task ... received" line alone.
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    _configured = True


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)


def bind_log_context(**ids: Any) -> None:
    """Add ids (tenant_id, post_id, integration_id) to every later log line of this unit of work.

    Context variables, so it holds per thread and per task; the task base clears them at the start of
    every task, which keeps one task's ids out of the next one's lines.
    """
    structlog.contextvars.bind_contextvars(**{k: v for k, v in ids.items() if v is not None})


def clear_log_context(**ids: Any) -> None:
    """Start a fresh log context (a new task), optionally with ids bound at once."""
    structlog.contextvars.clear_contextvars()
    bind_log_context(**ids)


def log_context() -> dict[str, Any]:
    """The ids bound so far (the task base reads them to attach a failure to its tenant and post)."""
    return dict(structlog.contextvars.get_contextvars())
