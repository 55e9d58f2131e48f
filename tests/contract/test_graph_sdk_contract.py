"""Every request the Graph client can build, checked against Meta's own SDK (``facebook-business``).

How: each :class:`Case` calls one public ``GraphClient`` method the way socialcal calls it (every
content type and mode the client offers, every listing, connect, insights and post metrics), with
``responses`` capturing the real HTTP requests. Each captured request is then matched against the
SDK's generated definitions (:mod:`tests.contract.sdk_oracle`): the node the id stands for must
define that HTTP method on that edge, and every parameter name must be in that operation's
``param_types`` (or be one of the few listed exceptions, each with its source), every ``fields``
name a field or edge of the answer's class.

Known defects (:data:`KNOWN_DEFECTS`) are asserted to *violate* the contract: when the publishing
change (branch issue-11: no ``promotable_posts``, Video-node parameters for videos) lands, those
cases stop violating, this test fails, and the entry must be removed — the same effect as a strict
xfail, without a test reported as skipped (CI fails any run with a skip, and JUnit counts an xfail
as one).

A new public ``GraphClient`` method fails :func:`test_every_public_client_method_is_enumerated`
until a case here covers it.
"""

from __future__ import annotations

import inspect
import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any, Iterator, Mapping

import pytest
import responses

from graph.client import RECONCILE_POST_FIELDS, GraphClient
from graph.sandbox.router import API_VERSION as SANDBOX_API_VERSION
from tasks.domain.page_insights import DEFAULT_METRICS
from tasks.domain.post_metrics import MEDIA_VIEW_METRIC, POST_FIELDS
from tests.contract.sdk_oracle import (
    EXCEPTIONS,
    SDK_API_VERSION,
    Sent,
    catalogue,
    check_fields,
    check_request,
    describe_all,
)
from worker.core.settings import DEFAULT_GRAPH_VERSION

TOKEN = "EAAContractTestToken0123456789"
APP_SECRET = "contract-app-secret"
PAGE = "111111111111111"
POST = f"{PAGE}_222222222222222"
VIDEO = "333333333333333"  # a video or a Reel: both are Video nodes (SDK AdVideo)
PHOTO = "444444444444444"
BASE = f"https://graph.facebook.com/{DEFAULT_GRAPH_VERSION}"
UPLOAD_URL = f"https://rupload.facebook.com/video-upload/{DEFAULT_GRAPH_VERSION}/{VIDEO}"
WHEN = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
NODE_OF = {PAGE: "Page", POST: "PagePost", VIDEO: "AdVideo", PHOTO: "Photo", "me": "User"}
# GraphClient members that send nothing.
NOT_REQUESTS = frozenset({"close"})


@dataclass(frozen=True)
class Case:
    """One way socialcal calls one client method: ``getattr(client, method)(*args, **kwargs)``."""

    id: str
    method: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)


CASES: tuple[Case, ...] = (
    # -- text, link, photo and album posts on /feed: live (published), draft (DRAFT), scheduled
    Case("feed-text-live", "create_feed_post", (PAGE,), {"message": "Hello"}),
    Case("feed-text-draft", "create_feed_post", (PAGE,), {"message": "Hello", "draft": True}),
    Case("feed-text-unpublished", "create_feed_post", (PAGE,), {"message": "Hello", "published": False}),
    Case("feed-text-scheduled", "create_feed_post", (PAGE,), {"message": "Hello", "scheduled_at": WHEN}),
    Case("feed-link-live", "create_feed_post", (PAGE,), {"message": "Read", "link": "https://example.com/a"}),
    Case("feed-link-draft", "create_feed_post", (PAGE,),
         {"message": "Read", "link": "https://example.com/a", "draft": True}),
    Case("feed-link-scheduled", "create_feed_post", (PAGE,),
         {"message": "Read", "link": "https://example.com/a", "published": False, "scheduled_at": WHEN}),
    Case("feed-album-live", "create_feed_post", (PAGE,), {"message": "Album", "attached_media": [PHOTO, PHOTO]}),
    Case("feed-album-draft", "create_feed_post", (PAGE,),
         {"message": "Album", "draft": True, "attached_media": [PHOTO, PHOTO]}),
    Case("feed-photo-draft", "create_feed_post", (PAGE,),  # a single-photo draft: one attached photo
         {"message": "Photo", "draft": True, "attached_media": [PHOTO]}),
    Case("feed-album-scheduled", "create_feed_post", (PAGE,),
         {"message": "Album", "published": False, "scheduled_at": WHEN, "attached_media": [PHOTO]}),
    # -- photos: a single photo post, album parts (unpublished, temporary when scheduled), a scheduled photo
    Case("photo-live", "upload_photo", (PAGE, "https://example.com/p.jpg"),
         {"caption": "Look", "alt_text": "A cat"}),
    Case("photo-album-part", "upload_photo", (PAGE, "https://example.com/p.jpg"),
         {"alt_text": "A cat", "published": False}),
    Case("photo-album-part-scheduled", "upload_photo", (PAGE, "https://example.com/p.jpg"),
         {"published": False, "temporary": True}),
    Case("photo-scheduled", "upload_photo", (PAGE, "https://example.com/p.jpg"),
         {"caption": "Look", "published": False, "scheduled_at": WHEN}),
    Case("photo-post-id", "photo_post_id", (PHOTO,)),
    # -- videos on the video host, then the video's own Page post read from the Video node
    Case("video-live", "upload_video", (PAGE, "https://example.com/v.mp4"), {"description": "Watch", "title": "T"}),
    Case("video-draft", "upload_video", (PAGE, "https://example.com/v.mp4"), {"description": "Watch", "draft": True}),
    Case("video-unpublished", "upload_video", (PAGE, "https://example.com/v.mp4"),
         {"description": "Watch", "published": False}),
    Case("video-scheduled", "upload_video", (PAGE, "https://example.com/v.mp4"),
         {"description": "Watch", "scheduled_at": WHEN}),
    Case("video-status", "video_status", (VIDEO,)),
    Case("video-post", "video_post", (VIDEO,)),
    # -- Reels: start, upload (rupload host), finish in each state
    Case("reel-start", "start_reel", (PAGE,)),
    Case("reel-upload", "upload_reel", (UPLOAD_URL, "https://example.com/r.mp4")),
    Case("reel-finish-published", "finish_reel", (PAGE, VIDEO), {"description": "Reel"}),
    Case("reel-finish-scheduled", "finish_reel", (PAGE, VIDEO),
         {"video_state": "SCHEDULED", "description": "Reel", "scheduled_at": WHEN}),
    Case("reel-finish-draft", "finish_reel", (PAGE, VIDEO), {"video_state": "DRAFT", "description": "Reel"}),
    # -- existing posts: Page posts (text, link, photo, album) by their post id; videos and Reels on the Video node
    Case("reschedule-post", "reschedule_post", (POST, WHEN)),
    Case("edit-post", "update_message", (POST, "New text")),
    Case("reschedule-video", "update_video", (VIDEO,), {"scheduled_at": WHEN}),
    Case("edit-video", "update_video", (VIDEO,), {"description": "New text"}),
    Case("publish-video", "update_video", (VIDEO,), {"published": True}),
    Case("delete-post", "delete_post", (POST,)),
    Case("delete-video", "delete_post", (VIDEO,)),
    Case("delete-photo", "delete_post", (PHOTO,)),
    # -- listings (reconciliation, post metrics)
    Case("list-scheduled", "list_scheduled_posts", (PAGE,)),
    Case("list-published", "list_published_posts", (PAGE,), {"since": WHEN}),
    Case("list-published-reconcile", "list_published_posts", (PAGE,),
         {"since": WHEN, "max_pages": 5, "fields": RECONCILE_POST_FIELDS}),
    Case("list-videos", "list_videos", (PAGE,), {"since": WHEN}),
    Case("post-metrics-listing", "iter_published_posts", (PAGE,), {"fields": POST_FIELDS, "since": WHEN}),
    # -- insights
    Case("page-insights", "page_insights", (PAGE, list(DEFAULT_METRICS)),
         {"since": date(2030, 1, 1), "until": date(2030, 1, 10)}),
    Case("post-insights", "post_insights", (POST, [MEDIA_VIEW_METRIC])),
    Case("post-insights-period", "post_insights", (POST, [MEDIA_VIEW_METRIC]), {"period": "lifetime"}),
    # -- connect
    Case("connect-managed-pages", "list_managed_pages"),
    Case("connect-verify-page", "verify_page", (PAGE,)),
)

# Case id -> (the violation it must show, why it is known). Remove the entry when the fix lands.
KNOWN_DEFECTS: dict[str, tuple[str, str]] = {}


def _answer(request: Any) -> tuple[int, dict[str, str], str]:
    """A plausible Graph answer for any request, so every client method runs to its end."""
    path = request.path_url.split("?")[0]
    method = request.method
    body: Any
    if "rupload" in request.url or (method == "POST" and "upload_phase=finish" in str(request.body or "")):
        body = {"success": True}
    elif method == "POST" and path.endswith("/video_reels"):
        body = {"video_id": VIDEO, "upload_url": UPLOAD_URL}
    elif method == "POST" and path.endswith("/feed"):
        body = {"id": POST}
    elif method == "POST" and path.endswith("/photos"):
        body = {"id": PHOTO, "post_id": POST}
    elif method == "GET" and "fields=post_id" in request.url:
        body = {"post_id": POST, "permalink_url": f"/{PAGE}/videos/{VIDEO}/"}
    elif method == "GET" and "fields=page_story_id" in request.url:
        body = {"page_story_id": POST}
    elif method == "POST" and path.endswith("/videos"):
        body = {"id": VIDEO}
    elif method in ("POST", "DELETE"):
        body = {"success": True}
    elif path.endswith("/insights"):
        body = {"data": [{"name": MEDIA_VIEW_METRIC, "period": "day",
                          "values": [{"value": 1, "end_time": "2030-01-02T08:00:00+0000"}]}]}
    elif re.search(r"/(accounts|scheduled_posts|published_posts|videos)$", path):
        body = {"data": [{"id": POST, "name": "Page", "access_token": "EAAPageTokenFromAccounts42", "tasks": []}]}
    else:
        body = {"id": PAGE, "name": "Page", "status": {"video_status": "ready"}}
    return 200, {"Content-Type": "application/json"}, json.dumps(body)


def sent_by(case: Case) -> list[Sent]:
    """Run ``case`` against mocked HTTP and return every request it sent, as sent."""
    client = GraphClient(TOKEN, base_url=BASE, app_secret=APP_SECRET, scope_id=PAGE)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        for verb in ("GET", "POST", "DELETE"):
            mock.add_callback(verb, re.compile(r"https://.*"), callback=_answer)
        result = getattr(client, case.method)(*case.args, **dict(case.kwargs))
        if isinstance(result, Iterator):
            list(result)
        requests_sent = [Sent.from_prepared(call.request) for call in mock.calls]
    assert requests_sent, f"{case.id}: the client sent nothing"
    return requests_sent


def violations(case: Case) -> list[str]:
    found: list[str] = []
    for sent in sent_by(case):
        problems, _call = check_request(sent, NODE_OF)
        found += problems
    return found


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_request_conforms_to_the_sdk(case: Case) -> None:
    found = violations(case)
    if case.id in KNOWN_DEFECTS:
        expected, why = KNOWN_DEFECTS[case.id]
        assert any(expected in problem for problem in found), (
            f"{case.id} no longer shows its known defect ({why}): remove it from KNOWN_DEFECTS.\n"
            f"Violations now:\n{describe_all(found) or '  (none)'}")
        return
    assert not found, f"{case.id} sends what facebook-business {SDK_API_VERSION} does not define:\n" \
                      f"{describe_all(found)}"


@pytest.mark.parametrize("method, args", [
    ("update_message", (PHOTO, "New text")), ("reschedule_post", (PHOTO, WHEN)),
    ("update_message", (VIDEO, "New text")), ("reschedule_post", (VIDEO, WHEN)),
])
def test_page_post_updates_never_go_to_a_photo_or_video_id(method: str, args: tuple[Any, ...]) -> None:
    """The Photo node cannot be updated (SDK photo.py has no api_update) and the Video node refuses
    ``message``/``is_published`` (AdVideo.api_update): the client refuses before sending anything."""
    with pytest.raises(ValueError, match="not a Page post id"):
        sent_by(Case("refused", method, args))


def test_every_public_client_method_is_enumerated() -> None:
    public = {name for name, _ in inspect.getmembers(GraphClient, inspect.isfunction) if not name.startswith("_")}
    covered = {case.method for case in CASES}
    missing = public - covered - NOT_REQUESTS
    assert not missing, f"GraphClient methods without a contract case (add them to CASES): {sorted(missing)}"
    assert not covered - public, f"cases name methods GraphClient no longer has: {sorted(covered - public)}"
    assert not set(KNOWN_DEFECTS) - {c.id for c in CASES}, "KNOWN_DEFECTS names a case that does not exist"


def test_sdk_speaks_the_graph_version_socialcal_calls() -> None:
    """The oracle is only as good as its version: bump the pin with DEFAULT_GRAPH_VERSION."""
    assert SDK_API_VERSION == DEFAULT_GRAPH_VERSION == SANDBOX_API_VERSION


def test_every_exception_names_its_source() -> None:
    assert all(re.search(r"developers\.facebook\.com|facebook_business/", source) for source in EXCEPTIONS.values())


# ----------------------------------------------------------------------------- the oracle itself


def test_catalogue_holds_the_edges_socialcal_needs() -> None:
    page = {(c.http_method, c.edge) for c in catalogue("Page")}
    assert {("POST", "feed"), ("POST", "photos"), ("POST", "videos"), ("POST", "video_reels"),
            ("GET", "scheduled_posts"), ("GET", "published_posts"), ("GET", "insights"), ("GET", "")} <= page
    assert ("GET", "promotable_posts") not in page
    video_update = next(c for c in catalogue("AdVideo") if c.sdk_method == "api_update")
    assert {"published", "description", "scheduled_publish_time"} <= set(video_update.param_types)
    assert not {"is_published", "message"} & set(video_update.param_types)


def _sent(method: str, url: str, **params: str) -> Sent:
    return Sent(method, url, {"Authorization": "OAuth x"}, params)


@pytest.mark.parametrize("sent, expected", [
    (_sent("POST", f"{BASE}/{PAGE}/feed", messsage="typo"), "'messsage' is not a parameter of Page.create_feed"),
    (_sent("GET", f"{BASE}/{PAGE}/promotable_posts"), "Page defines no GET /promotable_posts"),
    (_sent("GET", f"{BASE}/{PAGE}/scheduled_posts", fields="id,mesage"), "PagePost has no field or edge 'mesage'"),
    (_sent("GET", f"{BASE}/{PAGE}/published_posts", fields="insights.metrik(x)"), "insights.metrik"),
    (_sent("GET", f"{BASE}/{PAGE}/published_posts", fields="message.limit(1)"), "not an edge"),
    (_sent("POST", f"{BASE}/{PAGE}/feed", limit="5"), "'limit' is not a parameter"),
    (_sent("POST", f"{BASE}/{PAGE}/feed", **{"message[0]": "x"}), "is indexed but message is string"),
    (_sent("POST", f"https://graph-video.facebook.com/{DEFAULT_GRAPH_VERSION}/{PAGE}/feed", message="x"),
     "expected graph.facebook.com"),
    (_sent("GET", f"https://graph.facebook.com/v2.0/{PAGE}"), "not under"),
    (_sent("GET", f"{BASE}/{PAGE}", access_token="x"), "access_token travels"),
    (_sent("POST", f"{BASE}/{VIDEO}", is_published="true"), "'is_published' is not a parameter of AdVideo"),
    (_sent("POST", UPLOAD_URL, file_url="https://x"), "needs the file_url header"),
])
def test_oracle_refuses_what_the_sdk_does_not_define(sent: Sent, expected: str) -> None:
    problems, _ = check_request(sent, NODE_OF)
    assert any(expected in p for p in problems), describe_all(problems)


def test_oracle_accepts_field_expansion_on_edges() -> None:
    from facebook_business.adobjects.pagepost import PagePost

    assert check_fields(POST_FIELDS, PagePost, "x") == []
    assert check_fields("comments.limit(0){message,from}", PagePost, "x") == []
    assert check_fields("comments{nope}", PagePost, "x") == ["x: Comment has no field or edge 'nope'"]




# ----------------------------------------------------------------------------- token lifecycle (graph.tokens)

# TokenClient's own requests. Only /me is a node the SDK defines; /oauth/access_token and /debug_token are
# OAuth endpoints outside its generated definitions (developers.facebook.com/docs/facebook-login/guides/
# access-tokens/get-long-lived, developers.facebook.com/docs/graph-api/reference/debug_token), checked for
# their documented parameter names here instead.
TOKEN_CASES: dict[str, tuple[tuple[Any, ...], Mapping[str, Any]]] = {
    "me_id": ((), {}),
    "exchange_for_long_lived": ((), {"app_id": "1", "app_secret": APP_SECRET, "short_lived": "EAAShort"}),
    "debug": (("EAAInput",), {}),
}
OAUTH_PARAMS = {"/oauth/access_token": {"grant_type", "client_id", "client_secret", "fb_exchange_token"},
                "/debug_token": {"input_token"}}


def test_token_client_requests_conform() -> None:
    from graph.tokens import TokenClient

    own = {name for name, member in vars(TokenClient).items() if inspect.isfunction(member) and not name.startswith("_")}
    assert own == set(TOKEN_CASES), f"TokenClient methods without a contract case: {sorted(own - set(TOKEN_CASES))}"
    for method, (args, kwargs) in TOKEN_CASES.items():
        client = TokenClient(TOKEN, base_url=BASE, scope_id=PAGE)
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            for verb in ("GET", "POST"):
                mock.add_callback(verb, re.compile(r"https://.*"), callback=lambda request: (
                    200, {"Content-Type": "application/json"},
                    json.dumps({"id": PAGE, "access_token": "EAALong", "data": {"is_valid": True}})))
            getattr(client, method)(*args, **kwargs)
            [call] = mock.calls
        sent = Sent.from_prepared(call.request)
        path = call.request.path_url.split("?")[0].removeprefix(f"/{DEFAULT_GRAPH_VERSION}")
        if path in OAUTH_PARAMS:
            assert call.request.method == "POST" and "?" not in call.request.url, "secrets belong in the body"
            sent_names = set(json.loads(json.dumps(dict(p.split("=", 1) for p in (call.request.body or "").split("&")))))
            assert sent_names == OAUTH_PARAMS[path], (method, sent_names)
        else:
            problems, _ = check_request(sent, NODE_OF)
            assert not problems, describe_all(problems)
