"""Meta's usage headers: parsed on every response; missing or garbled means unknown, never zero."""

from __future__ import annotations

import json
import pickle

import pytest

from graph.usage import Usage

BUC = {
    "111": [{"type": "pages", "call_count": 97, "total_cputime": 23, "total_time": 23,
             "estimated_time_to_regain_access": 0}],
    "222": [{"type": "pages", "call_count": 12, "total_cputime": 5, "total_time": 8,
             "estimated_time_to_regain_access": 7}],
}


def test_all_three_headers_parsed():
    usage = Usage.from_headers({
        "X-App-Usage": json.dumps({"call_count": 28, "total_time": 25, "total_cputime": 25}),
        "X-Page-Usage": json.dumps({"call_count": 130, "total_time": 4, "total_cputime": 2}),
        "X-Business-Use-Case-Usage": json.dumps(BUC),
    })
    assert usage.app == {"call_count": 28, "total_time": 25, "total_cputime": 25}
    assert usage.page["call_count"] == 130
    assert usage.business["111"][0]["call_count"] == 97
    assert not usage.is_empty
    assert usage.max_percent() == 97.0  # 130 is outside 0..100: unknown, not a reason to stop
    assert usage.regain_seconds() == 7 * 60  # minutes -> seconds, longest entry wins


def test_header_names_are_case_insensitive():
    usage = Usage.from_headers({"x-app-usage": '{"call_count": 5}'})
    assert usage.app == {"call_count": 5}
    assert usage.max_percent() == 5.0


def test_missing_headers_mean_unknown_not_zero():
    usage = Usage.from_headers({"Content-Type": "application/json"})
    assert usage.app is None and usage.page is None and usage.business == {}
    assert usage.is_empty
    assert usage.max_percent() is None
    assert usage.regain_seconds() is None
    assert Usage.from_headers(None).is_empty


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", "42", "", "null"])
def test_malformed_headers_are_unknown_and_never_raise(raw):
    usage = Usage.from_headers({"X-App-Usage": raw, "X-Page-Usage": raw, "X-Business-Use-Case-Usage": raw})
    assert usage.is_empty
    assert usage.max_percent() is None


def test_business_entries_that_are_not_objects_are_dropped():
    raw = json.dumps({"1": "junk", "2": [3, {"call_count": 40}], "3": {"call_count": 60}})
    usage = Usage.from_headers({"X-Business-Use-Case-Usage": raw})
    assert usage.business == {"2": [{"call_count": 40}], "3": [{"call_count": 60}]}
    assert usage.max_percent() == 60.0
    assert usage.regain_seconds() is None  # no entry says when access is back


def test_non_numeric_values_are_ignored():
    usage = Usage.from_headers({"X-App-Usage": '{"call_count": "lots", "total_time": true, "total_cputime": 9}'})
    assert usage.max_percent() == 9.0


def test_usage_pickles():
    usage = Usage.from_headers({"X-Business-Use-Case-Usage": json.dumps(BUC)})
    assert pickle.loads(pickle.dumps(usage)) == usage


# ----------------------------------------------------------------------------- hostile values (hypothesis)

from hypothesis import given, settings as hsettings, strategies as st  # noqa: E402

from graph.usage import PERCENT_FIELDS, percent_of  # noqa: E402

_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                     max_leaves=12)


@hsettings(max_examples=300, deadline=None)
@given(app=_json, page=_json, buc=_json, raw=st.text(max_size=40))
def test_any_header_value_parses_without_raising_and_only_valid_percentages_count(app, page, buc, raw):
    headers = {"X-App-Usage": json.dumps(app), "X-Page-Usage": json.dumps(page),
               "X-Business-Use-Case-Usage": json.dumps(buc) if buc is not None else raw}
    usage = Usage.from_headers(headers)
    top = usage.max_percent()
    assert top is None or 0.0 <= top <= 100.0
    regain = usage.regain_seconds()
    assert regain is None or 0.0 <= regain <= 24 * 3600
    app_reading, readings = usage.readings("111")
    for reading in ([app_reading] if app_reading else []) + readings:
        assert reading.percent is None or 0.0 <= reading.percent <= 100.0
        assert reading.regain_seconds is None or reading.regain_seconds >= 0


@given(value=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(), st.text(max_size=5),
                       st.booleans(), st.none()))
def test_a_percentage_is_kept_only_when_it_is_a_number_in_0_to_100(value):
    problems: list[str] = []
    found = percent_of({"call_count": value}, problems)
    valid = (isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
             and abs(value) != float("inf") and 0 <= value <= 100)
    assert (found is not None) == valid
    assert bool(problems) == (not valid)
    assert set(PERCENT_FIELDS) >= {"call_count"}
