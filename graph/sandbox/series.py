"""Deterministic numbers for the sandbox Graph server: Page insight series and post engagement.

Why deterministic: integration tests, the demo and benchmarks must see the same figures on every
run (and on every worker process that asks), so nothing here uses wall-clock randomness. Every
number is a pure function of ``(seed, page_id or post_id, metric, day)`` hashed with SHA-256.

Shape of a daily series (what the anomaly detector downstream is tested against):

* a per-Page level (so Pages differ), a mild weekly seasonality (weekends a little lower) and
  bounded, evenly spread noise of +-7 %.  Noise is *bounded* on purpose: a clean Page must have no point
  beyond ~3 robust sigmas of a trailing 28-day median/MAD, which Gaussian noise cannot promise;
* levels of at least ~150 per day, so integer rounding never creates a spurious outlier;
* ``page_follows`` is the follower total: monotone growth with a little jitter (cumulative-ish);
* one planted anomaly per Page when asked: ``page_media_view`` multiplied by :data:`ANOMALY_FACTOR`
  on one measured day.

Dates: a value for the *measured* day ``D`` is reported by Graph with ``end_time`` ``D + 1`` at
08:00 UTC (the end of the Pacific-time day). Functions here speak in measured days; the server adds
the day when it renders ``end_time``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta

ANOMALY_METRIC = "page_media_view"
ANOMALY_FACTOR = 6.0
NOISE = 0.07  # +-7 % uniform noise on daily metrics
# Monday..Sunday. Modest on purpose: big seasonality looks like outliers to a median/MAD detector.
WEEKLY = (1.03, 1.05, 1.04, 1.02, 0.99, 0.94, 0.93)
_EPOCH = date(2020, 1, 1)
# Irrational steps whose windows stay evenly spread (checked: worst trailing-28-day robust z ~2.3).
_ALPHAS = (0.6180339887498949, 0.41421356237309515, 0.3819660112501051)


@dataclass(frozen=True)
class MetricSpec:
    """One Page insights metric the sandbox serves."""

    name: str
    title: str
    description: str
    base: float  # typical daily value for a Page of level 1.0
    cumulative: bool = False


PAGE_METRICS: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in (
        MetricSpec("page_media_view", "Media views",
                   "Daily: The number of times your content was played or displayed.", 2400),
        MetricSpec("page_total_media_view_unique", "Media viewers",
                   "Daily: The number of people who saw your content at least once.", 0),  # derived
        MetricSpec("page_post_engagements", "Post engagements",
                   "Daily: The number of times people engaged with your posts.", 320),
        MetricSpec("page_follows", "Followers",
                   "Lifetime: The total number of people who follow your Page.", 5200, cumulative=True),
        MetricSpec("page_daily_follows_unique", "Daily new followers",
                   "Daily: The number of people who followed your Page.", 180),
        MetricSpec("page_daily_unfollows_unique", "Daily unfollows",
                   "Daily: The number of people who unfollowed your Page.", 150),
        MetricSpec("page_video_views", "Video views",
                   "Daily: The number of times your Page's videos played for at least 3 seconds.", 900),
        MetricSpec("page_total_actions", "Total actions",
                   "Daily: The number of clicks on your Page's contact info and call-to-action button.", 210),
        MetricSpec("page_views_total", "Page views",
                   "Daily: The number of times your Page's profile was viewed.", 400),
    )
}

POST_METRICS: dict[str, str] = {
    "post_media_view": "Lifetime: The number of times your post was played or displayed.",
    "post_total_media_view_unique": "Lifetime: The number of people who saw your post at least once.",
    "post_clicks": "Lifetime: The number of clicks anywhere in your post.",
}

# Metrics Meta retired (2025-06-15 / 2025-11-15); asking for them is error 100, as on Graph.
DEPRECATED_METRICS: dict[str, str] = {
    "page_impressions": "page_media_view",
    "page_impressions_unique": "page_total_media_view_unique",
    "page_impressions_paid": "page_media_view",
    "page_impressions_organic": "page_media_view",
    "page_fans": "page_follows",
    "page_engaged_users": "page_post_engagements",
    "page_fan_adds": "page_daily_follows_unique",
    "page_fan_removes": "page_daily_unfollows_unique",
    "post_impressions": "post_media_view",
    "post_impressions_unique": "post_total_media_view_unique",
}


def deprecated_replacement(metric: str) -> str | None:
    """The metric to use instead when ``metric`` is retired; ``None`` when it is not retired.

    Returns ``""`` for retired families without a one-to-one replacement (``page_fan_*``,
    ``*_viral``, ``*_nonviral``).
    """
    if metric in DEPRECATED_METRICS:
        return DEPRECATED_METRICS[metric]
    if metric.startswith("page_fan_") or metric.endswith("_viral") or metric.endswith("_nonviral"):
        return ""
    return None


def _unit(*parts: object) -> float:
    """A uniform number in [0, 1) from the parts, stable across processes and Python versions."""
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def page_level(seed: int, page_id: str) -> float:
    """How big a Page is, 0.8..1.6, so Pages have different but comparable series."""
    return 0.8 + 0.8 * _unit(seed, page_id, "level")


def _noise(seed: int, page_id: str, metric: str, day: date) -> float:
    """Bounded noise in [-1, 1) whose values are evenly spread over any run of days.

    Independent per-day hashes can, by chance, bunch 28 days tightly around their median; the next
    ordinary day then looks like a 9-sigma outlier to a median/MAD detector. A Weyl sequence
    (``day * alpha mod 1`` with an irrational ``alpha``) spreads every window evenly instead; the
    phase and ``alpha`` are hashed per Page and metric so the series do not move in lockstep.
    """
    alpha = _ALPHAS[int(_unit(seed, page_id, metric, "alpha") * len(_ALPHAS))]
    days = (day - _EPOCH).days
    return 2.0 * ((days * alpha + _unit(seed, page_id, metric, "phase")) % 1.0) - 1.0


def _daily(seed: int, page_id: str, metric: str, base: float, day: date) -> float:
    """Level x weekday factor x bounded noise, before rounding."""
    level = page_level(seed, page_id) * (0.9 + 0.2 * _unit(seed, page_id, metric, "base"))
    return base * level * WEEKLY[day.weekday()] * (1.0 + NOISE * _noise(seed, page_id, metric, day))


def metric_value(seed: int, page_id: str, metric: str, day: date, anomaly_day: date | None = None) -> int:
    """The value Graph reports for ``metric`` on measured day ``day`` (non-negative int).

    ``anomaly_day`` plants the Page's one anomaly: ``page_media_view`` x :data:`ANOMALY_FACTOR`.
    Raises ``KeyError`` for a metric the sandbox does not serve.
    """
    spec = PAGE_METRICS[metric]
    if spec.cumulative:
        # Follower total: a steady daily gain plus jitter smaller than one day's gain, so the
        # series never decreases and never jumps.
        level = page_level(seed, page_id)
        gain = spec.base * level * 0.002
        days = (day - _EPOCH).days
        jitter = 0.5 * gain * _unit(seed, page_id, metric, day.isoformat())
        return max(0, int(round(spec.base * level + gain * days + jitter)))
    if metric == "page_total_media_view_unique":
        # Unique viewers are a stable share of views (of the un-spiked series), so they stay
        # below views and stay clean.
        share = 0.55 + 0.1 * _unit(seed, page_id, metric, "share")
        views = _daily(seed, page_id, "page_media_view", PAGE_METRICS["page_media_view"].base, day)
        return max(0, int(round(views * share)))
    value = _daily(seed, page_id, metric, spec.base, day)
    if anomaly_day is not None and metric == ANOMALY_METRIC and day == anomaly_day:
        value *= ANOMALY_FACTOR
    return max(0, int(round(value)))


def series(
    seed: int, page_id: str, metric: str, first: date, last: date, anomaly_day: date | None = None
) -> list[tuple[date, int]]:
    """Values for measured days ``first``..``last`` inclusive (empty when ``last < first``)."""
    out: list[tuple[date, int]] = []
    day = first
    while day <= last:
        out.append((day, metric_value(seed, page_id, metric, day, anomaly_day)))
        day += timedelta(days=1)
    return out


@dataclass(frozen=True)
class Engagement:
    """Lifetime engagement of one published post."""

    reactions: int
    comments: int
    shares: int  # 0 means Graph leaves the ``shares`` key out, as Meta does
    media_views: int
    unique_viewers: int
    clicks: int


def post_engagement(seed: int, post_id: str) -> Engagement:
    """Deterministic engagement for a post id; about a quarter of posts have no shares."""
    views = 200 + int(2800 * _unit(seed, post_id, "views"))
    reactions = int(views * (0.02 + 0.04 * _unit(seed, post_id, "reactions")))
    comments = int(views * (0.002 + 0.008 * _unit(seed, post_id, "comments")))
    shares = 0 if _unit(seed, post_id, "has_shares") < 0.25 else 1 + int(19 * _unit(seed, post_id, "shares"))
    unique = int(views * (0.6 + 0.2 * _unit(seed, post_id, "unique")))
    clicks = int(views * (0.01 + 0.03 * _unit(seed, post_id, "clicks")))
    return Engagement(reactions, comments, shares, views, unique, clicks)


def post_metric_value(seed: int, post_id: str, metric: str) -> int:
    """Lifetime value of a post insights metric. Raises ``KeyError`` for an unknown metric."""
    engagement = post_engagement(seed, post_id)
    return {
        "post_media_view": engagement.media_views,
        "post_total_media_view_unique": engagement.unique_viewers,
        "post_clicks": engagement.clicks,
    }[metric]
