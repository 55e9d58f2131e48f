"""Finding a post whose create call's outcome is unknown, on listing edges that exist today.

A create call that timed out (or was answered with a 5xx, or whose worker died) may have made the
post. Before anything is sent again, the Page is asked wherever the post could be *now*:

* a **scheduled** create: ``/{page}/scheduled_posts``; and ``/{page}/published_posts`` once its time
  may have passed (the retry can come after the scheduled time, or after a lease expired around the
  call), because a scheduled post that went out is no longer in ``/scheduled_posts``;
* a **live** create (single phase, ``published=true``): ``/{page}/published_posts`` since the intent;
* a **draft**: nowhere. No Page edge lists drafts with ordinary Page permissions
  (``/{page}/promotable_posts``, which listed unpublished posts, was removed with v3.3 in 2019 and is
  absent from the SDK's Page node; ``/ads_posts`` needs the ads permissions socialcal does not ask
  for), so an unknown draft is "outcome unknown" for a person, with a hint, and is never sent again.

A candidate matches when its message equals ours after whitespace is normalised (Meta trims and may
fold whitespace), its scheduled time (when both sides have one) is ours, it was created no earlier
than a few minutes before the call, and it is not already another of our posts' ``external_id``.
Plain functions over a client (and one query for the taken ids), so the rules are unit-tested without
a database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable

from sqlalchemy import select

from graph.answers import graph_id
from graph.client import RECONCILE_POST_FIELDS, GraphClient
from models import SocialPost
from models.db import transaction

# How long before the call a matching post may have been created (clock skew between us and Meta).
CREATED_SLACK_SECONDS = 300
# A scheduled post's time is taken to "may have passed" this long before it (clock skew again).
SCHEDULED_SKEW_SECONDS = 120
# Pages of /published_posts read back from the intent (100 each): far more than one Page posts in minutes.
PUBLISHED_PAGES = 5

DRAFT_HINT = ("Meta lists a Page's drafts to no API with Page permissions, so socialcal cannot tell whether "
              "this draft was made. Look in Meta Business Suite > Content > Drafts (Publishing tools > "
              "Drafts on older Pages): if the draft is there, cancel this post in socialcal; if not, "
              "`socialcal jobs requeue` it.")


@dataclass(frozen=True)
class Found:
    """The post that an unknown create made, and the listing it was found in."""

    post_id: str
    where: str  # "scheduled_posts" | "published_posts"


def normalised(message: Any) -> str:
    """A message as compared: whitespace runs folded to one space, ends trimmed; None is ""."""
    return " ".join(message.split()) if isinstance(message, str) else ""


def places_to_look(mode: str | None, scheduled_publish_time: int | None, *, now: float,
                   sent_at: float, lease_seconds: float) -> tuple[str, ...]:
    """The listing edges where a post of this ``mode`` could be now (empty: none can show it)."""
    if mode == "live":
        return ("published_posts",)
    if mode != "scheduled":
        return ()
    passed = scheduled_publish_time is None or now >= scheduled_publish_time - SCHEDULED_SKEW_SECONDS
    lease_expired = now - sent_at > lease_seconds
    return ("scheduled_posts", "published_posts") if passed or lease_expired else ("scheduled_posts",)


def match(candidates: Iterable[dict[str, Any]], *, message: str | None, scheduled_publish_time: int | None,
          sent_at: float, taken: frozenset[str] | set[str]) -> str | None:
    """The id of the first candidate that is our post, or None."""
    wanted = normalised(message)
    for item in candidates:
        item_id = graph_id(item.get("id"))
        if item_id is None or item_id in taken or normalised(item.get("message")) != wanted:
            continue
        listed_time = item.get("scheduled_publish_time")
        if scheduled_publish_time is not None and listed_time is not None:
            try:
                if int(listed_time) != int(scheduled_publish_time):
                    continue
            except (TypeError, ValueError):
                continue
        elif not created_after(item.get("created_time"), sent_at - CREATED_SLACK_SECONDS):
            continue
        return item_id
    return None


def find(client: GraphClient, page_id: str, places: tuple[str, ...], *, message: str | None,
         scheduled_publish_time: int | None, sent_at: float, taken: frozenset[str] | set[str]) -> tuple[Found | None, int]:
    """Look in each place in turn; (what was found, how many candidates were read)."""
    seen = 0
    for place in places:
        if place == "scheduled_posts":
            candidates = client.list_scheduled_posts(page_id)
        else:
            candidates = client.list_published_posts(page_id, since=int(sent_at - CREATED_SLACK_SECONDS),
                                                     max_pages=PUBLISHED_PAGES, fields=RECONCILE_POST_FIELDS)
        seen += len(candidates)
        found = match(candidates, message=message, scheduled_publish_time=scheduled_publish_time,
                      sent_at=sent_at, taken=taken)
        if found is not None:
            return Found(found, place), seen
    return None, seen


def taken_ids(integration_id: str, post_id: str) -> set[str]:
    """Ids already another of our posts' ``external_id`` on this Page: never adopted a second time."""
    with transaction() as session:
        return set(session.scalars(select(SocialPost.external_id).where(
            SocialPost.integration_id == integration_id, SocialPost.external_id.is_not(None),
            SocialPost.id != post_id)))


def video_of(client: GraphClient, page_id: str, post_id: str, *, sent_at: float) -> str | None:
    """The video whose Page post is ``post_id``, from the Page's ``/videos`` since the call, or None."""
    for video in client.list_videos(page_id, since=int(sent_at - CREATED_SLACK_SECONDS)):
        if graph_id(video.get("post_id")) == post_id:
            return graph_id(video.get("id"))
    return None


def forget_two_phase_leftovers(intent: dict[str, Any], graph_ids: dict[str, Any], content_type: str) -> bool:
    """A live intent written before live posts were single-phase (no ``phases`` mark) may hold the ids
    of an unpublished first phase, which the old second phase (``is_published=true``) never reached.
    That post is not on the Page and no edge lists it, so its ids are dropped and the post is created
    again, published, in one call (Reels were always finished in one call and keep theirs)."""
    if intent.get("mode") != "live" or intent.get("phases") == 1 or content_type == "reel":
        return False
    dropped = [key for key in ("post_id", "video_id", "photo_id", "photos") if graph_ids.pop(key, None) is not None]
    intent["phases"] = 1
    return bool(dropped)


def created_after(value: Any, threshold: float) -> bool:
    """Graph's ``created_time`` is at or after ``threshold`` (no or an unreadable time: the message decides)."""
    if not isinstance(value, str):
        return True
    try:
        created = datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return True
    return created.timestamp() >= threshold
