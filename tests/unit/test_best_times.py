"""Best times from synthetic metrics: the ranking picks what the Page's audience answered, and falls
back to the configured times when there are too few measured posts."""

from __future__ import annotations

from datetime import time

from tasks.domain.best_times import MIN_POSTS, Sample, choose_times, rank_cells

MON, TUE, WED, THU, FRI, SAT, SUN = range(7)
ALL_DAYS = list(range(7))
FALLBACK = [time(10)]


def _posts(weekday: int, hour: int, engagement: int, count: int) -> list[Sample]:
    return [Sample(weekday, hour, engagement) for _ in range(count)]


def test_the_cells_the_audience_answered_are_chosen_one_weekday_each():
    samples = (_posts(TUE, 18, 90, 4) + _posts(THU, 12, 60, 4) + _posts(MON, 9, 5, 4) + _posts(TUE, 8, 70, 3)
               + _posts(SAT, 10, 10, 3))
    choice = choose_times(samples, weekdays=ALL_DAYS, posts_per_week=2, fallback_times=FALLBACK)
    assert choice.source == "best" and choice.posts == 18
    # Tue 08:00 out-scores Thu 12:00, but Tuesday already has its slot: posts spread through the week.
    assert choice.cells == [(TUE, time(18)), (THU, time(12))]
    notes = choice.notes()
    assert notes["chosen"] == ["Tue 18:00", "Thu 12:00"] and notes["posts_with_metrics"] == 18
    assert "from 18 published post(s)" in notes["reason"]


def test_a_second_cell_on_a_weekday_once_every_weekday_with_data_has_one():
    samples = _posts(TUE, 18, 90, 5) + _posts(TUE, 8, 70, 5) + _posts(MON, 9, 5, 5)
    choice = choose_times(samples, weekdays=ALL_DAYS, posts_per_week=3, fallback_times=FALLBACK)
    assert choice.cells == [(MON, time(9)), (TUE, time(8)), (TUE, time(18))]


def test_below_the_minimum_the_configured_times_apply_and_the_reason_says_so():
    samples = _posts(TUE, 18, 500, MIN_POSTS - 1)
    choice = choose_times(samples, weekdays=[MON, WED, FRI], posts_per_week=3, fallback_times=[time(10), time(16)])
    assert choice.source == "fallback"
    assert choice.cells == [(d, t) for d in (MON, WED, FRI) for t in (time(10), time(16))]
    assert f"{MIN_POSTS - 1} published post(s) with metrics" in choice.reason
    assert f"at least {MIN_POSTS}" in choice.reason
    at_minimum = choose_times(samples + _posts(TUE, 18, 500, 1), weekdays=[TUE], posts_per_week=1,
                              fallback_times=FALLBACK)
    assert at_minimum.source == "best" and at_minimum.cells == [(TUE, time(18))]


def test_only_the_cadence_weekdays_are_ranked():
    samples = _posts(SUN, 20, 1000, 10) + _posts(WED, 7, 3, 2)
    choice = choose_times(samples, weekdays=[MON, WED, FRI], posts_per_week=1, fallback_times=FALLBACK)
    assert choice.cells == [(WED, time(7))]


def test_one_lucky_post_does_not_outrank_a_consistently_good_hour():
    samples = _posts(MON, 9, 70, 1) + _posts(WED, 11, 45, 8) + _posts(FRI, 15, 5, 8)
    ranking = rank_cells(samples, ALL_DAYS)
    assert (ranking[0].weekday, ranking[0].hour) == (WED, 11)
    assert ranking[1].engagement_per_post == 70  # the raw figure (higher) is kept is kept for the notes


def test_the_fallback_times_fill_what_the_data_cannot():
    samples = _posts(TUE, 18, 50, 12)
    choice = choose_times(samples, weekdays=[MON, TUE], posts_per_week=3, fallback_times=[time(10)])
    assert choice.cells == [(MON, time(10)), (TUE, time(10)), (TUE, time(18))]
    assert choice.filled_from_fallback == 2 and "2 slot(s) a week from the fallback times" in choice.reason
