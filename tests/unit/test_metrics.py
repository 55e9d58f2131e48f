"""The metrics' own rules: bounded labels, route templates, counting hooks around the budget, events
counted only once their transaction commits, and every metric labelled (multiprocess mode relies on it)."""

from __future__ import annotations

import pytest
from prometheus_client import Counter, Histogram

from graph.client import CallInfo
from graph.errors import AuthError, BudgetExhausted, InvalidRequest, Transient
from graph.metering import MeteredHooks, route_template
from graph.usage import Usage
from worker.core import metrics


def value(counter, **labels) -> float:
    return counter.labels(**labels)._value.get()


def call(path: str, method: str = "POST", scope_id: str | None = "1234567890") -> CallInfo:
    return CallInfo(method, path, method != "GET", "tokenkey", scope_id)


@pytest.mark.parametrize(("method", "path", "route"), [
    ("POST", "/1234567890/feed", "POST /{page}/feed"),
    ("POST", "/1234567890/photos", "POST /{page}/photos"),
    ("POST", "/1234567890_987654321", "POST /{post}"),
    ("DELETE", "/1234567890_987654321", "DELETE /{post}"),
    ("GET", "/1234567890_987654321/insights", "GET /{post}/insights"),
    ("GET", "/55555/insights", "GET /{id}/insights"),  # a number that is not this client's Page
    ("GET", "/me/accounts", "GET /me/accounts"),
    ("POST", "/video-upload/v24.0/777", "POST /video-upload/{version}/{id}"),
    ("GET", "/1234567890/scheduled_posts?access_token=EAAsecret", "GET /{page}/scheduled_posts"),
    ("GET", "/EAAB1234secretlooking/feed", "GET /{other}/feed"),
    ("PATCH", "/a/b/c/d/e/f", "OTHER /{other}/{other}/{other}/{other}"),
])
def test_routes_are_templates_without_ids_or_secrets(method, path, route):
    assert route_template(call(path, method)) == route


def test_bounded_caps_distinct_values_and_refuses_odd_text(monkeypatch):
    monkeypatch.setattr(metrics, "_seen", {})
    monkeypatch.setattr(metrics, "MAX_VALUES_PER_LABEL", 3)
    assert [metrics.bounded("x", v) for v in ("a", "b", "c", "d", "a")] == ["a", "b", "c", "other", "a"]
    assert metrics.bounded("y", "line\nbreak") == "other"
    assert metrics.bounded("y", "x" * 200) == "other"
    assert metrics.bounded("y", None) == "none"


@pytest.mark.parametrize(("code", "subcode", "label"), [
    (190, None, "190"), (190, 463, "190/463"), (None, None, "none"), ("190", None, "other"),
    (True, None, "other"), (-1, None, "other"), (10**9, None, "other"),
])
def test_graph_codes_are_small_integers_only(code, subcode, label):
    assert metrics.graph_code(code, subcode) == label


def test_unknown_kinds_and_statuses_count_as_other():
    before = value(metrics.POST_EVENTS, kind="other", status="other")
    metrics.post_event("made-up kind", "made-up status")
    assert value(metrics.POST_EVENTS, kind="other", status="other") == before + 1
    before = value(metrics.POST_EVENTS, kind="scheduled", status="scheduled")
    metrics.post_event("scheduled", None)  # by id: the status follows from the kind
    assert value(metrics.POST_EVENTS, kind="scheduled", status="scheduled") == before + 1


def test_publish_outcome_takes_class_and_code_from_the_error():
    error = AuthError("dead", code=190, subcode=463)
    before = value(metrics.PUBLISH_OUTCOME, outcome="failed", error_class="AuthError", code="190")
    metrics.publish_outcome("failed", error)
    assert value(metrics.PUBLISH_OUTCOME, outcome="failed", error_class="AuthError", code="190") == before + 1


class RecordingHooks:
    def __init__(self, refuse: Exception | None = None) -> None:
        self.refuse = refuse
        self.after: list = []

    def before_call(self, info: CallInfo) -> None:
        if self.refuse:
            raise self.refuse

    def after_call(self, info: CallInfo, usage: Usage, error) -> None:
        self.after.append((info.path, error))


def test_metered_hooks_count_sent_calls_and_still_feed_the_budget():
    inner = RecordingHooks()
    hooks = MeteredHooks(inner, "publish")
    ok_before = value(metrics.GRAPH_CALLS, route="POST /{page}/feed", outcome="ok", code="none")
    bad_before = value(metrics.GRAPH_CALLS, route="POST /{page}/feed", outcome="InvalidRequest", code="100")
    hooks.before_call(call("/1234567890/feed"))
    hooks.after_call(call("/1234567890/feed"), Usage(), None)
    hooks.after_call(call("/1234567890/feed"), Usage(), InvalidRequest("bad", code=100))
    assert value(metrics.GRAPH_CALLS, route="POST /{page}/feed", outcome="ok", code="none") == ok_before + 1
    assert value(metrics.GRAPH_CALLS, route="POST /{page}/feed", outcome="InvalidRequest", code="100") == bad_before + 1
    assert len(inner.after) == 2  # the budget still learned from both answers


@pytest.mark.parametrize("refusal", [BudgetExhausted("budget", retry_at=1.0), Transient("budget unavailable")])
def test_budget_refusals_are_counted_and_re_raised(refusal):
    hooks = MeteredHooks(RecordingHooks(refuse=refusal), "insights")
    before = value(metrics.GRAPH_REFUSALS, purpose="insights")
    with pytest.raises(type(refusal)):
        hooks.before_call(call("/1234567890/insights", "GET"))
    assert value(metrics.GRAPH_REFUSALS, purpose="insights") == before + 1


def test_every_metric_has_labels_so_none_holds_a_value_before_multiprocess_mode():
    found = [v for v in vars(metrics).values() if isinstance(v, (Counter, Histogram))]
    assert len(found) == 5
    assert all(m._labelnames for m in found)


def test_events_are_counted_once_committed_never_when_rolled_back(db):
    from models import SocialPost
    from models.db import transaction
    from tasks.domain.events import record_event
    from tests.support.factories import connect, make_tenant
    from tests.support.pipeline import write_post

    tenant_id = make_tenant()
    connect(tenant_id, "1234567890", "EAAUnitTestPageToken0123456789")
    post_id = write_post(tenant_id, "counted once")
    before = value(metrics.POST_EVENTS, kind="rescheduled", status="pending_approval")
    with pytest.raises(RuntimeError):
        with transaction() as session:
            record_event(session, session.get(SocialPost, post_id), "rescheduled")
            raise RuntimeError("roll back")
    assert value(metrics.POST_EVENTS, kind="rescheduled", status="pending_approval") == before
    with transaction() as session:
        record_event(session, session.get(SocialPost, post_id), "rescheduled")
        assert value(metrics.POST_EVENTS, kind="rescheduled", status="pending_approval") == before  # not yet
    assert value(metrics.POST_EVENTS, kind="rescheduled", status="pending_approval") == before + 1
