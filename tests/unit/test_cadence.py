"""Cadence validation: every wrong type or range is one line naming the field; nothing else escapes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks.domain.cadence import (
    FIELDS,
    CadenceError,
    effective_cadence,
    parse_weekday,
    validate_cadence,
    validate_partial,
    validate_timezone,
)


@pytest.mark.parametrize(("changes", "field", "fragment"), [
    ({"weekdays": [0, 9]}, "weekdays", "9 is not a weekday"),
    ({"weekdays": [True]}, "weekdays", "not a weekday"),
    ({"weekdays": [1, 1]}, "weekdays", "listed twice"),
    ({"weekdays": []}, "weekdays", "empty"),
    ({"weekdays": "0,2,4"}, "weekdays", "expected a list"),
    ({"times": ["25:00"]}, "times", "'25:00' is not a time of day"),
    ({"times": ["9:00"]}, "times", "not a time of day"),
    ({"times": "10:00"}, "times", 'or "best"'),
    ({"times": []}, "times", "empty"),
    ({"times": [10]}, "times", "not a time of day"),
    ({"fallback_times": ["noon"]}, "fallback_times", "not a time of day"),
    ({"posts_per_week": -3}, "posts_per_week", "-3 is not a whole number from 1 to 100"),
    ({"posts_per_week": 0}, "posts_per_week", "pause the tenant"),
    ({"posts_per_week": "3"}, "posts_per_week", "not a whole number"),
    ({"posts_per_week": 2.5}, "posts_per_week", "not a whole number"),
    ({"posts_per_week": 101}, "posts_per_week", "1 to 100"),
    ({"content_types": ["story"]}, "content_types", "'story' is not one of"),
    ({"content_types": []}, "content_types", "empty"),
    ({"themes": [""]}, "themes", "non-empty text"),
    ({"themes": ["x" * 201]}, "themes", "at most 200"),
    ({"themes": "tips"}, "themes", "expected a list"),
    ({"skip_dates": ["2026-02-30"]}, "skip_dates", "not a date"),
    ({"skip_dates": "2026-12-24"}, "skip_dates", "expected a list"),
    ({"posts_per_weak": 3}, "posts_per_weak", "unknown cadence field"),
])
def test_each_bad_value_is_refused_with_a_one_line_reason_naming_the_field(changes, field, fragment):
    with pytest.raises(CadenceError) as refused:
        validate_cadence(changes)
    message = str(refused.value)
    assert message.startswith(f"cadence.{field}:"), message
    assert fragment in message and "\n" not in message


def test_a_valid_cadence_is_completed_and_normalised():
    checked = validate_cadence({"weekdays": [4, 0, 2], "times": ["17:00", "09:30"], "skip_dates": ["2026-12-25"]})
    assert checked["weekdays"] == [0, 2, 4] and checked["times"] == ["09:30", "17:00"]
    assert set(checked) == set(FIELDS)
    assert validate_cadence({"times": "best"})["times"] == "best"
    assert validate_cadence({"skip_dates": []})["skip_dates"] == []


def test_page_override_sits_on_the_tenant_cadence_and_is_checked_too():
    tenant = validate_cadence({"weekdays": [0, 2, 4], "posts_per_week": 3})
    assert effective_cadence(tenant, {"weekdays": [5, 6], "posts_per_week": 2})["weekdays"] == [5, 6]
    assert effective_cadence(tenant, None) == tenant
    with pytest.raises(CadenceError, match=r"^cadence\.times:"):
        effective_cadence(tenant, {"times": ["24:00"]})
    with pytest.raises(CadenceError, match="Page cadence override: expected an object"):
        effective_cadence(tenant, ["weekdays"])


@pytest.mark.parametrize("name", ["Mars/Base", "", None, 5, "../../etc/passwd"])
def test_unknown_time_zone_is_refused_naming_the_field(name):
    with pytest.raises(CadenceError, match=r"^timezone: "):
        validate_timezone(name)


def test_weekday_names_from_the_command_line():
    assert [parse_weekday(t) for t in ("mon", "Tuesday", "6", "SUN")] == [0, 1, 6, 6]
    assert parse_weekday("9") == 9  # the range is validate_cadence's to refuse, naming the field
    with pytest.raises(CadenceError, match=r"^cadence\.weekdays: 'someday'"):
        parse_weekday("someday")


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                    max_leaves=8)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(FIELDS + ("other",)), JSON, max_size=4))
def test_any_shape_of_input_is_either_a_cadence_or_a_cadence_error(values):
    try:
        checked = validate_cadence(values)
    except CadenceError as error:
        assert str(error).startswith("cadence.") and "\n" not in str(error)
    else:
        assert validate_cadence(checked) == checked  # a normalised cadence is stable


@settings(max_examples=100, deadline=None)
@given(JSON)
def test_any_value_for_the_whole_cadence_is_refused_cleanly_unless_it_is_an_object(value):
    try:
        validate_partial(value)
    except CadenceError:
        pass
