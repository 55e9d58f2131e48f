"""Reads: /me, /me/accounts, debug_token, object reads and the post listings, rendered as Graph does.

Graph's quirks are kept on purpose: keys without a value are left out (no ``shares`` when nobody
shared, no ``message`` on a photo post without one), ``created_time`` of a live post is its publish
time, listings are newest first and cursor-paged, and a Page's ``access_token`` is shown only to a
token that manages it.
"""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any, Mapping

from graph.sandbox import series
from graph.sandbox.errors import invalid
from graph.sandbox.insights import post_insights_data
from graph.sandbox.params import (
    FieldSpec,
    fields_or,
    iso,
    param_str,
    parse_fields,
    parse_limit,
    parse_time,
)
from graph.sandbox.records import (
    PageRecord,
    PhotoRecord,
    PostRecord,
    TokenRecord,
    VideoRecord,
)
from graph.sandbox.store import PageStore, locked


class ObjectReads(PageStore):
    """GET /me, /me/accounts, /debug_token, /{id} and /{page}/{scheduled_posts,published_posts,...}."""

    video_processing_seconds: float  # a fault knob (FaultInjection): how long a video stays "processing"

    @locked
    def me(self, actor: TokenRecord, fields: list[FieldSpec] | None) -> dict[str, Any]:
        if actor.kind == "page" and actor.page_id:
            return self._render_page(self._pages[actor.page_id], fields, actor)
        return {"id": actor.user_id, "name": "Sandbox User"}

    @locked
    def accounts(self, actor: TokenRecord, params: Mapping[str, Any]) -> tuple[list[dict[str, Any]], str | None, str | None, bool]:
        """GET /me/accounts: (items, first cursor, last cursor, has more)."""
        if actor.kind != "user":
            raise invalid("Tried accessing nonexisting field (accounts) on node type (Page)")
        limit = parse_limit(params)
        fields = parse_fields(param_str(params, "fields"))
        pages = [self._pages[pid] for pid in actor.page_ids if pid in self._pages]
        after = _decode_cursor(param_str(params, "after"))
        if after is not None:
            pages = [page for page in pages if page.seq > after[1]]
        chunk, more = pages[:limit], len(pages) > limit
        specs = fields_or(fields, ("access_token", "category", "category_list", "name", "id", "tasks"))
        items = [self._render_page(page, specs, actor, listing=True) for page in chunk]
        first = _encode_cursor(0, chunk[0].seq) if chunk else None
        last = _encode_cursor(0, chunk[-1].seq) if chunk else None
        return items, first, last, more

    @locked
    def get_object(self, actor: TokenRecord, object_id: str, fields: list[FieldSpec] | None) -> dict[str, Any]:
        """GET /{id}: a Page (any valid token), or a post/photo/video of the token's Page."""
        self._promote_due()
        page = self._pages.get(object_id)
        if page is not None:
            return self._render_page(page, fields, actor)
        record = self._owned(actor, object_id, "GET")
        if isinstance(record, PostRecord):
            return self._render_post(record, fields_or(fields, ("id", "created_time", "message")))
        if isinstance(record, PhotoRecord):
            return self._render_photo(record, fields)
        return self._render_video(record, fields)

    @locked
    def list_posts(
        self, actor: TokenRecord, page_id: str, which: str, params: Mapping[str, Any]
    ) -> tuple[list[dict[str, Any]], str | None, str | None, bool]:
        """List a Page's posts, newest first, cursor-paged: (items, first cursor, last cursor, has more).

        ``which``: "scheduled" (``/scheduled_posts``) or "published" (``/published_posts``, ``/posts``,
        ``/feed``). Drafts and other unpublished posts are in neither, as on Meta: no Page edge lists
        them with ordinary Page permissions (``promotable_posts``, which did, was removed with v3.3).
        """
        self._promote_due()
        self._page_actor(actor, page_id, write=False)
        limit = parse_limit(params)
        since = parse_time(params.get("since"), "since")
        until = parse_time(params.get("until"), "until")
        fields = fields_or(parse_fields(param_str(params, "fields")), ("id", "created_time", "message"))
        wanted = {"scheduled"} if which == "scheduled" else {"published"}
        posts = [
            record for record in self._page_objects(page_id)
            if isinstance(record, PostRecord) and not record.deleted and record.status in wanted
        ]
        if since is not None:
            posts = [post for post in posts if post.shown_time >= since]
        if until is not None:
            posts = [post for post in posts if post.shown_time <= until]
        posts.sort(key=lambda post: (post.shown_time, post.seq), reverse=True)
        after = _decode_cursor(param_str(params, "after"))
        if after is not None:
            posts = [post for post in posts if (post.shown_time, post.seq) < after]
        chunk, more = posts[:limit], len(posts) > limit
        items = [self._render_post(post, fields) for post in chunk]
        first = _encode_cursor(chunk[0].shown_time, chunk[0].seq) if chunk else None
        last = _encode_cursor(chunk[-1].shown_time, chunk[-1].seq) if chunk else None
        return items, first, last, more

    @locked
    def list_videos(
        self, actor: TokenRecord, page_id: str, params: Mapping[str, Any]
    ) -> tuple[list[dict[str, Any]], str | None, str | None, bool]:
        """GET /{page}/videos: the Page's videos (uploads and Reels), newest first, cursor-paged."""
        self._promote_due()
        self._page_actor(actor, page_id, write=False)
        limit = parse_limit(params)
        since = parse_time(params.get("since"), "since")
        fields = parse_fields(param_str(params, "fields"))
        videos = [record for record in self._page_objects(page_id)
                  if isinstance(record, VideoRecord) and not record.deleted]
        if since is not None:
            videos = [video for video in videos if video.created_time >= since]
        videos.sort(key=lambda video: (video.created_time, int(video.id)), reverse=True)
        after = _decode_cursor(param_str(params, "after"))
        if after is not None:
            videos = [video for video in videos if (video.created_time, int(video.id)) < after]
        chunk, more = videos[:limit], len(videos) > limit
        items = [self._render_video(video, fields) for video in chunk]
        first = _encode_cursor(chunk[0].created_time, int(chunk[0].id)) if chunk else None
        last = _encode_cursor(chunk[-1].created_time, int(chunk[-1].id)) if chunk else None
        return items, first, last, more

    @locked
    def video_status(self, video: VideoRecord) -> dict[str, Any]:
        """Graph's ``status`` field of a video: not ready until uploaded and processed."""
        if video.uploaded_time is None:
            return {"video_status": "processing", "uploading_phase": {"status": "not_started"},
                    "processing_phase": {"status": "not_started"}, "publishing_phase": {"status": "not_started"}}
        if self.now() - video.uploaded_time < self.video_processing_seconds:
            return {"video_status": "processing", "uploading_phase": {"status": "complete"},
                    "processing_phase": {"status": "in_progress"}, "publishing_phase": {"status": "not_started"}}
        publishing = "complete" if video.post_id else "not_started"
        return {"video_status": "ready", "uploading_phase": {"status": "complete"},
                "processing_phase": {"status": "complete"}, "publishing_phase": {"status": publishing}}

    # -- rendering -----------------------------------------------------------------------------

    def _render_page(self, page: PageRecord, fields: list[FieldSpec] | None, actor: TokenRecord,
                     *, listing: bool = False) -> dict[str, Any]:
        specs = fields_or(fields, ("name", "id"))
        manages = actor.kind == "user" and page.page_id in actor.page_ids
        followers = series.metric_value(self.seed, page.page_id, "page_follows", self.today() - timedelta(days=1))
        values: dict[str, Any] = {
            "id": page.page_id, "name": page.name, "category": page.category,
            "category_list": [{"id": "2612", "name": page.category}],
            "link": f"https://www.facebook.com/{page.page_id}", "followers_count": followers,
            "tasks": list(page.tasks),
        }
        if manages or (actor.kind == "page" and actor.page_id == page.page_id):
            values["access_token"] = page.token
        return {spec.name: values[spec.name] for spec in specs if spec.name in values}

    def _render_post(self, post: PostRecord, specs: list[FieldSpec]) -> dict[str, Any]:
        page_id, _, local = post.id.partition("_")
        engagement = series.post_engagement(self.seed, post.id) if post.published else None
        out: dict[str, Any] = {}
        for spec in specs:
            name = spec.name
            if name == "id":
                out["id"] = post.id
            elif name == "message" and post.message is not None:
                out["message"] = post.message
            elif name == "created_time":
                out["created_time"] = iso(post.shown_time)
            elif name == "updated_time":
                out["updated_time"] = iso(post.updated_time or post.created_time)
            elif name == "permalink_url":
                out["permalink_url"] = f"https://www.facebook.com/{page_id}/posts/{local}"
            elif name == "is_published":
                out["is_published"] = post.published
            elif name == "scheduled_publish_time" and post.scheduled_publish_time is not None:
                out["scheduled_publish_time"] = post.scheduled_publish_time
            elif name == "status_type":
                out["status_type"] = {"photo": "added_photos", "album": "added_photos", "video": "added_video",
                                      "reel": "added_video", "link": "shared_story"}.get(post.kind,
                                                                                        "mobile_status_update")
            elif name == "from":
                page = self._pages.get(post.page_id)
                out["from"] = {"id": post.page_id, "name": page.name if page else ""}
            elif name == "link" and post.link:
                out["link"] = post.link
            elif name == "full_picture":
                media = post.photo_id or (post.attached_media[0] if post.attached_media else None)
                photo = self._objects.get(media) if media else None
                if isinstance(photo, PhotoRecord):
                    out["full_picture"] = photo.url
            elif name == "attachments":
                out["attachments"] = {"data": self._attachments(post)}
            elif name in ("reactions", "comments"):
                total = (engagement.reactions if name == "reactions" else engagement.comments) if engagement else 0
                edge: dict[str, Any] = {"data": []}
                if spec.modifiers.get("summary", "").lower() in ("true", "1", "total_count"):
                    edge["summary"] = ({"total_count": total, "viewer_reaction": "NONE"} if name == "reactions"
                                       else {"order": "ranked", "total_count": total, "can_comment": True})
                out[name] = edge
            elif name == "shares":
                if engagement and engagement.shares:
                    out["shares"] = {"count": engagement.shares}
            elif name == "insights":
                metrics = [m.strip() for m in spec.modifiers.get("metric", "post_media_view").split(",") if m.strip()]
                out["insights"] = {"data": post_insights_data(self.seed, post, metrics)}
        return out

    def _attachments(self, post: PostRecord) -> list[dict[str, Any]]:
        if post.kind == "album":
            return [{"media_type": "album", "type": "album", "subattachments": {"data": [
                {"media_type": "photo", "target": {"id": media_id}} for media_id in post.attached_media]}}]
        if post.kind == "photo":
            target = post.photo_id or (post.attached_media[0] if post.attached_media else None)
            return [{"media_type": "photo", "type": "photo", "target": {"id": target}}]
        if post.kind in ("video", "reel"):
            return [{"media_type": "video", "type": "video_inline", "target": {"id": post.video_id}}]
        if post.kind == "link":
            return [{"media_type": "link", "type": "share", "url": post.link}]
        return []

    def _render_photo(self, photo: PhotoRecord, fields: list[FieldSpec] | None) -> dict[str, Any]:
        values: dict[str, Any] = {
            "id": photo.id, "created_time": iso(photo.created_time),
            "link": f"https://www.facebook.com/photo/?fbid={photo.id}",
            "images": [{"source": photo.url, "height": 1080, "width": 1080}],
        }
        if photo.caption is not None:
            values["name"] = photo.caption
        if photo.alt_text is not None:
            values["alt_text_custom"] = photo.alt_text
        story = photo.post_id or photo.attached_to
        if story:
            values["page_story_id"] = story
        specs = fields_or(fields, ("id", "created_time", "name"))
        return {spec.name: values[spec.name] for spec in specs if spec.name in values}

    def _render_video(self, video: VideoRecord, fields: list[FieldSpec] | None) -> dict[str, Any]:
        post = self._objects.get(video.post_id) if video.post_id else None
        values: dict[str, Any] = {
            "id": video.id, "created_time": iso(video.created_time), "status": self.video_status(video),
            # A path, as Meta answers a video's permalink_url; a Reel's is under /reel/.
            "permalink_url": f"/reel/{video.id}/" if video.kind == "reel" else f"/{video.page_id}/videos/{video.id}/",
            "published": bool(isinstance(post, PostRecord) and post.published),
        }
        if video.description is not None:
            values["description"] = video.description
        if video.title is not None:
            values["title"] = video.title
        if video.post_id:
            values["post_id"] = video.post_id
        specs = fields_or(fields, ("id", "created_time", "description"))
        return {spec.name: values[spec.name] for spec in specs if spec.name in values}


def _encode_cursor(shown_time: float, seq: int) -> str:
    return base64.urlsafe_b64encode(f"{shown_time!r}:{seq}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str | None) -> tuple[float, int] | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        shown, seq = raw.rsplit(":", 1)
        return float(shown), int(seq)
    except (ValueError, UnicodeDecodeError):
        raise invalid("Param after is not a valid cursor") from None
