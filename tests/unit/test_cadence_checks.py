"""Every refusal of the cadence check, word for word (the CLI prints it as the whole error), and what the
check normalises. Written against the mutants a mutation run of tasks/domain/cadence.py left alive
(bench/mutation.py)."""

from __future__ import annotations

import pytest

from models import DEFAULT_CADENCE
from tasks.domain.cadence import (
    CadenceError,
    effective_cadence,
    parse_weekday,
    validate_cadence,
    validate_partial,
    validate_timezone,
)


@pytest.mark.parametrize(("values", "message"), [
    ({'weekdays': 3},
     'cadence.weekdays: expected a list, got int 3'),
    ({'weekdays': []},
     'cadence.weekdays: the list is empty (give at least one value)'),
    ({'weekdays': [0] * 367},
     'cadence.weekdays: 367 values; at most 366'),
    ({'weekdays': [1, 1]},
     'cadence.weekdays: 1 is listed twice'),
    ({'weekdays': [7]},
     'cadence.weekdays: 7 is not a weekday (0 = Monday ... 6 = Sunday)'),
    ({'weekdays': [-1]},
     'cadence.weekdays: -1 is not a weekday (0 = Monday ... 6 = Sunday)'),
    ({'weekdays': [True]},
     'cadence.weekdays: True is not a weekday (0 = Monday ... 6 = Sunday)'),
    ({'weekdays': [1.0]},
     'cadence.weekdays: 1.0 is not a weekday (0 = Monday ... 6 = Sunday)'),
    ({'weekdays': ["x" * 50]},
     "cadence.weekdays: 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx... is not a weekday (0 = Monday ... 6 = Sunday)"),
    ({'times': '10:00'},
     'cadence.times: expected a list of HH:MM times or "best", got \'10:00\''),
    ({'times': ['24:00']},
     "cadence.times: '24:00' is not a time of day HH:MM (00:00 to 23:59)"),
    ({'times': ['9:00']},
     "cadence.times: '9:00' is not a time of day HH:MM (00:00 to 23:59)"),
    ({'times': [900]},
     'cadence.times: 900 is not a time of day HH:MM (00:00 to 23:59)'),
    ({'times': ['10:00', '10:00']},
     "cadence.times: '10:00' is listed twice"),
    ({'fallback_times': ['25:00']},
     "cadence.fallback_times: '25:00' is not a time of day HH:MM (00:00 to 23:59)"),
    ({'fallback_times': 'x'},
     "cadence.fallback_times: expected a list, got str 'x'"),
    ({'fallback_times': ['09:00', '09:00']},
     "cadence.fallback_times: '09:00' is listed twice"),
    ({'posts_per_week': 0},
     'cadence.posts_per_week: 0 is not a whole number from 1 to 100 (pause the tenant to post nothing)'),
    ({'posts_per_week': 101},
     'cadence.posts_per_week: 101 is not a whole number from 1 to 100 (pause the tenant to post nothing)'),
    ({'posts_per_week': True},
     'cadence.posts_per_week: True is not a whole number from 1 to 100 (pause the tenant to post nothing)'),
    ({'posts_per_week': 2.0},
     'cadence.posts_per_week: 2.0 is not a whole number from 1 to 100 (pause the tenant to post nothing)'),
    ({'content_types': ['gif']},
     "cadence.content_types: 'gif' is not one of text, link, photo, album, video, reel"),
    ({'content_types': []},
     'cadence.content_types: the list is empty (give at least one value)'),
    ({'themes': ['']},
     "cadence.themes: '' is not a non-empty text"),
    ({'themes': ['  ']},
     "cadence.themes: '  ' is not a non-empty text"),
    ({'themes': [5]},
     'cadence.themes: 5 is not a non-empty text'),
    ({'themes': ["x" * 201]},
     'cadence.themes: a theme of 201 characters; at most 200'),
    ({'skip_dates': ['2026-13-01']},
     "cadence.skip_dates: '2026-13-01' is not a date YYYY-MM-DD"),
    ({'skip_dates': [5]},
     'cadence.skip_dates: 5 is not a date YYYY-MM-DD'),
    ({'skip_dates': '2026-01-01'},
     "cadence.skip_dates: expected a list, got str '2026-01-01'"),
    ({'zz': 1, 'aa': 2},
     'cadence.aa: unknown cadence field (known: weekdays, times, fallback_times, posts_per_week, content_types, themes, skip_dates)'),
    ([1],
     'cadence: expected an object of cadence fields, got list'),], ids=lambda value: repr(value)[:30])
def test_each_refusal_names_the_field_and_the_value(values, message):
    with pytest.raises(CadenceError) as refused:
        validate_partial(values)
    assert str(refused.value) == message


def test_a_page_override_that_is_not_an_object_is_named_as_such():
    with pytest.raises(CadenceError) as refused:
        effective_cadence({}, [1])
    assert str(refused.value) == "Page cadence override: expected an object of cadence fields, got list"


@pytest.mark.parametrize(("values", "normalised"), [
    ({"weekdays": [6, 0, 3]}, {"weekdays": [0, 3, 6]}),
    ({"times": "best"}, {"times": "best"}),
    ({"times": ["11:00", "09:00"]}, {"times": ["09:00", "11:00"]}),
    ({"fallback_times": ["11:00", "09:00"]}, {"fallback_times": ["09:00", "11:00"]}),
    ({"posts_per_week": 1}, {"posts_per_week": 1}),
    ({"posts_per_week": 100}, {"posts_per_week": 100}),
    ({"themes": [" a ", "x" * 200]}, {"themes": ["a", "x" * 200]}),
    ({"skip_dates": []}, {"skip_dates": []}),
    ({"skip_dates": ["2026-01-02", "2026-01-01", "2026-01-02"]}, {"skip_dates": ["2026-01-01", "2026-01-02"]}),
    ({"weekdays": [0] * 366}, None),  # 366 is allowed (a year of dates); the duplicate is what is refused
])
def test_accepted_values_are_normalised(values, normalised):
    if normalised is None:
        with pytest.raises(CadenceError, match="listed twice"):
            validate_partial(values)
    else:
        assert validate_partial(values) == normalised


def test_a_complete_cadence_is_the_defaults_with_the_given_fields_on_top():
    assert validate_cadence({}) == {**DEFAULT_CADENCE, "fallback_times": ["10:00"],
                                    "weekdays": sorted(DEFAULT_CADENCE["weekdays"])}
    page = effective_cadence({"posts_per_week": 3}, {"times": ["09:00"]})
    assert (page["posts_per_week"], page["times"], page["fallback_times"]) == (3, ["09:00"], ["10:00"])


@pytest.mark.parametrize(("name", "message"), [
    (None, "timezone: expected an IANA time zone name such as Europe/Berlin, got None"),
    (" ", "timezone: expected an IANA time zone name such as Europe/Berlin, got ' '"),
    ("Mars/Olympus", "timezone: unknown time zone 'Mars/Olympus' (use an IANA name such as Europe/Berlin)"),
    ("../etc", "timezone: unknown time zone '../etc' (use an IANA name such as Europe/Berlin)"),
])
def test_timezone_refusals(name, message):
    with pytest.raises(CadenceError) as refused:
        validate_timezone(name)
    assert str(refused.value) == message


def test_a_known_timezone_is_kept():
    assert validate_timezone("Europe/Berlin") == "Europe/Berlin"


@pytest.mark.parametrize(("token", "day"), [("3", 3), ("-1", -1), ("+2", 2), ("mon", 0), ("Tuesday", 1),
                                            (" SUN ", 6), ("sunday", 6)])
def test_weekdays_from_the_command_line(token, day):
    assert parse_weekday(token) == day


@pytest.mark.parametrize("token", ["mo", "x", "mond"])
def test_a_weekday_that_is_no_day_is_refused_with_the_token(token):
    with pytest.raises(CadenceError) as refused:
        parse_weekday(token)
    assert str(refused.value) == (f"cadence.weekdays: {token!r} is not a weekday (0 = Monday ... 6 = Sunday, "
                                  "or mon ... sun)")


@pytest.mark.parametrize(("text", "shown"), [
    ("x" * 38, "'" + "x" * 38 + "'"),            # a repr of 40 characters is shown whole
    ("x" * 39, "'" + "x" * 36 + "..."),          # 41: cut to 37 and marked
])
def test_a_long_value_is_shown_cut_to_forty_characters(text, shown):
    with pytest.raises(CadenceError) as refused:
        validate_partial({"themes": [text, 5]})
    assert str(refused.value) == "cadence.themes: 5 is not a non-empty text"
    with pytest.raises(CadenceError) as refused:
        validate_partial({"weekdays": [text]})
    assert str(refused.value) == f"cadence.weekdays: {shown} is not a weekday (0 = Monday ... 6 = Sunday)"


def test_a_tenant_without_a_stored_cadence_plans_with_the_defaults():
    assert effective_cadence(None) == validate_cadence({})
