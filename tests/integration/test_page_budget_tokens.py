"""Meta's real limits and token health through real workers, real Redis and the sandbox (issue 12).

* Two tenants on one Page (two Page tokens) draw on **one** budget: Meta counts Page-token calls per
  Page, whatever the token. The sandbox referees with one rolling window per Page.
* An approve-all with default settings goes out unpaced (the window is mostly free); its time is a
  benchmark figure (``bench/budget.py --approve-all``), not asserted here.
* The 30-Reels-per-24-h limit is taken before a Reel upload starts: the Reel over the limit waits,
  approved, with the reason stored, and nothing of it reaches the Page.
* The daily token check (``integrations.check_tokens``) flips a revoked token to ``needs_reconnect``
  before any publish meets it, with ``debug_token`` (app credentials) or ``/me`` (none).
* ``facebook connect`` with app credentials exchanges the user token and records the expiry.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any, Iterator

import pytest
from click.testing import CliRunner

from graph.budget import page_scope

from models import Integration, IntegrationStatus, PostStatus, SocialPost
from models.crypto import get_cipher
from models.db import transaction
from tasks.domain.clients import app_client, budget_for, client_for_token
from tasks.domain.connect import TokenRefused, connect_user_token, long_lived_user_token
from tests.support.factories import connect, integration, make_tenant
from tests.support.pipeline import approve_post, assert_exactly_once, aware, future, post_row, write_post
from tests.support.waits import wait_for
from worker.cli import cli
from worker.core.settings import get_settings

pytestmark = pytest.mark.integration

APP_ID = "1000000000001"
APP_SECRET = "integration-app-secret"


def _statuses(post_ids: list[str]) -> Counter[str]:
    with transaction() as session:
        rows = session.query(SocialPost.status).filter(SocialPost.id.in_(post_ids)).all()
    return Counter(status for (status,) in rows)


def _wait_all(post_ids: list[str], wanted: str, timeout: float, sandbox: Any, workers: Any) -> None:
    try:
        wait_for(lambda: _statuses(post_ids) == Counter({wanted: len(post_ids)}), timeout, interval=0.3,
                 what=f"every post {wanted}")
    except AssertionError as error:
        with transaction() as session:
            errors = Counter((p.last_error or "")[:160] for p in session.query(SocialPost)
                             .filter(SocialPost.id.in_(post_ids)) if p.status != wanted)
        tail = "\n".join(workers.logs().splitlines()[-30:])
        raise AssertionError(f"{error}\n{_statuses(post_ids)}\n{dict(errors)}\n{sandbox.stats()}\n{tail}") from None


def test_two_tenants_on_one_page_share_one_budget(db, sandbox, workers):
    """48 posts for one Page from two tenants (two Page tokens), a window of 24 calls per 8 s: together
    they stay within one Page's window. Two per-token budgets would have allowed 48 per window."""
    capacity, window = 24, 8
    sandbox.set_budget(calls_per_window=capacity + 1, window_seconds=window, window_mode="rolling")
    record = sandbox.add_page(name="Shared Bakery")
    second_token = sandbox.add_page_token(record.page_id)
    tenants = [make_tenant("North"), make_tenant("South")]
    connect(tenants[0], record.page_id, record.token, "Shared Bakery")
    connect(tenants[1], record.page_id, second_token, "Shared Bakery")
    messages = [f"shared post {i}" for i in range(2 * capacity)]
    post_ids = [write_post(tenants[i % 2], message, when=future(days=2 + i / 1000)) for i, message in enumerate(messages)]
    env = {"SOCIALCAL_GRAPH_CALLS_PER_HOUR": "1", "SOCIALCAL_GRAPH_BUDGET_WINDOW_SECONDS": str(window)}
    workers.start(name="shared-a", **env)
    workers.start(name="shared-b", **env)

    for post_id in post_ids:
        approve_post(post_id)
    _wait_all(post_ids, PostStatus.SCHEDULED, 60, sandbox, workers)

    stats = sandbox.stats()
    assert stats["calls_by_token"][record.token] > 0 and stats["calls_by_token"][second_token] > 0
    assert stats["over_budget_calls"] == 0 and stats["throttled_responses"] == 0, stats["throttled_by_code"]
    assert stats["peak_window_calls_by_page"][record.page_id] <= capacity
    assert_exactly_once(sandbox, record.page_id, messages)


def test_approve_all_of_30_posts_with_default_settings_goes_out_without_pacing(db, sandbox, workers):
    """Default settings (4800 calls per Page per 24 h): 30 posts of every content type are about 45 calls,
    under 1% of the window, so nothing waits for the budget; every post lands once, nothing is throttled."""
    record = sandbox.add_page(name="Approve-all Cafe")
    tenant_id = make_tenant("Approve-all")
    connect(tenant_id, record.page_id, record.token, "Approve-all Cafe")
    kinds = ["text", "link", "photo", "album", "video", "reel"]
    post_ids, messages = [], []
    for n in range(30):
        kind = kinds[n % len(kinds)]
        extra: dict[str, Any] = {}
        if kind == "link":
            extra["link"] = f"https://example.com/a/{n}"
        elif kind == "photo":
            extra["media"] = [{"url": f"https://cdn.example.com/{n}.jpg", "type": "image"}]
        elif kind == "album":
            extra["media"] = [{"url": f"https://cdn.example.com/{n}-{i}.jpg", "type": "image"} for i in range(3)]
        elif kind in ("video", "reel"):
            extra["media"] = [{"url": f"https://cdn.example.com/{n}.mp4", "type": "video"}]
            if kind == "reel":
                extra["content_type"] = "reel"
        messages.append(f"approve-all {n}")
        post_ids.append(write_post(tenant_id, messages[-1], when=future(days=2 + n / 1000), **extra))
    workers.start(name="all-a")
    workers.start(name="all-b")

    for post_id in post_ids:
        approve_post(post_id)
    _wait_all(post_ids, PostStatus.SCHEDULED, 60, sandbox, workers)

    stats = sandbox.stats()
    assert stats["throttled_responses"] == 0 and stats["over_budget_calls"] == 0
    logs = workers.logs()
    assert '"BudgetExhausted"' not in logs, "a call waited for the budget although the window was almost empty"
    assert len(sandbox.objects(record.page_id)["videos"]) == 10  # 5 videos and 5 Reels, each once


def test_a_reel_over_the_pages_limit_waits_before_anything_is_uploaded(db, sandbox, workers):
    record = sandbox.add_page(name="Reel Studio")
    tenant_id = make_tenant("Reels")
    connect(tenant_id, record.page_id, record.token, "Reel Studio")
    reels = [write_post(tenant_id, f"reel {n}", when=future(days=2 + n / 1000), content_type="reel",
                        media=[{"url": f"https://cdn.example.com/r{n}.mp4", "type": "video"}]) for n in range(3)]
    workers.start(name="reels-a", SOCIALCAL_REELS_PER_WINDOW="2")

    for post_id in reels:
        approve_post(post_id)
    wait_for(lambda: _statuses(reels)[PostStatus.SCHEDULED] == 2, 60, what="two Reels on the Page")
    waiting = next(p for p in reels if post_row(p).status != PostStatus.SCHEDULED)
    wait_for(lambda: post_row(waiting).status == PostStatus.APPROVED and post_row(waiting).due_at is not None
             and "Reels limit" in (post_row(waiting).last_error or ""), 30, what="the third Reel waiting")
    row = post_row(waiting)
    assert "Reels" in (row.last_error or "") and "next slot opens" in (row.last_error or "")
    assert "video_id" not in (row.graph_ids or {}), "the waiting Reel was started on Facebook"
    assert len(sandbox.objects(record.page_id)["videos"]) == 2, "nothing of the third Reel reached the Page"
    assert sandbox.stats()["reels_refused"] == 0


@pytest.fixture
def app_sandbox(sandbox: Any) -> Iterator[Any]:
    """The sandbox knowing the app secret (its app token and OAuth endpoints work), restored afterwards."""
    sandbox.state.app_secret = APP_SECRET
    try:
        yield sandbox
    finally:
        sandbox.state.app_secret = None


@pytest.mark.parametrize("with_app", [True, False], ids=["debug_token", "me"])
def test_the_daily_check_flips_a_revoked_token_before_any_publish(db, sandbox, workers, with_app, request):
    if with_app:
        request.getfixturevalue("app_sandbox")
    env = {"SOCIALCAL_FB_APP_ID": APP_ID, "SOCIALCAL_FB_APP_SECRET": APP_SECRET} if with_app else {}
    revoked = sandbox.add_page(name="Revoked Deli")
    healthy = sandbox.add_page(name="Healthy Deli")
    tenant_id = make_tenant("Deli")
    revoked_id = connect(tenant_id, revoked.page_id, revoked.token, "Revoked Deli")
    healthy_id = connect(tenant_id, healthy.page_id, healthy.token, "Healthy Deli")
    post_id = write_post(tenant_id, "waits for a reconnect", integration_id=revoked_id)
    assert sandbox.revoke_token(revoked.token)
    workers.start(name="check-a", queues=("insights",), **env)

    from worker.app import app as celery_app

    celery_app.send_task("integrations.check_tokens", queue="insights")
    wait_for(lambda: integration(revoked_id).status == IntegrationStatus.NEEDS_RECONNECT, 30,
             what="the revoked Page flagged")
    flagged, fine = integration(revoked_id), integration(healthy_id)
    assert "Error validating access token" in (flagged.status_reason or "")  # Meta's reason kept
    assert "socialcal facebook connect" in (flagged.status_reason or "")
    assert flagged.meta["tokenCheckedAt"] and fine.meta["tokenCheckedAt"]
    assert fine.status == IntegrationStatus.ACTIVE and fine.meta["tokenCheck"] == "ok"
    if with_app:
        assert fine.meta["scopes"] and "pages_manage_posts" in fine.meta["scopes"]
        assert fine.meta["dataAccessExpiresAt"]
    assert revoked.token not in str(flagged.meta) + (flagged.status_reason or "")
    routes = sandbox.stats()["calls_by_route"]
    publishing = ("feed", "photos", "videos", "video_reels", "rupload", "post")
    assert not any(route.split(" ")[-1] in publishing for route in routes), routes  # nothing was published
    assert sum(routes.values()) == 2  # one cheap call per integration
    assert post_row(post_id).status == PostStatus.PENDING_APPROVAL

    # What the operator sees: status, the last check, and a pause in force on the healthy Page.
    budget_for(get_settings()).pause(page_scope(healthy.page_id), time.time() + 600, "test pause")
    listed = CliRunner().invoke(cli, ["facebook", "list", "--json"], catch_exceptions=False)
    assert listed.exit_code == 0, listed.output
    rows = {row["integration_id"]: row for row in json.loads(listed.stdout)}
    assert rows[revoked_id]["status"] == "needs_reconnect" and rows[revoked_id]["last_check"]
    assert rows[healthy_id]["status"] == "active" and rows[healthy_id]["pauses"]["page"]["reason"] == "test pause"
    assert rows[healthy_id]["tenant"] == "Deli"
    assert revoked.token not in listed.stdout and healthy.token not in listed.stdout
    screen = CliRunner().invoke(cli, ["facebook", "list"], catch_exceptions=False)
    assert "needs_reconnect" in screen.stdout and "test pause" in screen.stdout


def test_connect_exchanges_a_user_token_and_records_the_expiry(db, app_sandbox, monkeypatch):
    monkeypatch.setenv("SOCIALCAL_FB_APP_ID", APP_ID)
    monkeypatch.setenv("SOCIALCAL_FB_APP_SECRET", APP_SECRET)
    get_settings.cache_clear()
    settings = get_settings()
    sandbox = app_sandbox
    page = sandbox.add_page(name="Long Lived")
    tenant_id = make_tenant("Long")
    app = app_client(settings)
    assert app is not None
    long_lived = long_lived_user_token(app, settings, page.user_token)
    assert long_lived != page.user_token
    with transaction() as session:
        [done] = connect_user_token(session, get_cipher(settings), client_for_token(long_lived, purpose="publish"),
                                    tenant_id=tenant_id, app=app, settings=settings)
    stored = integration(done.integration_id)
    assert stored.meta["tokenExpiresAt"] is None  # a Page token from a long-lived user token never expires
    assert stored.meta["dataAccessExpiresAt"] and "pages_manage_posts" in stored.meta["scopes"]
    assert sandbox.stats()["tokens_exchanged"] == 1 and sandbox.stats()["token_in_url_calls"] == 0

    # A Page token that lacks pages_manage_posts, or expires within days, is refused: nothing stored.
    other = sandbox.add_page(name="Read Only", user_token=long_lived)
    sandbox.set_token(other.token, scopes=["pages_show_list", "read_insights"])
    with transaction() as session, pytest.raises(TokenRefused, match="pages_manage_posts"):
        connect_user_token(session, get_cipher(settings), client_for_token(long_lived, purpose="publish"),
                           tenant_id=tenant_id, app=app, settings=settings)
    sandbox.set_token(other.token, scopes=["pages_manage_posts"], expires_at=sandbox.state.now() + 3600)
    with transaction() as session, pytest.raises(TokenRefused, match="within 7 days"):
        connect_user_token(session, get_cipher(settings), client_for_token(long_lived, purpose="publish"),
                           tenant_id=tenant_id, app=app, settings=settings)
    with transaction() as session:
        assert session.query(Integration).filter_by(external_account_id=other.page_id).count() == 0


def test_a_throttled_page_pauses_every_worker_token_and_tenant_of_that_page(db, sandbox, workers):
    """Meta's 80001 on one tenant's call pauses the Page for the other tenant (another token) and for every
    worker: after it, no call for the Page leaves until Meta's estimate passes; another Page goes on."""
    record = sandbox.add_page(name="Throttled Market")
    other_token = sandbox.add_page_token(record.page_id)
    north, south = make_tenant("North Market"), make_tenant("South Market")
    connect(north, record.page_id, record.token, "Throttled Market")
    connect(south, record.page_id, other_token, "Throttled Market")
    elsewhere = sandbox.add_page(name="Elsewhere")
    elsewhere_tenant = make_tenant("Elsewhere")
    connect(elsewhere_tenant, elsewhere.page_id, elsewhere.token, "Elsewhere")
    first = write_post(north, "meets the throttle")
    rest = [write_post(tenant, f"waits {n}", when=future(days=2 + n / 1000)) for n, tenant in
            enumerate([north, south, south, north, south])]
    fine = [write_post(elsewhere_tenant, f"goes on {n}", when=future(days=2 + n / 1000)) for n in range(3)]
    sandbox.throttle_burst(record.page_id, calls=1, code=80001, regain_minutes=1)
    workers.start(name="thr-a")
    workers.start(name="thr-b")

    approve_post(first)
    # Handed back after Meta's 80001 (an approved post has a due time before any worker takes it, so
    # status and due_at alone would let the others go out together with the throttled call).
    wait_for(lambda: sandbox.stats()["burst_throttled"] == 1 and post_row(first).status == PostStatus.APPROVED
             and "80001" in (post_row(first).last_error or ""), 30,
             what="the throttled post handed back with a due time")
    for post_id in rest + fine:
        approve_post(post_id)
    _wait_all(fine, PostStatus.SCHEDULED, 30, sandbox, workers)
    # Each is handed back by the budget with the pause as its reason (nothing sent) — or, when a worker
    # only gets to it after Meta's minute, published then.
    def settled_rows() -> list[SocialPost]:
        return [post_row(p) for p in rest]

    try:
        wait_for(lambda: all((r.status == PostStatus.APPROVED and "paused" in (r.last_error or ""))
                             or r.status == PostStatus.SCHEDULED for r in settled_rows()), 90,
                 what="both tenants' posts waiting")
    except AssertionError as error:
        rows = [(r.status, r.due_at, (r.last_error or "")[:120]) for r in settled_rows()]
        raise AssertionError(f"{error}\n{rows}\n{sandbox.stats()['calls_by_page']}\n"
                             + "\n".join(workers.logs().splitlines()[-40:])) from None
    stats = sandbox.stats()
    throttled_at = next(call["time"] for call in sandbox.state.call_log(5000) if call["code"] == 80001)
    timeline = [(round(call["time"] - throttled_at, 3), call["method"], call["kind"], call["page_id"] == record.page_id,
                 call["status"], call["code"]) for call in sandbox.state.call_log(5000)]
    assert stats["burst_throttled"] == 1 and stats["calls_during_backoff"] == 0, (
        f"{stats['calls_by_page']}\ncalls (seconds after the throttle, method, kind, this Page, status, code): "
        f"{timeline}\nrows: {[(r.message, r.status, r.due_at, (r.last_error or '')[:100]) for r in settled_rows()]}\n"
        + "\n".join(line for line in workers.logs().splitlines() if "paused" in line or "publish_" in line)[-6000:])
    after = [call for call in sandbox.state.call_log(5000)
             if call["page_id"] == record.page_id and call["time"] > throttled_at]
    assert all(call["time"] >= throttled_at + 59.5 for call in after), "a call for the Page left during the pause"
    waiting = [r for r in settled_rows() if r.status == PostStatus.APPROVED]
    assert waiting, "no post was held back by the pause"
    assert all(aware(r.due_at).timestamp() >= throttled_at + 59 for r in waiting)  # until Meta's minute


def test_a_refused_app_token_flags_no_page(db, app_sandbox, monkeypatch):
    """A wrong app secret makes debug_token fail for every Page: that is the operator's configuration,
    not every Page's token dying, so nothing is marked needs_reconnect."""
    from tasks.domain.clients import token_client
    from tasks.domain.token_health import check_tokens

    monkeypatch.setenv("SOCIALCAL_FB_APP_ID", APP_ID)
    monkeypatch.setenv("SOCIALCAL_FB_APP_SECRET", "not-the-apps-secret")
    get_settings.cache_clear()
    settings = get_settings()
    page = app_sandbox.add_page(name="Innocent")
    integration_id = connect(make_tenant("Innocent"), page.page_id, page.token, "Innocent")
    summary = check_tokens(settings, get_cipher(settings), app=app_client(settings),
                           page_client=lambda token, page_id: token_client(token, page_id, settings))
    assert summary.needs_reconnect == [] and summary.unknown == 1
    stored = integration(integration_id)
    assert stored.status == IntegrationStatus.ACTIVE
    assert "app token" in stored.meta["tokenCheck"] and "not-the-apps-secret" not in stored.meta["tokenCheck"]
