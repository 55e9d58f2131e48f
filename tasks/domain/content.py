"""Writer output: validation, routing to a content type, and the hash that approval is bound to.

Routing follows the Graph API: no media → text or link post on /feed; one image → /photos; one
video → /videos (or Reels when asked); 2–10 images → an album. Every problem is collected, in plain
words, so an invalid post is stored with all its reasons at once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

from models import ContentType
from tasks.domain.untrusted import escape_text, forbidden_reason, json_type, shown, storable

MAX_MESSAGE_CHARS = 63_206
MAX_ALBUM_IMAGES = 10
MEDIA_TYPES = ("image", "video")


@dataclass
class CheckedContent:
    """The writer's post as socialcal will store it, plus every reason it cannot be published."""

    content_type: str | None
    message: str | None
    link: str | None
    media: list[dict[str, Any]]
    reasons: list[str] = field(default_factory=list)

    @property
    def is_valid(self) -> bool:
        return not self.reasons


def canonical_json(value: Any) -> str:
    """Sorted, compact JSON; a value ``json`` cannot write as it is (nesting beyond the recursion
    limit, an integer too long to print, keys of mixed types) is written in its ``storable`` form."""
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    except (RecursionError, ValueError, TypeError):
        return json.dumps(storable(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _digest(text: str) -> str:
    # "surrogatepass": a lone surrogate (valid JSON, invalid Unicode) hashes instead of crashing, and
    # every valid text hashes to exactly the bytes it always did (plain UTF-8).
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def payload_hash(payload: Any) -> str:
    """Identifies one writer output, so the same output delivered twice becomes one post."""
    return _digest(canonical_json(payload))


def content_hash(*, content_type: str | None, message: str | None, link: str | None,
                 media: list[dict[str, Any]], integration_id: str | None) -> str:
    """What a person approves: the exact text, link, media and Page. The time is not part of it."""
    return _digest(canonical_json({
        "content_type": content_type, "message": message or "", "link": link or "",
        "media": media or [], "integration_id": integration_id or "",
    }))


def _is_https(url: Any) -> bool:
    if not isinstance(url, str):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. "https://[" (an unclosed IPv6 literal)
        return False
    return parts.scheme == "https" and bool(parts.netloc)


def _text_rule(field_name: str, value: Any, reasons: list[str]) -> Any:
    """Apply the text rule (``tasks.domain.untrusted``): refuse with a reason, keep the text escaped."""
    if isinstance(value, str):
        problem = forbidden_reason(field_name, value)
        if problem:
            reasons.append(problem)
            return escape_text(value)
    return value


def check_content(payload: dict[str, Any]) -> CheckedContent:
    reasons: list[str] = []
    message = payload.get("message")
    if message is not None and not isinstance(message, str):
        reasons.append(f"message must be text, got {json_type(message)}")
        message = None
    message = message if message and message.strip() else None
    if message and len(message) > MAX_MESSAGE_CHARS:
        reasons.append(f"message is {len(message):,} characters; Facebook allows at most {MAX_MESSAGE_CHARS:,}")
    message = _text_rule("message", message, reasons)

    link = payload.get("link") or None
    if link is not None and not _is_https(link):
        reasons.append("link must be an https:// URL")
    link = _text_rule("link", link, reasons)

    media, media_reasons = _check_media(payload.get("media"))
    reasons += media_reasons
    if not message and not link and not media:
        reasons.append("the post is empty: it needs a message, a link or media")

    content_type, routing_reasons = route(payload.get("content_type"), link=link, media=media)
    reasons += routing_reasons
    return CheckedContent(content_type=content_type, message=message, link=link if isinstance(link, str) else None,
                          media=media, reasons=reasons)


def _check_media(raw: Any) -> tuple[list[dict[str, Any]], list[str]]:
    if raw in (None, []):
        return [], []
    if not isinstance(raw, list):
        return [], ["media must be a list of {url, type, alt_text} objects"]
    media: list[dict[str, Any]] = []
    reasons: list[str] = []
    for position, item in enumerate(raw, start=1):
        if not isinstance(item, dict):
            reasons.append(f"media #{position} is not an object")
            continue
        url, kind, alt = item.get("url"), item.get("type"), item.get("alt_text")
        if not _is_https(url):
            reasons.append(f"media #{position} URL must be https:// (Facebook fetches it from the public web)")
        url = _text_rule(f"media #{position} URL", url, reasons)
        if kind not in MEDIA_TYPES:
            reasons.append(f"media #{position} type must be 'image' or 'video', got {shown(kind)}")
            kind = storable(kind, max_depth=2, max_text=100)
        if alt is not None and not isinstance(alt, str):
            reasons.append(f"media #{position} alt_text must be text, got {json_type(alt)}")
            alt = None
        alt = _text_rule(f"media #{position} alt_text", alt, reasons)
        media.append({"url": url if isinstance(url, str) else None, "type": kind, "alt_text": alt})
    images = sum(1 for m in media if m["type"] == "image")
    videos = sum(1 for m in media if m["type"] == "video")
    if images and videos:
        reasons.append("images and videos cannot be mixed in one Facebook post")
    if images > MAX_ALBUM_IMAGES:
        reasons.append(f"{images} images; a Facebook album takes at most {MAX_ALBUM_IMAGES}")
    if videos > 1:
        reasons.append(f"{videos} videos; a Facebook post takes one video")
    return media, reasons


def route(requested: Any, *, link: Any, media: list[dict[str, Any]]) -> tuple[str | None, list[str]]:
    """The content type the Graph API will see, from the media; a request that contradicts it is a reason."""
    images = [m for m in media if m["type"] == "image"]
    videos = [m for m in media if m["type"] == "video"]
    if requested is not None and (not isinstance(requested, str) or requested not in {c.value for c in ContentType}):
        return None, [f"content_type must be one of {', '.join(c.value for c in ContentType)}, got {shown(requested)}"]
    if videos and not images:
        derived = ContentType.REEL if requested == ContentType.REEL else ContentType.VIDEO
    elif images and not videos:
        derived = ContentType.PHOTO if len(images) == 1 else ContentType.ALBUM
    elif images and videos:
        return requested, []  # already a reason from the media check
    else:
        derived = ContentType.LINK if link else ContentType.TEXT
    if requested is not None and requested != derived and not (requested == ContentType.TEXT and derived == ContentType.LINK):
        return derived.value, [f"content_type {shown(requested)} does not match the media given (that is a {derived.value} post)"]
    return derived.value, []


def parse_time(value: Any, field_name: str) -> tuple[datetime | None, str | None]:
    """An ISO 8601 time with an offset, as aware UTC; naive times are refused (whose local time?)."""
    if not isinstance(value, str):
        return None, f"{field_name} must be an ISO 8601 time, got {json_type(value)}"
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None, f"{field_name} is not an ISO 8601 time: {shown(value)}"
    if parsed.tzinfo is None:
        return None, f"{field_name} needs a UTC offset (e.g. 2026-12-01T10:00:00+01:00)"
    try:
        return parsed.astimezone(timezone.utc), None
    except OverflowError:  # year 1 or 9999 pushed past the calendar by its offset
        return None, f"{field_name} is outside the years a calendar can hold: {shown(value)}"
