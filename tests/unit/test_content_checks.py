"""Content validation's whole answer for each kind of bad writer output: the stored post (what is kept,
escaped or dropped) and every reason, word for word (a person reads them to fix the copy). Written
against the mutants a mutation run of tasks/domain/content.py left alive (bench/mutation.py)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tasks.domain.content import MAX_MESSAGE_CHARS, CheckedContent, check_content, parse_time

HTTPS = "https://e.com/a.jpg"
NUL = ("has U+0000 (NUL) at character 16: Facebook cannot take it, and socialcal never changes a person's copy; "
       "send the text without it")
EMPTY = "the post is empty: it needs a message, a link or media"


def image(**item):
    return {"url": HTTPS, "type": "image", **item}


@pytest.mark.parametrize(("payload", "expected"), [
    ({"message": 123}, CheckedContent("text", None, None, [], ["message must be text, got number", EMPTY])),
    ({"message": "   "}, CheckedContent("text", None, None, [], [EMPTY])),
    ({"message": "x" * MAX_MESSAGE_CHARS}, CheckedContent("text", "x" * MAX_MESSAGE_CHARS, None, [], [])),
    ({"message": "hi", "link": "http://e.com"},
     CheckedContent("link", "hi", "http://e.com", [], ["link must be an https:// URL"])),
    ({"link": 5}, CheckedContent("link", None, None, [], ["link must be an https:// URL"])),
    ({"message": "hi", "link": "https://e.com/a\x00b"},
     CheckedContent("link", "hi", "https://e.com/a\\u0000b", [], [f"link {NUL}"])),
    ({"message": "hi", "media": "nope"},
     CheckedContent("text", "hi", None, [], ["media must be a list of {url, type, alt_text} objects"])),
    ({"message": "hi", "media": [1, image(), 2]},
     CheckedContent("photo", "hi", None, [image(alt_text=None)], ["media #1 is not an object",
                                                                  "media #3 is not an object"])),
    ({"message": "hi", "media": [image(url="https://e.com/a\x00.jpg")]},
     CheckedContent("photo", "hi", None, [image(url="https://e.com/a\\u0000.jpg", alt_text=None)],
                    [f"media #1 URL {NUL}"])),
    ({"message": "hi", "media": [image(url=5)]},
     CheckedContent("photo", "hi", None, [image(url=None, alt_text=None)],
                    ["media #1 URL must be https:// (Facebook fetches it from the public web)"])),
    ({"message": "hi", "media": [image(type={"a": {"b": {"c": 1}}})]},
     CheckedContent("text", "hi", None,
                    [image(type={"a": {"b": "[object nested deeper than 2 levels, not kept]"}}, alt_text=None)],
                    ["media #1 type must be 'image' or 'video', got {'a': {'b': {'c': 1}}}"])),
    ({"message": "hi", "media": [image(alt_text=5)]},
     CheckedContent("photo", "hi", None, [image(alt_text=None)], ["media #1 alt_text must be text, got number"])),
    ({"message": "hi", "media": [image(alt_text="a cat")]},
     CheckedContent("photo", "hi", None, [image(alt_text="a cat")], [])),
    ({"message": "hi", "media": [image(), {"url": "https://e.com/a.mp4", "type": "video"}]},
     CheckedContent(None, "hi", None, [image(alt_text=None), {"url": "https://e.com/a.mp4", "type": "video",
                                                              "alt_text": None}],
                    ["images and videos cannot be mixed in one Facebook post"])),
], ids=lambda value: str(value)[:40] if isinstance(value, dict) else "")
def test_check_content_answers_with_the_stored_post_and_every_reason(payload, expected):
    assert check_content(payload) == expected


def test_a_long_type_is_kept_cut_to_a_hundred_characters():
    checked = check_content({"message": "hi", "media": [image(type="x" * 300)]})
    assert checked.media[0]["type"] == "x" * 100 + "...[cut: 300 characters in all]"


def test_the_message_limit_is_facebooks_exactly():
    assert check_content({"message": "x" * (MAX_MESSAGE_CHARS + 1)}).reasons == [
        "message is 63,207 characters; Facebook allows at most 63,206"]


@pytest.mark.parametrize(("value", "expected"), [
    (5, (None, "scheduled_at must be an ISO 8601 time, got number")),
    ("nope", (None, "scheduled_at is not an ISO 8601 time: 'nope'")),
    ("2026-01-01T10:00:00", (None, "scheduled_at needs a UTC offset (e.g. 2026-12-01T10:00:00+01:00)")),
    ("2026-01-01T10:00:00Z", (datetime(2026, 1, 1, 10, tzinfo=timezone.utc), None)),
    ("2026-01-01T10:00:00+02:00", (datetime(2026, 1, 1, 8, tzinfo=timezone.utc), None)),
    ("0001-01-01T00:00:00+01:00",
     (None, "scheduled_at is outside the years a calendar can hold: '0001-01-01T00:00:00+01:00'")),
])
def test_parse_time_answers(value, expected):
    parsed, reason = parse_time(value, "scheduled_at")
    assert (parsed, reason) == expected
    if parsed is not None:
        assert parsed.utcoffset().total_seconds() == 0 and parsed.tzinfo is timezone.utc


# ----------------------------------------------------------------------------- the hashes approval is bound to


def test_canonical_json_is_sorted_compact_and_keeps_unicode():
    from tasks.domain.content import canonical_json

    assert canonical_json({"b": 1, "a": "é", "c": [1, {"y": 2, "x": 3}]}) == '{"a":"é","b":1,"c":[1,{"x":3,"y":2}]}'
    assert canonical_json({"when": datetime(2026, 1, 1, tzinfo=timezone.utc)}) == '{"when":"2026-01-01 00:00:00+00:00"}'
    # Keys of mixed types cannot be sorted by json: the storable form is, the same way.
    assert canonical_json({1: "é", "b": {"d": 2, "c": 1}}) == '{"1":"é","b":{"c":1,"d":2}}'


def test_the_hashes_of_stored_approvals_never_change():
    """A post approved last year must still match its approval: these digests are pinned."""
    from tasks.domain.content import content_hash, payload_hash

    assert content_hash(content_type="text", message=None, link=None, media=[], integration_id=None) == (
        "02fa651d747b4eccc184b13285f93cf5db07b748d4022c402d127268e5a69bba")
    assert content_hash(content_type="text", message="", link="", media=[], integration_id="") == (
        "02fa651d747b4eccc184b13285f93cf5db07b748d4022c402d127268e5a69bba")
    assert content_hash(content_type="photo", message="Hi", link="https://e.com",
                        media=[{"url": HTTPS, "type": "image", "alt_text": None}], integration_id="i-1") == (
        "c6a8963ce96cc4e7df6e4aa2aec2eb66b313b211339cf3dfcc91f6f697675444")
    assert payload_hash({"message": "Hi", "b": 1}) == "58f54620a4201e0dd714e215eb7120836fc15703859a1509856a07f3bbda8147"


@pytest.mark.parametrize(("requested", "link", "media", "expected"), [
    ("text", "https://e.com", [], ("link", [])),  # a text post with a link is a link post, not a mismatch
    ("photo", None, [], ("text", ["content_type 'photo' does not match the media given (that is a text post)"])),
    ("photo", "https://e.com", [],  # only "text" may become a link post silently
     ("link", ["content_type 'photo' does not match the media given (that is a link post)"])),
    ("reel", None, [{"type": "video"}], ("reel", [])),
    ("video", None, [{"type": "image"}],
     ("photo", ["content_type 'video' does not match the media given (that is a photo post)"])),
    ("gif", None, [], (None, ["content_type must be one of text, link, photo, album, video, reel, got 'gif'"])),
    (5, None, [], (None, ["content_type must be one of text, link, photo, album, video, reel, got 5"])),
])
def test_route_answers(requested, link, media, expected):
    from tasks.domain.content import route

    assert route(requested, link=link, media=media) == expected
