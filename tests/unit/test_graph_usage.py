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
    assert usage.max_percent() == 130.0  # page usage can exceed 100
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
