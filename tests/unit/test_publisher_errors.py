"""What one publish attempt does after Graph answers with an error (DESIGN.md rule 4), in this process
against the sandbox and its fault injection: the post fails for good (with its failed_jobs row in the
same write, the error marked recorded and raised), or goes back to ``approved`` with a due time and a
countdown wake-up (or none, for ``dispatch_due``, when the wait is long), or is left alone when another
worker took it over. Written for the mutants a mutation run of tasks/domain/publisher.py left in
``_after_graph_error``, ``_retry_soon``, ``release``, ``fail``/``fail_unknown`` and ``publish_post``
(bench/mutation.py)."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from graph.client import VideoPost
from graph.errors import Ambiguous, AuthError, InvalidRequest, PolicyBlocked
from models import (
    Integration,
    IntegrationStatus,
    PostStatus,
    SocialPost,
    Tenant,
    TenantStatus,
    utcnow,
)
from models.db import transaction
from tasks.domain import publisher as publisher_module
from tasks.domain import retry_policy
from tasks.domain.failed_jobs import recorded_job_id
from tasks.domain.holds import PAUSED_REASON
from tasks.domain.integrations import RECONNECT_HINT
from tasks.domain.publisher import (
    AMBIGUOUS_RECHECK_SECONDS,
    REEL_RECHECK_SECONDS,
    OutcomeUnknown,
    default_client_factory,
    publish_post,
)
from tasks.domain.reconcile import DRAFT_HINT
from tests.support.factories import integration
from tests.support.pipeline import approve_post as approve
from tests.support.pipeline import (
    aware,
    events,
    future,
    live_posts,
    post_row,
    write_post,
)
from tests.support.publishing import (
    bring_due,
    client_factory_with,
    event_details,
    failed_jobs,
    publish,
)
from worker.core.queues import TaskName
from worker.core.settings import get_settings

pytestmark = pytest.mark.redis

LONG_MESSAGE = "the request was refused " * 150  # longer than the 2000 characters a row keeps


class TenthJitter(random.Random):
    """Every jittered wait at a tenth of its range, so the decided delay is known exactly."""

    def uniform(self, a: float, b: float) -> float:
        return a + (b - a) * 0.1


class LogLines:
    """The publisher's log lines (event and fields), passed on to its real logger. Not structlog's
    capture_logs: a logger cached before the test (cache_logger_on_first_use) would bypass it."""

    def __init__(self, real: Any) -> None:
        self.real, self.lines = real, []

    def __getattr__(self, level: str) -> Callable[..., None]:
        def line(event: str, **fields: Any) -> None:
            self.lines.append({"event": event, **fields})
            getattr(self.real, level)(event, **fields)

        return line


@pytest.fixture
def wake_ups(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[Any, ...], float | None]]:
    """The countdown wake-ups the publisher sends (captured, not sent to the broker)."""
    sent: list[tuple[str, tuple[Any, ...], float | None]] = []

    def send_or_keep(task_name: str, *args: Any, countdown: float | None = None, **kwargs: Any) -> bool:
        assert not kwargs
        sent.append((task_name, args, countdown))
        return True

    monkeypatch.setattr("tasks.domain.publisher.send_or_keep", send_or_keep)
    monkeypatch.setattr(retry_policy, "random", SimpleNamespace(Random=TenthJitter))
    return sent


def fault(sandbox: Any, path: str, code: int, *, method: str = "POST", count: int | None = 1,
          **extra: Any) -> None:
    sandbox.set_faults([{"method": method, "path": path, "mode": "error", "code": code, "rate": 1.0,
                         "count": count, **extra}])


def approved(page: dict[str, str], message: str, **extra: Any) -> str:
    post_id = write_post(page["tenant_id"], message, **extra)
    approve(post_id)
    return post_id


def calls(sandbox: Any, route: str) -> int:
    return int(sandbox.stats()["calls_by_route"].get(route, 0))


def due_in(post_id: str, before: datetime, after: datetime) -> tuple[float, float]:
    """The bounds (seconds after the release) within which the row's due_at lies."""
    due = aware(post_row(post_id).due_at)
    return (due - after).total_seconds(), (due - before).total_seconds()


def take_over(post_id: str) -> None:
    """Another worker claims the post (our lease expired while we were in a Graph call)."""
    with transaction() as session:
        post = session.get(SocialPost, post_id)
        assert post is not None
        post.lease_owner = "w2"
        post.lease_expires_at = utcnow() + timedelta(minutes=5)


def taken_over_during(method: str, post_id: str) -> Callable[[Integration], Any]:
    """A client factory whose ``method`` lets another worker take the post over before it is called."""

    def wrap(call: Callable[..., Any]) -> Callable[..., Any]:
        def taken_over_first(*args: Any, **kwargs: Any) -> Any:
            take_over(post_id)
            return call(*args, **kwargs)
        return taken_over_first

    return client_factory_with(**{method: wrap})


# ----------------------------------------------------------------------------- failing for good


def test_an_expired_token_on_the_create_fails_the_post_with_the_reconnect_hint_and_marks_the_page(
        page, sandbox, wake_ups):
    fault(sandbox, "feed", 190, subcode=463, message="Error validating access token: Session has expired.")
    post_id = approved(page, "token gone")
    with pytest.raises(AuthError) as raised:
        publish(post_id, task_id="task-1")
    reason = f"{raised.value} — {RECONNECT_HINT}"
    row = post_row(post_id)
    assert (row.status, row.last_error) == (PostStatus.FAILED, reason)
    assert row.lease_owner is None and row.lease_expires_at is None and row.due_at is None
    assert event_details(post_id, "failed") == [{"reason": reason}]
    [job] = failed_jobs(post_id)
    assert recorded_job_id(raised.value) == job.id  # the task writes no second row
    assert (job.task_name, job.task_id, job.args, job.tenant_id, job.post_id, job.error_class, job.error_code) == (
        TaskName.PUBLISH_POST.value, "task-1", [post_id], page["tenant_id"], post_id, "AuthError", "190/463")
    page_row = integration(page["integration_id"])
    assert page_row.status == IntegrationStatus.NEEDS_RECONNECT
    assert page_row.status_reason == f"{raised.value} — {RECONNECT_HINT}"
    assert live_posts(sandbox, page["page_id"]) == [] and wake_ups == []


def test_a_validation_error_on_the_create_fails_fast_with_one_failure_row_and_the_page_left_connected(
        page, sandbox, wake_ups):
    fault(sandbox, "feed", 100, message=LONG_MESSAGE)
    post_id = approved(page, "refused text")
    with pytest.raises(InvalidRequest) as raised:
        publish(post_id)
    row = post_row(post_id)
    assert (row.status, row.last_error) == (PostStatus.FAILED, str(raised.value)[:2000])
    assert row.lease_owner is None and row.lease_expires_at is None and row.due_at is None
    assert event_details(post_id, "failed") == [{"reason": str(raised.value)}]
    [job] = failed_jobs(post_id)
    assert recorded_job_id(raised.value) == job.id
    assert (job.error_class, job.error_code, job.tenant_id) == ("InvalidRequest", "100", page["tenant_id"])
    assert integration(page["integration_id"]).status == IntegrationStatus.ACTIVE
    assert calls(sandbox, "POST feed") == 1 and live_posts(sandbox, page["page_id"]) == [] and wake_ups == []


def test_an_ambiguous_draft_create_fails_at_once_as_outcome_unknown_with_the_draft_hint(page, sandbox, wake_ups):
    fault(sandbox, "feed", 2, message="Please retry your request later.")
    post_id = approved(page, "draft in doubt", when=future(days=5 / 1440))  # too soon to schedule
    with pytest.raises(OutcomeUnknown) as raised:
        publish(post_id)
    graph = Ambiguous("Please retry your request later.", code=2, type="OAuthException")
    reason = f"the draft create may or may not have reached the Page ({graph})"
    row = post_row(post_id)
    assert (row.status, row.publish_mode, row.last_error) == (PostStatus.FAILED, "draft", reason)
    assert str(raised.value) == reason and raised.value.hint == DRAFT_HINT
    assert event_details(post_id, "outcome_unknown") == [{"reason": reason}]
    [job] = failed_jobs(post_id)
    assert recorded_job_id(raised.value) == job.id
    assert (job.error_class, job.error_message, job.hint) == ("OutcomeUnknown", row.last_error, DRAFT_HINT)
    assert calls(sandbox, "POST feed") == 1 and wake_ups == []  # no retry: nothing could tell


# ----------------------------------------------------------------------------- back to approved, due again


def test_an_ambiguous_draft_reel_finish_is_rechecked_on_its_video_not_failed(page, sandbox, wake_ups):
    # The Reel's finish (the second POST to video_reels) names the video, whose node tells whether it
    # was finished: unlike a draft post, its unknown outcome can be found out.
    fault(sandbox, "video_reels", 2, after=1)
    post_id = approved(page, "draft reel", content_type="reel", when=future(days=5 / 1440),
                       media=[{"url": "https://cdn.example/r.mp4", "type": "video"}])
    assert publish(post_id) == {"post_id": post_id, "status": "waiting", "error": "Ambiguous", "code": 2}
    row = post_row(post_id)
    assert (row.status, row.publish_mode) == (PostStatus.APPROVED, "draft") and failed_jobs(post_id) == []
    assert row.publish_intent["in_flight"]["step"] == "reel_finish"
    assert wake_ups == [(TaskName.PUBLISH_POST, (post_id,), AMBIGUOUS_RECHECK_SECONDS)]
    bring_due(post_id)
    assert publish(post_id, "w2")["status"] == PostStatus.PLATFORM_DRAFT
    assert calls(sandbox, "POST video_reels") == 3  # start, the finish in doubt, the finish again
    assert [e["step"] for e in event_details(post_id, "reconciled")] == ["reel_finish"]
    assert [p["message"] for p in live_posts(sandbox, page["page_id"])] == ["draft reel"]



def test_an_ambiguous_create_is_rechecked_after_the_recheck_delay_and_counted_each_time(page, sandbox, wake_ups):
    fault(sandbox, "feed", 2, count=2, message=LONG_MESSAGE)
    post_id = approved(page, "in doubt twice")
    for attempt in (1, 2):
        before = utcnow()
        outcome = publish(post_id, f"w{attempt}")
        after = utcnow()
        assert outcome == {"post_id": post_id, "status": "waiting", "error": "Ambiguous", "code": 2}
        row = post_row(post_id)
        assert row.status == PostStatus.APPROVED and row.lease_owner is None and row.lease_expires_at is None
        assert row.publish_intent["in_flight"]["step"] == "feed"  # the next run looks before sending
        assert row.publish_intent["transient_attempts"] == attempt
        assert row.last_error.startswith("Graph error 2") and len(row.last_error) == 2000
        low, high = due_in(post_id, before, after)
        assert low <= AMBIGUOUS_RECHECK_SECONDS <= high
        assert aware(row.enqueued_at) == aware(row.due_at)  # the wake-up below is on its way
        assert wake_ups[-1] == (TaskName.PUBLISH_POST, (post_id,), AMBIGUOUS_RECHECK_SECONDS)
        bring_due(post_id)
    assert failed_jobs(post_id) == [] and len(wake_ups) == 2
    assert publish(post_id, "w3")["status"] == PostStatus.SCHEDULED
    assert [p["message"] for p in live_posts(sandbox, page["page_id"])] == ["in doubt twice"]
    assert events(post_id).count("reconciled") == 2


def test_an_ambiguous_create_past_the_retry_limit_fails_the_post(page, sandbox, wake_ups):
    fault(sandbox, "feed", 2)
    post_id = approved(page, "never answered")
    limit = get_settings().max_transient_retries
    with transaction() as session:
        session.get(SocialPost, post_id).publish_intent = {"transient_attempts": limit}
    with pytest.raises(Ambiguous) as raised:
        publish(post_id)
    row = post_row(post_id)
    assert (row.status, row.last_error) == (PostStatus.FAILED, str(raised.value))
    [job] = failed_jobs(post_id)
    assert recorded_job_id(raised.value) == job.id and wake_ups == []


def test_a_transient_read_error_backs_off_with_a_countdown_and_keeps_the_uploaded_video(page, sandbox, wake_ups):
    sandbox_video = [{"url": "https://cdn.example/v.mp4", "type": "video"}]
    post_id = approved(page, "a video", media=sandbox_video)
    fault(sandbox, "video", 2, method="GET")  # reading the video's post, after the upload
    before = utcnow()
    outcome = publish(post_id)
    after = utcnow()
    assert outcome == {"post_id": post_id, "status": "waiting", "error": "Transient", "code": 2}
    row = post_row(post_id)
    delay = retry_policy.backoff_ceiling(0) * 0.1  # the jittered backoff of a first failure
    low, high = due_in(post_id, before, after)
    assert low <= delay <= high
    assert row.status == PostStatus.APPROVED and row.attempts == 1
    assert row.publish_intent["transient_attempts"] == 1 and "in_flight" not in row.publish_intent
    assert row.last_error.startswith("Graph error 2") and "video_id" in row.graph_ids
    assert aware(row.enqueued_at) == aware(row.due_at)
    assert wake_ups == [(TaskName.PUBLISH_POST, (post_id,), 0.5)]  # never a countdown under half a second
    bring_due(post_id)
    assert publish(post_id, "w2")["status"] == PostStatus.SCHEDULED
    assert calls(sandbox, "POST videos") == 1 and len(sandbox.objects(page["page_id"])["videos"]) == 1


def test_a_policy_block_waits_two_minutes_then_ten_left_to_dispatch_due_then_fails(page, sandbox, wake_ups):
    fault(sandbox, "feed", 368, count=3, message="It looks like you were misusing this feature")
    post_id = approved(page, "blocked text")
    for attempt, delay, woken in ((1, 120.0, True), (2, 600.0, False)):
        before = utcnow()
        outcome = publish(post_id, f"w{attempt}")
        after = utcnow()
        assert outcome == {"post_id": post_id, "status": "waiting", "error": "PolicyBlocked", "code": 368}
        row = post_row(post_id)
        assert row.status == PostStatus.APPROVED and row.publish_intent["transient_attempts"] == attempt
        low, high = due_in(post_id, before, after)
        assert low <= delay <= high
        if woken:
            assert aware(row.enqueued_at) == aware(row.due_at)
            assert wake_ups == [(TaskName.PUBLISH_POST, (post_id,), delay)]
        else:  # longer than a broker countdown may be: dispatch_due sends it when due
            assert row.enqueued_at is None and len(wake_ups) == 1
        bring_due(post_id)
    with pytest.raises(PolicyBlocked) as raised:
        publish(post_id, "w3")
    assert (post_row(post_id).status, post_row(post_id).last_error) == (PostStatus.FAILED, str(raised.value))
    assert len(failed_jobs(post_id)) == 1 and calls(sandbox, "POST feed") == 3
    assert live_posts(sandbox, page["page_id"]) == []


def test_a_throttled_create_waits_for_the_scope_refunds_the_attempt_and_says_throttled(page, sandbox, wake_ups,
                                                                                       monkeypatch):
    logs = LogLines(publisher_module.log)
    monkeypatch.setattr(publisher_module, "log", logs)
    fault(sandbox, "feed", 32)
    post_id = approved(page, "throttled text")
    before = utcnow()
    outcome = publish(post_id)
    after = utcnow()
    assert outcome == {"post_id": post_id, "status": "waiting", "error": "RateLimited", "code": 32}
    row = post_row(post_id)
    assert row.status == PostStatus.APPROVED and row.attempts == 0  # being throttled spends no attempt
    assert "transient_attempts" not in row.publish_intent and "in_flight" not in row.publish_intent
    wait = retry_policy.RATE_LIMIT_RECHECK_SECONDS
    delay = wait + 0.1 * (wait * retry_policy.RATE_LIMIT_JITTER_FRACTION + retry_policy.RATE_LIMIT_JITTER_FLOOR)
    low, high = due_in(post_id, before, after)
    assert low <= delay <= high
    assert wake_ups == [(TaskName.PUBLISH_POST, (post_id,), pytest.approx(delay))]
    assert aware(row.enqueued_at) == aware(row.due_at) and row.last_error.startswith("Graph error 32")
    [released] = [e for e in logs.lines if e["event"] == "publish_released"]
    assert released["reason"].startswith("throttled (Graph error 32")
    assert failed_jobs(post_id) == []


def test_a_video_whose_post_meta_has_not_named_yet_is_read_again_in_thirty_seconds(page, sandbox, wake_ups):
    post_id = approved(page, "a video", media=[{"url": "https://cdn.example/v.mp4", "type": "video"}])
    # Meta has the video, its post id lags the upload.
    lagging = client_factory_with(video_post=lambda _read: lambda video_id: VideoPost(post_id=None, permalink_url=None))
    before = utcnow()
    assert publish(post_id, client_factory=lagging) == {"post_id": post_id, "status": "waiting"}
    after = utcnow()
    row = post_row(post_id)
    low, high = due_in(post_id, before, after)
    assert low <= REEL_RECHECK_SECONDS <= high
    assert row.status == PostStatus.APPROVED and row.attempts == 1 and row.last_error is None
    assert row.graph_ids["post_reads"] == 1 and "video_id" in row.graph_ids
    assert aware(row.enqueued_at) == aware(row.due_at)
    assert wake_ups == [(TaskName.PUBLISH_POST, (post_id,), REEL_RECHECK_SECONDS)]
    bring_due(post_id)
    assert publish(post_id, "w2")["status"] == PostStatus.SCHEDULED
    assert calls(sandbox, "POST videos") == 1


def test_a_post_beyond_the_scheduling_window_waits_for_it_without_a_wake_up(page, sandbox, wake_ups):
    days = get_settings().schedule_max_days + 10
    post_id = approved(page, "far ahead", when=future(days=days))
    bring_due(post_id)  # dispatch_due sent it early (or an operator did)
    outcome = publish(post_id)
    row = post_row(post_id)
    opens = aware(row.scheduled_at) - timedelta(days=days - 10) + timedelta(hours=1)
    assert outcome == {"post_id": post_id, "status": "waiting", "external_id": None}
    assert (row.status, aware(row.due_at), row.enqueued_at, row.attempts) == (PostStatus.APPROVED, opens, None, 1)
    assert row.lease_owner is None and row.lease_expires_at is None
    assert sandbox.stats()["total_calls"] == 0 and wake_ups == []


# ----------------------------------------------------------------------------- nothing to do, nothing written


def test_a_paused_tenant_holds_the_post_and_sends_nothing(page, sandbox, wake_ups):
    post_id = approved(page, "paused")
    with transaction() as session:
        session.get(Tenant, page["tenant_id"]).status = TenantStatus.PAUSED
    assert publish(post_id) == {"post_id": post_id, "status": "held", "reason": PAUSED_REASON}
    assert post_row(post_id).hold_reason == PAUSED_REASON and sandbox.stats()["total_calls"] == 0


def test_a_lease_lost_before_the_create_answers_lease_lost_and_sends_nothing(page, sandbox, wake_ups):
    post_id = approved(page, "taken over")
    real = default_client_factory(get_settings())

    def factory(integration: Integration) -> Any:
        take_over(post_id)
        return real(integration)

    assert publish(post_id, client_factory=factory) == {"post_id": post_id, "status": "lease_lost"}
    row = post_row(post_id)
    assert (row.status, row.lease_owner) == (PostStatus.PUBLISHING, "w2") and not row.publish_intent
    assert sandbox.stats()["total_calls"] == 0 and wake_ups == []


def test_a_failure_after_the_lease_was_lost_answers_lease_lost_and_writes_nothing(page, sandbox, wake_ups):
    post_id = approved(page, "a video", media=[{"url": "https://cdn.example/v.mp4", "type": "video"}])
    fault(sandbox, "video", 100, method="GET")
    outcome = publish(post_id, client_factory=taken_over_during("video_post", post_id))
    assert outcome == {"post_id": post_id, "status": "lease_lost"}
    row = post_row(post_id)
    assert (row.status, row.lease_owner, row.last_error) == (PostStatus.PUBLISHING, "w2", None)
    assert failed_jobs(post_id) == [] and "failed" not in events(post_id) and wake_ups == []


def test_a_retry_after_the_lease_was_lost_writes_nothing_and_sends_no_wake_up(page, sandbox, wake_ups):
    fault(sandbox, "feed", 2)
    post_id = approved(page, "in doubt, taken over")
    publish(post_id, client_factory=taken_over_during("create_feed_post", post_id))
    row = post_row(post_id)
    assert (row.status, row.lease_owner, row.last_error) == (PostStatus.PUBLISHING, "w2", None)
    assert "transient_attempts" not in row.publish_intent and row.enqueued_at is None
    assert failed_jobs(post_id) == [] and wake_ups == []



def test_the_graph_client_is_made_from_the_settings_publish_post_is_given(page, sandbox, wake_ups, monkeypatch):
    post_id = approved(page, "own settings")
    given = get_settings()
    monkeypatch.setenv("SOCIALCAL_GRAPH_URL", "http://127.0.0.1:9/")  # nothing listens there
    get_settings.cache_clear()
    outcome = publish_post(post_id, "w1", given)
    assert outcome == {"post_id": post_id, "status": PostStatus.SCHEDULED, "external_id": post_row(post_id).external_id}
    assert [p["message"] for p in live_posts(sandbox, page["page_id"])] == ["own settings"]
