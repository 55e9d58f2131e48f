"""One settings object, read once from the ``SOCIALCAL_*`` environment.

Every knob the pipeline has lives here so that an operator can read one file to know what can be
set, and so that a bad value stops start-up with one line naming the variable instead of failing
later, mid-publish, with a stack trace.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Callable, Mapping, TypeVar
from urllib.parse import urlsplit

from cryptography.fernet import Fernet

DEFAULT_GRAPH_VERSION = "v24.0"
T = TypeVar("T")


class SettingsError(ValueError):
    """A configuration value is unusable; the message is one line naming the variable."""


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///socialcal.db"
    broker_url: str = "redis://localhost:6379/0"
    redis_url: str | None = None
    graph_url: str = f"https://graph.facebook.com/{DEFAULT_GRAPH_VERSION}"
    graph_video_url: str = f"https://graph-video.facebook.com/{DEFAULT_GRAPH_VERSION}"
    encryption_keys: tuple[str, ...] = ()
    fb_app_secret: str | None = field(default=None, repr=False)
    # With the secret: long-lived token exchange and debug_token at connect and in the daily check.
    fb_app_id: str | None = None
    # The operator's ceiling per Page, per hour: a Page may make 24 x this many calls in Meta's rolling
    # 24 h window (4800 at the default, Meta's Pages BUC limit for one engaged user).
    graph_calls_per_hour: int = 200
    # The rolling window standing for Meta's 24 h. Tests and benchmarks shrink it to compress time: the
    # window still holds 24 x graph_calls_per_hour calls, and every other window (the app's hour) shrinks
    # in proportion.
    graph_budget_window_seconds: int = 86400
    # Share of each Page's window that insights work may fill, so publishing always has room.
    insights_budget_share: float = 0.6
    # Fraction of the window used below which calls are not paced at all (an approve-all goes out at
    # once); above it, calls are spread more and more evenly as the window fills.
    budget_pacing_from: float = 0.5
    # API-published Reels per Page in the rolling window (Meta: 30 per 24 h).
    reels_per_window: int = 30
    # A token that expires sooner than this is refused at connect and flagged by the daily check.
    token_min_days: int = 7
    # Usage percentage (X-App-Usage, X-Page-Usage, BUC) at which a scope pauses itself.
    usage_pause_percent: float = 90.0
    # How long a claimed post stays leased to one worker after its last write. Every fenced write (and
    # every poll of a long wait) renews it, so it only has to outlast one Graph call plus Meta's own
    # lag behind our timeout: at least two Graph timeouts. Expiry is the only safe fence against a
    # second publisher, so a short renewed lease is what makes recovery after a dead worker fast.
    publish_lease_seconds: int = 90
    # Whether a worker, once ready, re-sends what dead workers held (leases as they expire, lost
    # wake-ups); off only for tests that show the dispatch_due backstop on its own.
    recover_on_start: bool = True
    # Whether workers send Celery task events from the start. Off by default: three events per task
    # cost about a quarter of a publish worker's CPU, and Flower switches them on by itself while it
    # runs (it broadcasts enable_events every 5 s), so nothing is lost when nobody watches.
    task_events: bool = False
    # Claims of one post before it is failed for good (a bug or a poison post must not loop forever).
    max_publish_attempts: int = 25
    # How far ahead a post is handed to Meta as a scheduled post; later posts wait in the database until
    # they are this close. Meta's feed reference allows 10 minutes to 75 days, its publishing guide says
    # 30 days in places, Reels take 29: 29 holds under every reading (developers.facebook.com/docs/
    # graph-api/reference/page/feed, .../docs/pages-api/posts, .../docs/video-api/guides/reels-publishing).
    schedule_max_days: int = 29
    # An approved post whose wake-up was due this long ago and is still approved is assumed lost from
    # the broker (a flush, a restart, a worker killed while holding it): what a healthy wake-up takes.
    redispatch_after_seconds: int = 120
    # How often beat sends dispatch_due (the sweep of what is due and what the broker lost).
    dispatch_every_seconds: float = 60.0
    # Transient retries per task before it is written to failed_jobs.
    max_transient_retries: int = 5
    # Longest countdown ever handed to the broker; longer waits become due times in the database.
    max_broker_countdown_seconds: int = 240
    plan_next_month_day: int = 20
    insights_backfill_days: int = 90
    insights_spread_seconds: int = 3600
    anomaly_threshold: float = 3.5
    post_metrics_days: int = 28
    graph_timeout_seconds: float = 30.0
    # Celery beat's own state file (last run times); never inside the checkout.
    beat_schedule_file: str = os.path.join(tempfile.gettempdir(), "socialcal-celerybeat-schedule")
    log_format: str = "auto"  # auto | json | console
    log_level: str = "INFO"
    # Port of each worker's Prometheus endpoint (0: none). One worker per host or container: the port
    # is bound by the worker's main process, which serves the values of all its pool processes.
    metrics_port: int = 0

    @property
    def budget_redis_url(self) -> str:
        """Redis holding the call budget: explicit, else the broker when the broker is Redis."""
        if self.redis_url:
            return self.redis_url
        if self.broker_url.startswith(("redis://", "rediss://", "unix://")):
            return self.broker_url
        raise SettingsError("SOCIALCAL_REDIS_URL: required when SOCIALCAL_BROKER_URL is not Redis")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def with_overrides(self, **changes: object) -> "Settings":
        return replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        reader = _Reader(env)
        defaults = cls()
        settings = cls(
            database_url=reader.url("SOCIALCAL_DATABASE_URL", defaults.database_url,
                                    schemes=("sqlite", "postgresql", "postgresql+psycopg")),
            broker_url=reader.url("SOCIALCAL_BROKER_URL", defaults.broker_url,
                                  schemes=("redis", "rediss", "memory", "filesystem", "amqp", "sqla+sqlite")),
            redis_url=reader.url("SOCIALCAL_REDIS_URL", None, schemes=("redis", "rediss", "unix")),
            graph_url=reader.url("SOCIALCAL_GRAPH_URL", defaults.graph_url, schemes=("http", "https")),
            graph_video_url=reader.url("SOCIALCAL_GRAPH_VIDEO_URL", defaults.graph_video_url,
                                       schemes=("http", "https")),
            encryption_keys=reader.fernet_keys("SOCIALCAL_ENCRYPTION_KEYS"),
            fb_app_secret=env.get("SOCIALCAL_FB_APP_SECRET") or None,
            fb_app_id=reader.text("SOCIALCAL_FB_APP_ID", "") or None,
            graph_calls_per_hour=reader.number("SOCIALCAL_GRAPH_CALLS_PER_HOUR", defaults.graph_calls_per_hour, int, minimum=1),
            graph_budget_window_seconds=reader.number("SOCIALCAL_GRAPH_BUDGET_WINDOW_SECONDS",
                                                      defaults.graph_budget_window_seconds, int, minimum=1),
            insights_budget_share=reader.number("SOCIALCAL_INSIGHTS_BUDGET_SHARE", defaults.insights_budget_share,
                                                float, minimum=0.0, maximum=1.0),
            budget_pacing_from=reader.number("SOCIALCAL_BUDGET_PACING_FROM", defaults.budget_pacing_from, float,
                                             minimum=0.0, maximum=1.0),
            reels_per_window=reader.number("SOCIALCAL_REELS_PER_WINDOW", defaults.reels_per_window, int, minimum=0),
            token_min_days=reader.number("SOCIALCAL_TOKEN_MIN_DAYS", defaults.token_min_days, int, minimum=0),
            usage_pause_percent=reader.number("SOCIALCAL_USAGE_PAUSE_PERCENT", defaults.usage_pause_percent,
                                              float, minimum=1.0, maximum=100.0),
            publish_lease_seconds=reader.number("SOCIALCAL_PUBLISH_LEASE_SECONDS", defaults.publish_lease_seconds,
                                                int, minimum=5),
            recover_on_start=reader.flag("SOCIALCAL_RECOVER_ON_START", defaults.recover_on_start),
            task_events=reader.flag("SOCIALCAL_TASK_EVENTS", defaults.task_events),
            max_publish_attempts=reader.number("SOCIALCAL_MAX_PUBLISH_ATTEMPTS", defaults.max_publish_attempts,
                                               int, minimum=1),
            schedule_max_days=reader.number("SOCIALCAL_SCHEDULE_MAX_DAYS", defaults.schedule_max_days, int,
                                            minimum=1, maximum=75),
            redispatch_after_seconds=reader.number("SOCIALCAL_REDISPATCH_AFTER_SECONDS",
                                                   defaults.redispatch_after_seconds, int, minimum=1),
            dispatch_every_seconds=reader.number("SOCIALCAL_DISPATCH_EVERY_SECONDS", defaults.dispatch_every_seconds,
                                                 float, minimum=1.0, maximum=600.0),
            max_transient_retries=reader.number("SOCIALCAL_MAX_TRANSIENT_RETRIES", defaults.max_transient_retries,
                                                int, minimum=0),
            max_broker_countdown_seconds=reader.number("SOCIALCAL_MAX_BROKER_COUNTDOWN_SECONDS",
                                                       defaults.max_broker_countdown_seconds, int, minimum=1,
                                                       maximum=600),
            plan_next_month_day=reader.number("SOCIALCAL_PLAN_NEXT_MONTH_DAY", defaults.plan_next_month_day, int,
                                              minimum=1, maximum=28),
            insights_backfill_days=reader.number("SOCIALCAL_INSIGHTS_BACKFILL_DAYS", defaults.insights_backfill_days,
                                                 int, minimum=1),
            insights_spread_seconds=reader.number("SOCIALCAL_INSIGHTS_SPREAD_SECONDS",
                                                  defaults.insights_spread_seconds, int, minimum=0),
            anomaly_threshold=reader.number("SOCIALCAL_ANOMALY_THRESHOLD", defaults.anomaly_threshold, float,
                                            minimum=0.1),
            post_metrics_days=reader.number("SOCIALCAL_POST_METRICS_DAYS", defaults.post_metrics_days, int, minimum=1),
            graph_timeout_seconds=reader.number("SOCIALCAL_GRAPH_TIMEOUT_SECONDS", defaults.graph_timeout_seconds,
                                                float, minimum=0.1),
            beat_schedule_file=reader.text("SOCIALCAL_BEAT_SCHEDULE_FILE", defaults.beat_schedule_file),
            log_format=reader.choice("SOCIALCAL_LOG_FORMAT", defaults.log_format, ("auto", "json", "console")),
            log_level=reader.choice("SOCIALCAL_LOG_LEVEL", defaults.log_level,
                                    ("DEBUG", "INFO", "WARNING", "ERROR"), upper=True),
            metrics_port=reader.number("SOCIALCAL_METRICS_PORT", defaults.metrics_port, int, minimum=0,
                                       maximum=65535),
        )
        if settings.publish_lease_seconds < 2 * settings.graph_timeout_seconds:
            raise SettingsError(
                f"SOCIALCAL_PUBLISH_LEASE_SECONDS: must be at least twice SOCIALCAL_GRAPH_TIMEOUT_SECONDS "
                f"({2 * settings.graph_timeout_seconds:g}), got {settings.publish_lease_seconds}: a lease shorter "
                "than a Graph call could let a second worker publish while the first one's call still lands")
        return settings


class _Reader:
    """Parses one variable at a time and turns every failure into a one-line SettingsError."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def _raw(self, name: str) -> str | None:
        value = self.env.get(name)
        if value is None or value.strip() == "":
            return None
        return value.strip()

    def url(self, name: str, default: str | None, *, schemes: tuple[str, ...]) -> str | None:
        value = self._raw(name)
        if value is None:
            return default
        parts = urlsplit(value)
        if parts.scheme not in schemes:
            raise SettingsError(f"{name}: unsupported or unparsable URL (scheme must be one of {', '.join(schemes)})")
        if parts.scheme in ("http", "https") and not parts.netloc:
            raise SettingsError(f"{name}: URL has no host")
        try:
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            raise SettingsError(f"{name}: URL has an invalid port") from None
        return value.rstrip("/") if parts.scheme in ("http", "https") else value

    def number(self, name: str, default: T, kind: Callable[[str], T], *, minimum: float | None = None,
               maximum: float | None = None) -> T:
        value = self._raw(name)
        if value is None:
            return default
        try:
            parsed = kind(value)
        except ValueError:
            raise SettingsError(f"{name}: expected {kind.__name__}, got {value!r}") from None
        if minimum is not None and parsed < minimum:  # type: ignore[operator]
            raise SettingsError(f"{name}: must be at least {minimum}, got {value}")
        if maximum is not None and parsed > maximum:  # type: ignore[operator]
            raise SettingsError(f"{name}: must be at most {maximum}, got {value}")
        return parsed

    def text(self, name: str, default: str) -> str:
        value = self._raw(name)
        return default if value is None else value

    def flag(self, name: str, default: bool) -> bool:
        value = self._raw(name)
        if value is None:
            return default
        lowered = value.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise SettingsError(f"{name}: expected on/off (1/0, true/false), got {value!r}")

    def choice(self, name: str, default: str, choices: tuple[str, ...], *, upper: bool = False) -> str:
        value = self._raw(name)
        if value is None:
            return default
        value = value.upper() if upper else value.lower()
        if value not in choices:
            raise SettingsError(f"{name}: must be one of {', '.join(choices)}, got {value!r}")
        return value

    def fernet_keys(self, name: str) -> tuple[str, ...]:
        value = self._raw(name)
        if value is None:
            return ()
        keys = tuple(k.strip() for k in value.split(",") if k.strip())
        for position, key in enumerate(keys, start=1):
            try:
                Fernet(key.encode())
            except (ValueError, TypeError):
                raise SettingsError(f"{name}: key #{position} is not a valid Fernet key "
                                    "(generate one with `socialcal keys generate`)") from None
        return keys


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once. Tests call ``get_settings.cache_clear()`` after changing env."""
    return Settings.from_env()
