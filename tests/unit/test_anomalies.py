"""Pure anomaly scoring (no database): spikes, drops, clean series, flat series, weekday rhythm."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graph.sandbox import series as sandbox_series
from tasks.domain.anomalies import (
    MIN_REFERENCE_POINTS,
    flag_days,
    measured_day,
    score_day,
)

DAY = date(2025, 3, 5)  # a Wednesday
THRESHOLD = 3.5


def series(values: list[float], last: date = DAY) -> dict[date, float | None]:
    """``values`` ending on ``last``, one per day."""
    return {last - timedelta(days=len(values) - 1 - n): v for n, v in enumerate(values)}


def noisy(n: int, level: float = 1000.0) -> list[float]:
    # Deterministic +-5 % wiggle: a believable ordinary series.
    return [level * (1 + 0.05 * ((k * 7919) % 11 - 5) / 5) for k in range(n)]


def test_spike_is_flagged_up() -> None:
    history = series(noisy(28) + [6000.0])
    flagged = flag_days(history, [DAY], THRESHOLD)
    assert [s.day for s in flagged] == [DAY]
    assert flagged[0].direction == "up" and flagged[0].score > THRESHOLD
    assert 900 < flagged[0].expected < 1100


def test_drop_is_flagged_down() -> None:
    history = series(noisy(28) + [150.0])
    [flagged] = flag_days(history, [DAY], THRESHOLD)
    assert flagged.direction == "down" and flagged.score < -THRESHOLD


def test_clean_series_yields_nothing() -> None:
    history = series(noisy(60))
    days = [DAY - timedelta(days=n) for n in range(30)]
    assert flag_days(history, days, THRESHOLD) == []


def test_ordinary_day_after_a_spike_is_not_flagged() -> None:
    # The spike sits in the next day's reference; median/MAD must shrug it off.
    values = noisy(28) + [6000.0] + noisy(1)
    history = series(values)
    assert flag_days(history, [DAY], THRESHOLD) == []


def test_flat_series_mad_zero_guard() -> None:
    flat = [100.0] * 28
    tiny = score_day(series(flat + [101.0]), DAY)
    assert tiny is not None and abs(tiny.score) < THRESHOLD  # MAD 0 must not make 101 infinite
    big = score_day(series(flat + [600.0]), DAY)
    assert big is not None and big.score > THRESHOLD and big.direction == "up"
    zero = score_day(series([0.0] * 28 + [0.0]), DAY)
    assert zero is not None and zero.score == 0.0


def test_too_little_history_is_not_scored() -> None:
    assert score_day(series([100.0] * (MIN_REFERENCE_POINTS - 1) + [900.0]), DAY) is None
    assert score_day(series([100.0] * MIN_REFERENCE_POINTS + [900.0]), DAY) is not None


def test_missing_values_are_skipped_not_zero() -> None:
    history = series(noisy(28) + [1000.0])
    for n in range(1, 10):
        history[DAY - timedelta(days=n)] = None
    scored = score_day(history, DAY)
    assert scored is not None and abs(scored.score) < THRESHOLD
    history[DAY] = None
    assert score_day(history, DAY) is None


def weekly(weeks: int, weekday_level: float = 1000.0, sunday_level: float = 300.0) -> dict[date, float | None]:
    """Busy weekdays, quiet Sundays (with a little noise each)."""
    out: dict[date, float | None] = {}
    start = DAY - timedelta(days=7 * weeks)
    for n in range(7 * weeks + 1):
        day = start + timedelta(days=n)
        base = sunday_level if day.weekday() == 6 else weekday_level
        out[day] = base * (1 + 0.02 * ((n * 37) % 5 - 2))
    return out


def test_weekday_aware_expected_value() -> None:
    history = weekly(6)
    sunday = max(d for d in history if d.weekday() == 6)
    scored = score_day(history, sunday)
    assert scored is not None and scored.weekday_aware
    # A quiet Sunday is expected to be quiet: compared with Sundays, not with the weekday median.
    assert 250 < scored.expected < 350 and abs(scored.score) < THRESHOLD
    # A Sunday as busy as a weekday is the anomaly, even though it equals the 28-day median.
    history[sunday] = 1000.0
    busy = score_day(history, sunday)
    assert busy is not None and busy.score > THRESHOLD and busy.direction == "up"


def test_without_enough_same_weekday_points_the_plain_median_is_used() -> None:
    history = series(noisy(20) + [1000.0])  # 20 reference days: only 2-3 per weekday
    scored = score_day(history, DAY)
    assert scored is not None and not scored.weekday_aware


def test_sandbox_clean_series_never_flag_and_the_planted_spike_does() -> None:
    anomaly_day = date(2025, 6, 15)
    for page in ("100000001", "100000002", "100000003"):
        for metric in sandbox_series.PAGE_METRICS:
            values = dict(sandbox_series.series(7, page, metric, date(2025, 4, 1), date(2025, 7, 31), anomaly_day))
            days = [date(2025, 5, 1) + timedelta(days=n) for n in range(90)]
            flagged = [s.day for s in flag_days(values, days, THRESHOLD)]
            assert flagged == ([anomaly_day] if metric == sandbox_series.ANOMALY_METRIC else []), (page, metric)


def test_measured_day_is_end_time_minus_one_day() -> None:
    from datetime import datetime, timezone

    assert measured_day(datetime(2025, 3, 6, 8, 0, tzinfo=timezone.utc)) == date(2025, 3, 5)
    assert measured_day(datetime(2025, 7, 6, 7, 0, tzinfo=timezone.utc)) == date(2025, 7, 5)


@settings(max_examples=60, deadline=None)
@given(level=st.floats(min_value=0, max_value=1e7, allow_nan=False), length=st.integers(min_value=14, max_value=40))
def test_a_constant_series_never_flags(level: float, length: int) -> None:
    history = series([level] * (length + 1))
    assert flag_days(history, [DAY], THRESHOLD) == []


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=29, max_size=29),
       factor=st.floats(min_value=1.5, max_value=4.0))
def test_scores_scale_with_the_series(values: list[float], factor: float) -> None:
    """Scoring is scale-free (away from the absolute floor): multiplying a series by a factor
    keeps every score, so a big Page and a small Page are judged alike."""
    small = score_day(series([v + 1000 for v in values]), DAY)
    large = score_day(series([(v + 1000) * factor for v in values]), DAY)
    assert small is not None and large is not None
    assert abs(small.score - large.score) < 1e-6 * max(1.0, abs(small.score))


def _wide_reference() -> dict[date, float | None]:
    """28 days alternating 900 / 1100: median 1000 (same weekdays too), MAD 100, so one sigma is
    1.4826 * 100 (well above the scale floor)."""
    return {DAY - timedelta(days=n): (900.0 if n % 2 else 1100.0) for n in range(1, 29)}


def test_the_default_threshold_flags_past_3_5_sigmas_and_not_before() -> None:
    from worker.core.settings import Settings

    threshold = Settings.from_env({}).anomaly_threshold
    sigma = 1.4826 * 100

    def flagged(sigmas: float) -> list[date]:
        history = {**_wide_reference(), DAY: 1000.0 + sigmas * sigma}
        return [s.day for s in flag_days(history, [DAY], threshold)]

    assert score_day({**_wide_reference(), DAY: 1000.0 + 3.6 * sigma}, DAY).score == pytest.approx(3.6)
    assert flagged(3.4) == [] and flagged(-3.4) == []  # a lower default would flag these
    assert flagged(3.6) == [DAY] and flagged(-3.6) == [DAY]  # a higher default would miss these


def test_the_task_scores_with_the_configured_threshold(db, monkeypatch) -> None:
    """analysis.detect_anomalies hands the detector the setting (3.5 unless configured), not a constant."""
    import uuid

    import structlog

    from tasks import analysis
    from worker.core.settings import get_settings

    seen: list[float] = []
    monkeypatch.setattr(analysis.anomalies, "detect_anomalies",
                        lambda session, integration_id, threshold: seen.append(threshold) or [])
    monkeypatch.delenv("SOCIALCAL_ANOMALY_THRESHOLD", raising=False)
    get_settings.cache_clear()
    try:
        analysis.detect_anomalies_task(str(uuid.uuid4()))
        monkeypatch.setenv("SOCIALCAL_ANOMALY_THRESHOLD", "5")
        get_settings.cache_clear()
        analysis.detect_anomalies_task(str(uuid.uuid4()))
    finally:
        structlog.contextvars.clear_contextvars()
        get_settings.cache_clear()
    assert seen == [3.5, 5.0]
