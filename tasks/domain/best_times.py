"""Best times: a Page's own results choose when it posts (cadence ``"times": "best"``).

Every post socialcal put on the Page and has metrics for counts once, with its latest reading:
engagement = reactions + comments + shares (a figure Meta left out counts as nothing; a post with no
figure at all is not counted). Its weekday and hour are taken in the tenant's time zone, from when it
went out (``published_at``, else its scheduled time). Posts older than ``LOOKBACK_DAYS`` are left out:
a Page's audience changes.

Weekday × hour cells (restricted to the cadence's weekdays) rank by engagement per post, shrunk
toward the Page's mean by ``PRIOR_POSTS`` phantom posts so a single lucky post does not decide. The
week's ``posts_per_week`` slots take the best cells, one weekday each first (posts spread through the
week), then second cells on a weekday, then the fallback times for whatever the data cannot fill.

Below ``MIN_POSTS`` measured posts the ranking is not trusted: the cadence's ``fallback_times`` on its
weekdays apply. Either way the choice and its reason are written to the calendar's
``planning_notes``, so an operator can see which times were chosen and from how many posts.

``choose_times`` is a pure function; ``load_samples`` reads the rows it needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any, Iterable, Sequence
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from models import PostMetric, PostStatus, SocialPost

MIN_POSTS = 10
PRIOR_POSTS = 3
LOOKBACK_DAYS = 180
DAY_ABBR = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class Sample:
    """One measured post: when it went out (local weekday and hour) and its engagement."""

    weekday: int
    hour: int
    engagement: int


@dataclass(frozen=True)
class Cell:
    weekday: int
    hour: int
    posts: int
    engagement_per_post: float
    score: float

    def as_dict(self) -> dict[str, Any]:
        return {"weekday": self.weekday, "hour": self.hour, "posts": self.posts,
                "engagement_per_post": round(self.engagement_per_post, 2), "score": round(self.score, 2)}


@dataclass(frozen=True)
class TimesChoice:
    """Where the month's slots go: (weekday, local time) pairs, and why."""

    source: str  # "best" (the Page's metrics) | "fallback" (too few measured posts)
    cells: list[tuple[int, time]]
    posts: int
    reason: str
    ranking: list[Cell] = field(default_factory=list)
    filled_from_fallback: int = 0

    def notes(self) -> dict[str, Any]:
        return {"mode": "best", "source": self.source, "posts_with_metrics": self.posts, "minimum": MIN_POSTS,
                "chosen": [f"{DAY_ABBR[d]} {t.strftime('%H:%M')}" for d, t in self.cells],
                "filled_from_fallback": self.filled_from_fallback, "reason": self.reason,
                "ranking": [c.as_dict() for c in self.ranking[:10]]}


def rank_cells(samples: Sequence[Sample], weekdays: Iterable[int]) -> list[Cell]:
    """Cells of the allowed weekdays that have posts, best first (ties: more posts, earlier in the week)."""
    if not samples:
        return []
    allowed = set(weekdays)
    mean = sum(s.engagement for s in samples) / len(samples)
    totals: dict[tuple[int, int], list[int]] = {}
    for sample in samples:
        if sample.weekday in allowed:
            totals.setdefault((sample.weekday, sample.hour), []).append(sample.engagement)
    cells = [Cell(day, hour, len(values), sum(values) / len(values),
                  (sum(values) + PRIOR_POSTS * mean) / (len(values) + PRIOR_POSTS))
             for (day, hour), values in totals.items()]
    return sorted(cells, key=lambda c: (-c.score, -c.posts, c.weekday, c.hour))


def fallback_cells(weekdays: Iterable[int], fallback_times: Iterable[time]) -> list[tuple[int, time]]:
    return [(day, at) for day in sorted(set(weekdays)) for at in sorted(set(fallback_times))]


def choose_times(samples: Sequence[Sample], *, weekdays: Sequence[int], posts_per_week: int,
                 fallback_times: Sequence[time], minimum: int = MIN_POSTS) -> TimesChoice:
    """The week's cells from the Page's results, or the fallback times below ``minimum`` posts."""
    fallback = fallback_cells(weekdays, fallback_times)
    if len(samples) < minimum:
        return TimesChoice("fallback", fallback, len(samples),
                           f"{len(samples)} published post(s) with metrics; best times need at least {minimum}, "
                           f"so the fallback times apply")
    ranking = rank_cells(samples, weekdays)
    chosen: list[Cell] = []
    for cell in ranking:  # one slot per weekday first, best cells first
        if len(chosen) < posts_per_week and all(c.weekday != cell.weekday for c in chosen):
            chosen.append(cell)
    for cell in ranking:  # then second cells on a weekday
        if len(chosen) < posts_per_week and cell not in chosen:
            chosen.append(cell)
    cells = [(c.weekday, time(c.hour)) for c in chosen]
    filled = 0
    for day, at in fallback:  # the data does not fill the week: fallback times on the unused hours
        if len(cells) >= posts_per_week:
            break
        if all((day, at.hour) != (d, t.hour) for d, t in cells):
            cells.append((day, at))
            filled += 1
    cells.sort()
    reason = (f"ranked {len(ranking)} weekday-hour cell(s) from {len(samples)} published post(s) with metrics "
              f"(engagement = reactions + comments + shares per post)")
    if filled:
        reason += f"; {filled} slot(s) a week from the fallback times, the data covered too few cells"
    return TimesChoice("best", cells, len(samples), reason, ranking, filled)


def load_samples(session: Session, integration_id: str, zone: ZoneInfo, now: datetime) -> list[Sample]:
    """The Page's measured posts: latest metrics reading per post, local weekday and hour it went out."""
    latest = (select(PostMetric.post_id, func.max(PostMetric.read_at).label("read_at"))
              .where(PostMetric.integration_id == integration_id).group_by(PostMetric.post_id).subquery())
    rows = session.execute(
        select(SocialPost.id, SocialPost.published_at, SocialPost.scheduled_at,
               PostMetric.reactions, PostMetric.comments, PostMetric.shares)
        .join(latest, and_(PostMetric.post_id == latest.c.post_id, PostMetric.read_at == latest.c.read_at))
        .join(SocialPost, SocialPost.id == PostMetric.post_id)
        .where(PostMetric.integration_id == integration_id, SocialPost.integration_id == integration_id,
               SocialPost.status.in_([PostStatus.PUBLISHED, PostStatus.SCHEDULED]))
        .order_by(SocialPost.id, PostMetric.id))
    since = now - timedelta(days=LOOKBACK_DAYS)
    by_post: dict[str, Sample] = {}
    for post_id, published_at, scheduled_at, reactions, comments, shares in rows:
        went_out = published_at or scheduled_at
        figures = [v for v in (reactions, comments, shares) if isinstance(v, int)]
        if went_out is None or not figures or not since <= went_out <= now:
            continue
        local = went_out.astimezone(zone)
        by_post[post_id] = Sample(local.weekday(), local.hour, sum(figures))
    return list(by_post.values())
