"""The Graph client against mocked HTTP (`responses`): what goes on the wire, and what comes back."""

from __future__ import annotations

import calendar
import hashlib
import hmac
import json
import pickle
import time
from datetime import date, datetime, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from freezegun import freeze_time

from graph.client import (
    CallInfo,
    GraphClient,
    InsightSeries,
    ManagedPage,
    PageInfo,
    PhotoResult,
    ReelStart,
    VideoPost,
)
from graph.errors import (
    Ambiguous,
    AuthError,
    BudgetExhausted,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    RateLimited,
    Transient,
)
from graph.usage import Usage

TOKEN = "EAAGm0PX4ZCpsBAzzSecretPageToken123456"
APP_SECRET = "app-secret-0123456789"
PAGE = "1234567890"
BASE = "https://graph.facebook.com/v24.0"
VIDEO = "https://graph-video.facebook.com/v24.0"
WHEN = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
WHEN_UNIX = calendar.timegm((2030, 1, 2, 3, 4, 5))


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def client():
    return GraphClient(TOKEN, base_url=BASE, scope_id=PAGE)


def form(call) -> dict[str, str]:
    raw = call.request.body or ""
    if isinstance(raw, bytes):
        raw = raw.decode()
    return {key: values[0] for key, values in parse_qs(raw, keep_blank_values=True).items()}


def query(call) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(call.request.url).query).items()}


def path(call) -> str:
    return urlsplit(call.request.url).path


def assert_no_token_in_urls(rsps):
    assert rsps.calls, "expected at least one request"
    for call in rsps.calls:
        assert TOKEN not in call.request.url
        assert "access_token" not in parse_qs(urlsplit(call.request.url).query)
        assert call.request.headers["Authorization"] == f"OAuth {TOKEN}"


# ----------------------------------------------------------------------------- publishing

def test_text_post_as_platform_draft(rsps, client):
    rsps.post(f"{BASE}/{PAGE}/feed", json={"id": f"{PAGE}_1"})
    assert client.create_feed_post(PAGE, message="Hello", published=False) == f"{PAGE}_1"
    sent = form(rsps.calls[0])
    assert sent == {"message": "Hello", "published": "false"}
    assert client.calls == 1
    assert_no_token_in_urls(rsps)


def test_scheduled_post_sends_unix_seconds(rsps, client):
    rsps.post(f"{BASE}/{PAGE}/feed", json={"id": f"{PAGE}_2"})
    client.create_feed_post(PAGE, message="Later", scheduled_at=WHEN)
    sent = form(rsps.calls[0])
    assert sent["published"] == "false"
    assert sent["scheduled_publish_time"] == str(WHEN_UNIX)
    assert "unpublished_content_type" not in sent


def test_naive_datetime_is_taken_as_utc(rsps, client):
    rsps.post(f"{BASE}/{PAGE}/feed", json={"id": f"{PAGE}_2"})
    client.create_feed_post(PAGE, message="Later", scheduled_at=WHEN.replace(tzinfo=None))
    assert form(rsps.calls[0])["scheduled_publish_time"] == str(WHEN_UNIX)


def test_link_post_sends_link(rsps, client):
    rsps.post(f"{BASE}/{PAGE}/feed", json={"id": f"{PAGE}_3"})
    client.create_feed_post(PAGE, message="Read this", link="https://example.com/a")
    assert form(rsps.calls[0]) == {"message": "Read this", "link": "https://example.com/a", "published": "true"}


def test_empty_feed_post_is_refused_before_sending(rsps, client):
    with pytest.raises(ValueError):
        client.create_feed_post(PAGE)
    assert client.calls == 0


def test_photo_sends_url_caption_and_alt_text(rsps, client):
    rsps.post(f"{BASE}/{PAGE}/photos", json={"id": "555", "post_id": f"{PAGE}_4"})
    result = client.upload_photo(PAGE, "https://cdn.example/p.jpg", caption="Cap", alt_text="A red bike",
                                 scheduled_at=WHEN)
    assert result == PhotoResult(id="555", post_id=f"{PAGE}_4")
    assert form(rsps.calls[0]) == {
        "url": "https://cdn.example/p.jpg", "caption": "Cap", "alt_text_custom": "A red bike",
        "published": "false", "scheduled_publish_time": str(WHEN_UNIX),
    }


def test_scheduled_album_uploads_unpublished_then_one_feed_call(rsps, client):
    rsps.post(f"{BASE}/{PAGE}/photos", json={"id": "701"})
    rsps.post(f"{BASE}/{PAGE}/photos", json={"id": "702"})
    rsps.post(f"{BASE}/{PAGE}/feed", json={"id": f"{PAGE}_5"})

    ids = [client.upload_photo(PAGE, url, published=False, temporary=True).id
           for url in ("https://cdn.example/1.jpg", "https://cdn.example/2.jpg")]
    post_id = client.create_feed_post(PAGE, message="Album", scheduled_at=WHEN, attached_media=ids)

    assert post_id == f"{PAGE}_5"
    assert [path(c) for c in rsps.calls] == [f"/v24.0/{PAGE}/photos", f"/v24.0/{PAGE}/photos", f"/v24.0/{PAGE}/feed"]
    for call in rsps.calls[:2]:
        assert form(call)["published"] == "false"
        assert form(call)["temporary"] == "true"
    assert form(rsps.calls[0])["url"] == "https://cdn.example/1.jpg"
    feed = form(rsps.calls[2])
    assert json.loads(feed["attached_media[0]"]) == {"media_fbid": "701"}
    assert json.loads(feed["attached_media[1]"]) == {"media_fbid": "702"}
    assert feed["unpublished_content_type"] == "SCHEDULED"
    assert feed["published"] == "false"
    assert feed["scheduled_publish_time"] == str(WHEN_UNIX)


def test_unpublished_photo_has_no_post_id(rsps, client):
    rsps.post(f"{BASE}/{PAGE}/photos", json={"id": "701"})
    assert client.upload_photo(PAGE, "https://cdn.example/1.jpg", published=False) == PhotoResult("701", None)


def test_video_goes_to_the_video_host(rsps, client):
    rsps.post(f"{VIDEO}/{PAGE}/videos", json={"id": "vid-1"})
    video_id = client.upload_video(PAGE, "https://cdn.example/v.mp4", description="Desc", title="Title")
    assert video_id == "vid-1"
    assert urlsplit(rsps.calls[0].request.url).netloc == "graph-video.facebook.com"
    assert form(rsps.calls[0]) == {"file_url": "https://cdn.example/v.mp4", "description": "Desc",
                                   "title": "Title", "published": "true"}
    assert_no_token_in_urls(rsps)


def test_explicit_video_url_is_used(rsps):
    client = GraphClient(TOKEN, base_url="http://127.0.0.1:8099/v24.0/", video_url="http://127.0.0.1:8098/v24.0")
    rsps.post(f"http://127.0.0.1:8098/v24.0/{PAGE}/videos", json={"id": "vid-2"})
    assert client.upload_video(PAGE, "https://cdn.example/v.mp4") == "vid-2"


def test_reel_start_upload_status_finish(rsps, client):
    upload_url = "https://rupload.facebook.com/video-upload/v24.0/9001"
    rsps.post(f"{BASE}/{PAGE}/video_reels", json={"video_id": "9001", "upload_url": upload_url})
    rsps.post(upload_url, json={"success": True})
    rsps.get(f"{BASE}/9001", json={"id": "9001", "status": {"video_status": "ready"}})
    rsps.post(f"{BASE}/{PAGE}/video_reels", json={"success": True})  # Meta's whole answer to finish

    start = client.start_reel(PAGE)
    assert start == ReelStart(video_id="9001", upload_url=upload_url)
    client.upload_reel(start.upload_url, "https://cdn.example/r.mp4")
    assert client.video_status(start.video_id) == {"video_status": "ready"}
    client.finish_reel(PAGE, start.video_id, video_state="SCHEDULED", description="Reel!", scheduled_at=WHEN)

    start_call, upload_call, status_call, finish_call = rsps.calls
    assert form(start_call) == {"upload_phase": "start"}
    assert upload_call.request.headers["file_url"] == "https://cdn.example/r.mp4"
    assert upload_call.request.headers["Authorization"] == f"OAuth {TOKEN}"
    assert query(status_call) == {"fields": "status"}
    assert form(finish_call) == {"upload_phase": "finish", "video_id": "9001", "video_state": "SCHEDULED",
                                 "description": "Reel!", "scheduled_publish_time": str(WHEN_UNIX)}
    assert_no_token_in_urls(rsps)


def test_reel_scheduled_state_needs_a_time(client):
    with pytest.raises(ValueError):
        client.finish_reel(PAGE, "1", video_state="SCHEDULED")
    with pytest.raises(ValueError):
        client.finish_reel(PAGE, "1", video_state="PUBLISHED", scheduled_at=WHEN)


# ----------------------------------------------------------------------------- existing posts

def test_reel_finish_without_success_is_an_unknown_outcome(rsps, client):
    """Finish is the create: an answer other than {"success": true} proves nothing either way."""
    rsps.post(f"{BASE}/{PAGE}/video_reels", json={"post_id": "777"})
    with pytest.raises(Ambiguous):
        client.finish_reel(PAGE, "9001", description="Reel!")


def test_reel_upload_without_success_is_transient(rsps):
    upload_url = "https://rupload.facebook.com/video-upload/v24.0/9001"
    client = GraphClient(TOKEN, base_url=BASE)
    rsps.post(upload_url, json={"success": False})
    with pytest.raises(Transient):
        client.upload_reel(upload_url, "https://cdn.example/r.mp4")


def test_video_post_reads_the_videos_own_post_and_an_absolute_permalink(rsps, client):
    rsps.get(f"{BASE}/9001", json={"post_id": f"{PAGE}_555", "permalink_url": f"/{PAGE}/videos/9001/", "id": "9001"})
    rsps.get(f"{BASE}/9002", json={"id": "9002"})  # not made yet
    assert client.video_post("9001") == VideoPost(f"{PAGE}_555", f"https://www.facebook.com/{PAGE}/videos/9001/")
    assert client.video_post("9002") == VideoPost(None, None)
    assert query(rsps.calls[0]) == {"fields": "post_id,permalink_url"}


def test_drafts_are_unpublished_with_content_type_draft(rsps, client):
    rsps.post(f"{BASE}/{PAGE}/feed", json={"id": f"{PAGE}_1"})
    rsps.post(f"{VIDEO}/{PAGE}/videos", json={"id": "vid-1"})
    client.create_feed_post(PAGE, message="Hi", draft=True)
    client.upload_video(PAGE, "https://cdn.example/v.mp4", description="Hi", draft=True)
    for call in rsps.calls:
        assert form(call)["published"] == "false" and form(call)["unpublished_content_type"] == "DRAFT"
    with pytest.raises(ValueError):
        client.create_feed_post(PAGE, message="Hi", draft=True, scheduled_at=WHEN)


def test_reschedule_update_and_video_update_are_confirmed(rsps, client):
    post = f"{PAGE}_9"
    for _ in range(2):
        rsps.post(f"{BASE}/{post}", json={"success": True})
    rsps.post(f"{BASE}/9001", json={"success": True})
    rsps.post(f"{BASE}/{post}", json={"id": post})  # no success: not confirmed
    client.reschedule_post(post, WHEN)
    client.update_message(post, "New text")
    client.update_video("9001", description="New text", scheduled_at=WHEN, published=False)
    with pytest.raises(Transient):
        client.update_message(post, "again")
    assert [form(c) for c in rsps.calls] == [
        {"scheduled_publish_time": str(WHEN_UNIX)},
        {"message": "New text"},
        {"description": "New text", "scheduled_publish_time": str(WHEN_UNIX), "published": "false"},
        {"message": "again"},
    ]


def test_delete_true_then_already_gone_is_false(rsps, client):
    post = f"{PAGE}_9"
    rsps.delete(f"{BASE}/{post}", json={"success": True})
    rsps.delete(f"{BASE}/{post}", status=400, json={"error": {
        "message": "Unsupported delete request. Object with ID does not exist",
        "type": "GraphMethodException", "code": 100, "error_subcode": 33}})
    assert client.delete_post(post) is True
    assert client.delete_post(post) is False
    assert [c.request.method for c in rsps.calls] == ["DELETE", "DELETE"]


def test_delete_other_errors_raise(rsps, client):
    rsps.delete(f"{BASE}/{PAGE}_9", status=400, json={"error": {"code": 100, "message": "bad"}})
    with pytest.raises(InvalidRequest) as caught:
        client.delete_post(f"{PAGE}_9")
    assert not isinstance(caught.value, NotFound)


def test_list_scheduled_posts_follows_paging_without_the_token(rsps, client):
    next_url = (f"{BASE}/{PAGE}/scheduled_posts?fields=id%2Cmessage&limit=100"
                f"&access_token={TOKEN}&after=CURSOR")
    rsps.get(f"{BASE}/{PAGE}/scheduled_posts",
             json={"data": [{"id": "a", "scheduled_publish_time": WHEN_UNIX}], "paging": {"next": next_url}})
    rsps.get(f"{BASE}/{PAGE}/scheduled_posts", json={"data": [{"id": "b"}], "paging": {}})
    posts = client.list_scheduled_posts(PAGE)
    assert [p["id"] for p in posts] == ["a", "b"]
    assert query(rsps.calls[0])["fields"] == "id,message,scheduled_publish_time,created_time"
    assert query(rsps.calls[1])["after"] == "CURSOR"
    assert_no_token_in_urls(rsps)


def test_published_posts_with_engagement_paging_and_bound(rsps, client):
    def page(n):
        return {"data": [{"id": f"p{n}", "shares": {"count": n}}],
                "paging": {"next": f"{BASE}/{PAGE}/published_posts?after=C{n}&access_token={TOKEN}"}}

    for n in range(1, 3):
        rsps.get(f"{BASE}/{PAGE}/published_posts", json=page(n))
    posts = client.list_published_posts(PAGE, since=WHEN, max_pages=2)
    assert [p["id"] for p in posts] == ["p1", "p2"]
    assert len(rsps.calls) == 2  # the bound stops paging though a next page exists
    first = query(rsps.calls[0])
    assert first["fields"] == ("id,message,created_time,permalink_url,shares,"
                               "reactions.summary(true).limit(0),comments.summary(true).limit(0)")
    assert first["limit"] == "50"  # PUBLISHED_PAGE_SIZE
    assert first["since"] == str(WHEN_UNIX)
    assert query(rsps.calls[1])["after"] == "C1"
    assert_no_token_in_urls(rsps)


def test_paging_stops_on_empty_page(rsps, client):
    rsps.get(f"{BASE}/{PAGE}/published_posts",
             json={"data": [], "paging": {"next": f"{BASE}/{PAGE}/published_posts?after=X"}})
    assert client.list_published_posts(PAGE) == []
    assert len(rsps.calls) == 1


# ----------------------------------------------------------------------------- insights

def _series(name, *days):
    return {"name": name, "period": "day", "title": "T", "description": "D",
            "values": [{"value": v, "end_time": f"{d}T08:00:00+0000"} for d, v in days]}


def test_page_insights_one_request_per_range_with_all_metrics(rsps, client):
    url = f"{BASE}/{PAGE}/insights"
    in_range_next = f"{url}?metric=page_media_view%2Cpage_follows&since=1706745600&until=1711843200&access_token={TOKEN}"
    past_end_next = f"{url}?metric=page_media_view%2Cpage_follows&since=1714521600&until=1717200000"
    rsps.get(url, json={"data": [_series("page_media_view", ("2024-01-02", 5)), _series("page_follows", ("2024-01-02", 1))],
                        "paging": {"next": in_range_next}})
    rsps.get(url, json={"data": [_series("page_media_view", ("2024-02-01", 6), ("2024-01-02", 5))],
                        "paging": {"next": f"{url}?since=1711843200&until=1714521600"}})  # == range end: stop
    rsps.get(url, json={"data": [_series("page_media_view", ("2024-04-01", 7))], "paging": {"next": past_end_next}})

    result = client.page_insights(PAGE, ["page_media_view", "page_follows"],
                                  since=date(2024, 1, 1), until=date(2024, 5, 1))

    first, second, third = (query(c) for c in rsps.calls)
    assert first == {"metric": "page_media_view,page_follows", "period": "day",
                     "since": "2024-01-01", "until": "2024-03-31"}  # 90 days
    assert second["since"] == "1706745600"  # the followed paging.next
    assert third == {"metric": "page_media_view,page_follows", "period": "day",
                     "since": "2024-03-31", "until": "2024-05-01"}
    views = result["page_media_view"]
    assert isinstance(views, InsightSeries)
    assert [v["value"] for v in views.values] == [5, 6, 7]  # merged, de-duplicated, in order
    assert [v["value"] for v in result["page_follows"].values] == [1]
    assert_no_token_in_urls(rsps)


def test_post_insights(rsps, client):
    rsps.get(f"{BASE}/{PAGE}_9/insights", json={"data": [
        {"name": "post_media_view", "period": "lifetime", "values": [{"value": 42}]},
        {"name": "post_clicks", "period": "lifetime", "values": [{"value": 3}]}]})
    result = client.post_insights(f"{PAGE}_9", ["post_media_view", "post_clicks"])
    assert query(rsps.calls[0]) == {"metric": "post_media_view,post_clicks"}
    assert result["post_media_view"].values == [{"value": 42}]
    assert result["post_clicks"].period == "lifetime"


# ----------------------------------------------------------------------------- Pages

def test_managed_pages_are_typed_and_paged(rsps, client):
    rsps.get(f"{BASE}/me/accounts", json={
        "data": [{"id": "1", "name": "One", "access_token": "EAApagetokenONE1234567890abc", "tasks": ["CREATE_CONTENT"]}],
        "paging": {"next": f"{BASE}/me/accounts?after=Z&access_token={TOKEN}"}})
    rsps.get(f"{BASE}/me/accounts", json={"data": [{"id": "2", "name": "Two", "access_token": "EAApagetokenTWO1234567890abc"}]})
    pages = client.list_managed_pages()
    assert pages == [
        ManagedPage("1", "One", "EAApagetokenONE1234567890abc", ("CREATE_CONTENT",)),
        ManagedPage("2", "Two", "EAApagetokenTWO1234567890abc", ()),
    ]
    assert "EAApagetoken" not in repr(pages)
    assert query(rsps.calls[0]) == {"fields": "id,name,access_token,tasks", "limit": "100"}
    assert_no_token_in_urls(rsps)


def test_verify_page(rsps, client):
    rsps.get(f"{BASE}/{PAGE}", json={"id": PAGE, "name": "My Page"})
    assert client.verify_page(PAGE) == PageInfo(PAGE, "My Page")
    assert query(rsps.calls[0]) == {"fields": "id,name"}


@pytest.mark.parametrize("status", [400, 200])
def test_verify_page_raises_on_error_body(rsps, client, status):
    rsps.get(f"{BASE}/{PAGE}", status=status, json={"error": {"code": 100}})
    with pytest.raises(InvalidRequest):
        client.verify_page(PAGE)


# ----------------------------------------------------------------------------- errors through the client

def test_5xx_without_body_read_is_transient_create_is_ambiguous(rsps, client):
    rsps.get(f"{BASE}/{PAGE}", status=502, body="<html>Bad Gateway</html>")
    rsps.post(f"{BASE}/{PAGE}/feed", status=503, body="")
    with pytest.raises(Transient):
        client.verify_page(PAGE)
    with pytest.raises(Ambiguous):
        client.create_feed_post(PAGE, message="x")


def test_code_2_on_a_create_is_ambiguous(rsps, client):
    rsps.post(f"{BASE}/{PAGE}/feed", status=500, json={"error": {"code": 2, "is_transient": True, "message": "x"}})
    with pytest.raises(Ambiguous):
        client.create_feed_post(PAGE, message="x")


def test_read_timeout_on_write_is_ambiguous_connect_error_is_transient(rsps, client):
    rsps.post(f"{BASE}/{PAGE}/feed", body=requests.exceptions.ReadTimeout("read timed out"))
    rsps.post(f"{BASE}/{PAGE}/feed", body=requests.exceptions.ConnectTimeout("connect timed out"))
    rsps.get(f"{BASE}/{PAGE}", body=requests.exceptions.ReadTimeout("read timed out"))
    with pytest.raises(Ambiguous) as ambiguous:
        client.create_feed_post(PAGE, message="x")
    with pytest.raises(Transient):
        client.create_feed_post(PAGE, message="x")
    with pytest.raises(Transient):
        client.verify_page(PAGE)
    assert ambiguous.value.__context__ is None  # the request (with its auth header) is not chained
    assert client.calls == 3


@freeze_time("2027-01-15 08:00:00", tz_offset=0)
def test_rate_limit_gets_retry_at_from_buc_header(rsps, client):
    buc = {PAGE: [{"type": "pages", "call_count": 100, "total_cputime": 10, "total_time": 10,
                   "estimated_time_to_regain_access": 30}]}
    rsps.post(f"{BASE}/{PAGE}/feed", status=400, headers={"X-Business-Use-Case-Usage": json.dumps(buc)},
              json={"error": {"code": 80001, "type": "OAuthException", "message": "(#80001) too many calls"}})
    with pytest.raises(RateLimited) as caught:
        client.create_feed_post(PAGE, message="x")
    assert caught.value.scope == "page"
    assert caught.value.retry_at == pytest.approx(time.time() + 1800)
    assert client.last_usage.business[PAGE][0]["call_count"] == 100


def test_error_echoing_the_token_is_scrubbed(rsps, client):
    rsps.get(f"{BASE}/{PAGE}", status=400, json={"error": {
        "code": 190, "error_subcode": 463, "type": "OAuthException",
        "message": f"Session has expired for token {TOKEN}"}})
    with pytest.raises(AuthError) as caught:
        client.verify_page(PAGE)
    error = caught.value
    for text in (str(error), repr(error), pickle.dumps(error).decode("latin-1")):
        assert TOKEN not in text
    assert "expired" in error.hint


# ----------------------------------------------------------------------------- usage, secrets, hooks

def test_usage_headers_parsed_and_missing_means_unknown(rsps, client):
    rsps.get(f"{BASE}/{PAGE}", json={"id": PAGE, "name": "n"},
             headers={"X-App-Usage": '{"call_count": 28, "total_time": 25, "total_cputime": 25}',
                      "X-Page-Usage": '{"call_count": 99, "total_time": 1, "total_cputime": 1}'})
    rsps.get(f"{BASE}/{PAGE}", json={"id": PAGE, "name": "n"})
    assert client.last_usage is None
    client.verify_page(PAGE)
    assert client.last_usage.app["call_count"] == 28
    assert client.last_usage.max_percent() == 99.0
    client.verify_page(PAGE)
    assert client.last_usage.app is None and client.last_usage.page is None
    assert client.last_usage.max_percent() is None


def test_repr_hides_the_token():
    client = GraphClient(TOKEN, base_url=BASE, app_secret=APP_SECRET)
    assert TOKEN not in repr(client)
    assert APP_SECRET not in repr(client)
    assert client.token_key == hashlib.sha256(TOKEN.encode()).hexdigest()[:16]


def test_appsecret_proof_on_every_call(rsps):
    client = GraphClient(TOKEN, base_url=BASE, app_secret=APP_SECRET)
    proof = hmac.new(APP_SECRET.encode(), TOKEN.encode(), hashlib.sha256).hexdigest()
    rsps.get(f"{BASE}/{PAGE}/scheduled_posts", json={"data": [{"id": "a"}],
             "paging": {"next": f"{BASE}/{PAGE}/scheduled_posts?after=C&appsecret_proof=stale&access_token={TOKEN}"}})
    rsps.get(f"{BASE}/{PAGE}/scheduled_posts", json={"data": []})
    rsps.post(f"{BASE}/{PAGE}/feed", json={"id": "x"})
    rsps.delete(f"{BASE}/x", json={"success": True})
    client.list_scheduled_posts(PAGE)
    client.create_feed_post(PAGE, message="m")
    client.delete_post("x")
    get1, get2, post, delete = rsps.calls
    assert query(get1)["appsecret_proof"] == proof
    assert parse_qs(urlsplit(get2.request.url).query)["appsecret_proof"] == [proof]  # stale one replaced
    assert form(post)["appsecret_proof"] == proof
    assert "appsecret_proof" not in urlsplit(post.request.url).query
    assert query(delete)["appsecret_proof"] == proof
    assert_no_token_in_urls(rsps)


def test_no_appsecret_proof_without_app_secret(rsps, client):
    rsps.get(f"{BASE}/{PAGE}", json={"id": PAGE, "name": "n"})
    client.verify_page(PAGE)
    assert "appsecret_proof" not in rsps.calls[0].request.url


class RecordingHooks:
    def __init__(self, refuse: bool = False, fail_after: bool = False) -> None:
        self.refuse = refuse
        self.fail_after = fail_after
        self.events: list[tuple] = []

    def before_call(self, call: CallInfo) -> None:
        self.events.append(("before", call))
        if self.refuse:
            raise BudgetExhausted("budget spent", retry_at=123.0)

    def after_call(self, call: CallInfo, usage: Usage, error) -> None:
        self.events.append(("after", call, usage, error))
        if self.fail_after:
            raise RuntimeError("redis down")


def test_hooks_called_before_and_after(rsps):
    hooks = RecordingHooks()
    client = GraphClient(TOKEN, base_url=BASE, hooks=hooks, scope_id=PAGE)
    rsps.post(f"{BASE}/{PAGE}/feed", json={"id": "1"}, headers={"X-App-Usage": '{"call_count": 3}'})
    rsps.get(f"{BASE}/{PAGE}", status=400, json={"error": {"code": 10, "message": "no"}})
    client.create_feed_post(PAGE, message="m")
    with pytest.raises(PermissionDenied):
        client.verify_page(PAGE)

    expected_call = CallInfo("POST", f"/{PAGE}/feed", True, client.token_key, PAGE)
    assert hooks.events[0] == ("before", expected_call)
    assert hooks.events[1][:2] == ("after", expected_call)
    assert hooks.events[1][2].app == {"call_count": 3}
    assert hooks.events[1][3] is None
    kind, read_call, _usage, error = hooks.events[3]
    assert kind == "after" and read_call.is_write is False and read_call.method == "GET"
    assert error.code == 10
    assert TOKEN not in repr(hooks.events)


def test_after_hook_sees_network_errors(rsps):
    hooks = RecordingHooks()
    client = GraphClient(TOKEN, base_url=BASE, hooks=hooks)
    rsps.post(f"{BASE}/{PAGE}/feed", body=requests.exceptions.ReadTimeout("read timed out"))
    with pytest.raises(Ambiguous) as caught:
        client.create_feed_post(PAGE, message="m")
    kind, _call, usage, error = hooks.events[-1]
    assert kind == "after" and error is caught.value
    assert usage.is_empty  # nothing is known about usage when no response came back


def test_hook_refusal_sends_nothing(rsps):
    hooks = RecordingHooks(refuse=True)
    client = GraphClient(TOKEN, base_url=BASE, hooks=hooks)
    with pytest.raises(BudgetExhausted) as caught:
        client.create_feed_post(PAGE, message="m")
    assert caught.value.scope == "budget"
    assert len(rsps.calls) == 0
    assert client.calls == 0
    assert [e[0] for e in hooks.events] == ["before"]


def test_failing_after_hook_does_not_lose_the_created_id(rsps):
    client = GraphClient(TOKEN, base_url=BASE, hooks=RecordingHooks(fail_after=True))
    rsps.post(f"{BASE}/{PAGE}/feed", json={"id": f"{PAGE}_1"})
    assert client.create_feed_post(PAGE, message="m") == f"{PAGE}_1"


def test_paths_join_with_loopback_base_and_trailing_slash(rsps):
    client = GraphClient(TOKEN, base_url="http://127.0.0.1:8099/v24.0/")
    rsps.get(f"http://127.0.0.1:8099/v24.0/{PAGE}", json={"id": PAGE, "name": "n"})
    rsps.post(f"http://127.0.0.1:8099/v24.0/{PAGE}/videos", json={"id": "v"})  # sandbox serves video too
    client.verify_page(PAGE)
    client.upload_video(PAGE, "https://cdn.example/v.mp4")
    assert [path(c) for c in rsps.calls] == [f"/v24.0/{PAGE}", f"/v24.0/{PAGE}/videos"]


def test_timeouts_are_connect_and_read(rsps):
    seen = {}

    class Spy(requests.Session):
        def request(self, *args, **kwargs):
            seen["timeout"] = kwargs["timeout"]
            return super().request(*args, **kwargs)

    client = GraphClient(TOKEN, base_url=BASE, session=Spy(), connect_timeout=2.0, read_timeout=9.0)
    rsps.get(f"{BASE}/{PAGE}", json={"id": PAGE, "name": "n"})
    client.verify_page(PAGE)
    assert seen["timeout"] == (2.0, 9.0)
