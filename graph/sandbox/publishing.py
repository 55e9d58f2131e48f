"""Publishing rules: feed posts, photos, videos and reels created, updated and deleted as on Graph.

Graph's constraints are kept on purpose, because the sandbox exists to catch clients that rely on
friendlier behaviour than Meta's: schedule windows (10 minutes to 75 days, 29 for reels), no
scheduled time on a published post, ``unpublished_content_type`` from the SDK's enum (DRAFT only on
an unpublished, unscheduled post), albums of at most ten unpublished, unexpired, single-use photos
of the same Page, https media URLs, the three-phase reel upload whose finish answers
``{"success": true}`` and nothing else, video and Reel posts with ids of their own (read from the
Video node's ``post_id``), a Video node that takes only Video parameters (``published``,
``description``, ``scheduled_publish_time``, ``name``: SDK AdVideo.api_update) and a Photo node that
cannot be updated at all (SDK photo.py has no api_update), Page tokens only (with the CREATE_CONTENT
task). Repeating a publish or a reel finish is harmless, as on Graph.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from graph.sandbox.errors import SandboxError, invalid, not_found
from graph.sandbox.params import (
    attached_media_ids,
    iso,
    param_bool,
    param_str,
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

SCHEDULE_MIN_SECONDS = 10 * 60
SCHEDULE_MAX_SECONDS = 75 * 86400  # feed reference; the posts guide says 30 days
REEL_SCHEDULE_MAX_SECONDS = 29 * 86400
UNPUBLISHED_PHOTO_TTL = 86400  # Meta drops unpublished photos after about a day
MAX_ATTACHED_MEDIA = 10
# facebook_business/adobjects/page.py Page.UnpublishedContentType (the same enum on Photo and AdVideo).
UNPUBLISHED_CONTENT_TYPES = frozenset({"ADS_POST", "DRAFT", "INLINE_CREATED", "PUBLISHED",
                                       "REVIEWABLE_BRANDED_CONTENT", "SCHEDULED", "SCHEDULED_RECURRING"})
# What POST /{id} accepts per node (a subset of the SDK's api_update param_types that the sandbox acts on);
# anything else socialcal might send by mistake is refused with code 100, as Meta refuses an unknown param.
POST_UPDATE_PARAMS = frozenset({"is_published", "message", "scheduled_publish_time"})
VIDEO_UPDATE_PARAMS = frozenset({"published", "description", "scheduled_publish_time", "name"})
IGNORED_PARAMS = frozenset({"access_token", "appsecret_proof", "fields", "method", "format"})


class PublishingRules(PageStore):
    """POST /{page}/feed|photos|videos|video_reels, the rupload step, POST /{id} and DELETE /{id}."""

    reels_per_window: int
    reels_window_seconds: float

    def _schedule_time(self, params: Mapping[str, Any], *, reel: bool = False) -> int | None:
        raw = params.get("scheduled_publish_time")
        ts = parse_time(raw, "scheduled_publish_time")
        if ts is None:
            return None
        self._check_window(ts, reel=reel)
        return int(ts)

    def _check_window(self, ts: float, *, reel: bool = False) -> None:
        ahead = ts - self.now()
        upper = REEL_SCHEDULE_MAX_SECONDS if reel else SCHEDULE_MAX_SECONDS
        if not SCHEDULE_MIN_SECONDS <= ahead <= upper:
            days = upper // 86400
            raise invalid(
                f"The specified scheduled publish time is invalid: it must be between 10 minutes and {days} days "
                f"from now (got {iso(ts)}, {int(ahead)} seconds from now)",
                user_title="Invalid Scheduled Publish Time",
                user_msg=f"Scheduled posts must be scheduled between 10 minutes and {days} days from now.",
            )

    def _new_post(self, page: PageRecord, kind: str, message: str | None, link: str | None,
                  published: bool, scheduled: int | None, *, post_id: str | None = None,
                  content_type: str | None = None) -> PostRecord:
        now = self.now()
        status = "published" if published else ("scheduled" if scheduled else "draft")
        post = PostRecord(
            id=post_id or f"{page.page_id}_{self._next_id()}",
            page_id=page.page_id, kind=kind, message=message, link=link, status=status,
            scheduled_publish_time=scheduled, created_time=now, seq=self._id_seq,
            published_time=now if published else None, updated_time=now,
            unpublished_content_type=None if published else (content_type or ("SCHEDULED" if scheduled else None)),
        )
        self._store(post)
        if status == "scheduled":
            self._scheduled.add(post.id)
        return post

    @staticmethod
    def _check_https(value: str | None, name: str) -> str:
        if not value:
            raise invalid(f"The parameter {name} is required")
        if not re.match(r"https://[^\s/]+", value):
            raise invalid(f"Param {name} must be an https:// URL")
        return value

    def _publish_mode(self, params: Mapping[str, Any], *, reel: bool = False) -> tuple[bool, int | None, str | None]:
        """(published, scheduled time, unpublished_content_type) of a create call, checked as Graph does."""
        published = param_bool(params, "published", True)
        scheduled_raw = params.get("scheduled_publish_time")
        if published and scheduled_raw not in (None, ""):
            raise invalid("You cannot specify a scheduled publish time on a published post: send published=false "
                          "with scheduled_publish_time")
        scheduled = None if published else self._schedule_time(params, reel=reel)
        # Enum values exactly as the SDK spells them (page.py UnpublishedContentType): no case folding, so
        # a client that sends "draft" fails here rather than only on Meta.
        content_type = param_str(params, "unpublished_content_type") or None
        if content_type is not None and content_type not in UNPUBLISHED_CONTENT_TYPES:
            raise invalid(f"Param unpublished_content_type must be one of {{{', '.join(sorted(UNPUBLISHED_CONTENT_TYPES))}}}")
        if content_type is not None and published:
            raise invalid("unpublished_content_type is only for posts created with published=false")
        if content_type == "SCHEDULED" and scheduled is None:
            raise invalid("unpublished_content_type=SCHEDULED requires scheduled_publish_time")
        if content_type == "DRAFT" and scheduled is not None:
            raise invalid("A draft cannot have a scheduled_publish_time: use unpublished_content_type=SCHEDULED")
        return published, scheduled, content_type

    @locked
    def create_feed_post(self, actor: TokenRecord, page_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """POST /{page}/feed: text, link, or photos attached with ``attached_media`` (albums)."""
        self._promote_due()
        page = self._page_actor(actor, page_id)
        message, link = param_str(params, "message"), param_str(params, "link")
        media = attached_media_ids(params)
        if not message and not link and not media:
            raise invalid("Missing message or attachment")
        if link and not re.match(r"https?://[^\s/]+", link):
            raise invalid("Param link must be a valid http(s) URL")
        if link and media:
            raise invalid("link and attached_media cannot be combined in one post")
        published, scheduled, content_type = self._publish_mode(params)
        if len(media) > MAX_ATTACHED_MEDIA:
            raise invalid(f"attached_media accepts at most {MAX_ATTACHED_MEDIA} photos (got {len(media)})")
        if len(set(media)) != len(media):
            raise invalid("attached_media lists the same media_fbid twice")
        photos: list[PhotoRecord] = []
        now = self.now()
        for index, media_id in enumerate(media):
            record = self._objects.get(media_id)
            where = f"attached_media[{index}]: media_fbid {media_id}"
            if record is None or record.deleted or isinstance(record, PostRecord):
                raise invalid(f"{where} does not exist")
            if isinstance(record, VideoRecord):
                raise invalid(f"{where} is a video; only unpublished photos can be attached to a post")
            if record.page_id != page.page_id:
                raise invalid(f"{where} belongs to another Page")
            if record.attached_to:
                raise invalid(f"{where} was already attached to post {record.attached_to}; upload the photo again")
            if record.published or record.post_id:
                raise invalid(f"{where} is already published; attach photos uploaded with published=false")
            if now - record.created_time > UNPUBLISHED_PHOTO_TTL:
                raise invalid(f"{where} has expired (unpublished photos are kept for about 24 hours)")
            photos.append(record)
        kind = "album" if len(media) > 1 else "photo" if media else "link" if link else "status"
        post = self._new_post(page, kind, message, link, published, scheduled, content_type=content_type)
        post.attached_media = list(media)
        for photo in photos:
            photo.attached_to = post.id
            photo.published = post.published
        return {"id": post.id}

    @locked
    def create_photo(self, actor: TokenRecord, page_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """POST /{page}/photos: an unpublished photo (for albums) or a published/scheduled photo post."""
        self._promote_due()
        page = self._page_actor(actor, page_id)
        url = param_str(params, "url")
        if not url:
            raise SandboxError(324, "(#324) Requires upload file")
        self._check_https(url, "url")
        published, scheduled, content_type = self._publish_mode(params)
        if content_type == "DRAFT":
            raise invalid("A photo draft is a /feed post with the photo in attached_media (sandbox: unsupported on "
                          "/photos)")
        photo = PhotoRecord(
            id=self._next_id(), page_id=page.page_id, url=url,
            caption=param_str(params, "caption") or param_str(params, "message"),
            alt_text=param_str(params, "alt_text_custom"), published=published,
            temporary=param_bool(params, "temporary", False), scheduled_publish_time=scheduled,
            created_time=self.now(),
        )
        self._store(photo)
        result: dict[str, Any] = {"id": photo.id}
        if published or scheduled:
            post = self._new_post(page, "photo", photo.caption, None, published, scheduled,
                                  post_id=f"{page.page_id}_{photo.id}")
            post.photo_id = photo.id
            photo.post_id = post.id
            result["post_id"] = post.id
        return result

    @locked
    def create_video(self, actor: TokenRecord, page_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """POST {video-host}/{page}/videos by ``file_url``: a video and its post (live, scheduled or draft)."""
        self._promote_due()
        page = self._page_actor(actor, page_id)
        file_url = self._check_https(param_str(params, "file_url"), "file_url")
        published, scheduled, content_type = self._publish_mode(params)
        video = VideoRecord(
            id=self._next_id(), page_id=page.page_id, kind="video", file_url=file_url,
            description=param_str(params, "description"), title=param_str(params, "title"),
            created_time=self.now(), uploaded_time=self.now(), finished=True,
        )
        self._store(video)
        # The video's post has an id of its own (GET /{video-id}?fields=post_id), never {page}_{video}.
        post = self._new_post(page, "video", video.description, None, published, scheduled,
                              content_type=content_type)
        post.video_id = video.id
        video.post_id = post.id
        return {"id": video.id}

    @locked
    def reel_start(self, actor: TokenRecord, page_id: str) -> dict[str, Any]:
        """upload_phase=start: reserve a video id; the caller builds the upload URL from it."""
        page = self._page_actor(actor, page_id)
        self._check_reels_limit(page.page_id)
        video = VideoRecord(id=self._next_id(), page_id=page.page_id, kind="reel", file_url=None,
                            description=None, title=None, created_time=self.now())
        self._store(video)
        return {"video_id": video.id}

    def _check_reels_limit(self, page_id: str) -> None:
        """Meta: "Reels API is limited to 30 API-published posts within a 24-hour moving period"
        (developers.facebook.com/docs/video-api/guides/reels-publishing, Limitations). Meta's docs give
        no error code for it; the sandbox answers code 9 (API_EC_RATE, "too many actions", the code
        Instagram's content-publishing limit uses) at start and at finish, which is stricter than a
        refusal at one of them: a client that uploads first is left with an unpublished video."""
        since = self.now() - self.reels_window_seconds
        published = sum(1 for record in self._page_objects(page_id)
                        if isinstance(record, VideoRecord) and record.kind == "reel" and record.finished
                        and (record.finished_time or 0.0) > since)
        if published >= self.reels_per_window:
            self._stats["reels_refused"] += 1
            raise SandboxError(9, f"(#9) This Page has reached the limit of {self.reels_per_window} reels "
                                  "published through the API within 24 hours. Try again later.")

    @locked
    def reel_upload(self, actor: TokenRecord, video_id: str, file_url: str | None) -> dict[str, Any]:
        """The rupload step: the hosted file is fetched by URL (``file_url`` header)."""
        video = self._owned(actor, video_id, "POST")
        if not isinstance(video, VideoRecord) or video.kind != "reel":
            raise not_found(video_id, "POST")
        video.file_url = self._check_https(file_url, "file_url")
        video.uploaded_time = self.now()
        return {"success": True}

    @locked
    def reel_finish(self, actor: TokenRecord, page_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """upload_phase=finish: publish, schedule or draft the uploaded reel. Repeating it is harmless."""
        self._promote_due()
        page = self._page_actor(actor, page_id)
        video_id = param_str(params, "video_id")
        if not video_id:
            raise invalid("The parameter video_id is required")
        video = self._owned(actor, video_id, "POST")
        if not isinstance(video, VideoRecord) or video.kind != "reel" or video.page_id != page.page_id:
            raise not_found(video_id, "POST")
        if video.uploaded_time is None:
            raise invalid(f"Video {video_id} has not been uploaded: POST the file to the upload_url first")
        if video.post_id:
            return {"success": True}
        state = param_str(params, "video_state") or "PUBLISHED"  # exactly as the SDK spells it: no case folding
        if state not in ("PUBLISHED", "SCHEDULED", "DRAFT"):
            raise invalid("Param video_state must be one of PUBLISHED, SCHEDULED, DRAFT")
        scheduled = None
        if state == "SCHEDULED":
            scheduled = self._schedule_time(params, reel=True)
            if scheduled is None:
                raise invalid("video_state=SCHEDULED requires scheduled_publish_time")
        self._check_reels_limit(page.page_id)  # Meta enforces it when the Reel is published
        video.description = param_str(params, "description")
        video.title = param_str(params, "title")
        video.finished = True
        video.finished_time = self.now()
        post = self._new_post(page, "reel", video.description, None, state == "PUBLISHED", scheduled,
                              content_type="DRAFT" if state == "DRAFT" else None)
        post.video_id = video.id
        video.post_id = post.id
        return {"success": True}  # Meta's whole answer: the post id is read from the Video node

    @locked
    def update_object(self, actor: TokenRecord, object_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """POST /{id}: on a Page post, publish (``is_published``), reschedule or edit ``message``; on a
        Video node, ``published``, ``description``, ``scheduled_publish_time``, ``name``.

        A Photo node cannot be updated (Meta: "Unsupported post request"); Page-post parameters sent to
        a Video, or Video parameters sent to a post, are refused with code 100. Publishing what is
        already live succeeds again (idempotent).
        """
        self._promote_due()
        record = self._owned(actor, object_id, "POST")
        self._page_actor(actor, record.page_id)
        if isinstance(record, PhotoRecord):
            raise not_found(object_id, "POST")
        if isinstance(record, VideoRecord):
            return self._update_video(record, params)
        return self._update_post(record, params)

    @staticmethod
    def _refuse_unknown(params: Mapping[str, Any], allowed: frozenset[str], node_type: str) -> None:
        for name in params:
            if name not in allowed and name not in IGNORED_PARAMS:
                raise invalid(f"Param {name} is not a valid parameter on node type ({node_type})")

    def _update_post(self, post: PostRecord, params: Mapping[str, Any]) -> dict[str, Any]:
        self._refuse_unknown(params, POST_UPDATE_PARAMS, "PagePost")
        now = self.now()
        changed = False
        if params.get("is_published") is not None:
            if param_bool(params, "is_published", True):
                if not post.published:
                    self._publish(post, now)
                return {"success": True}
            if post.published:
                post.status, post.published_time = "draft", None
                changed = True
        scheduled = parse_time(params.get("scheduled_publish_time"), "scheduled_publish_time")
        if scheduled is not None:
            self._reschedule(post, scheduled)
            changed = True
        message = params.get("message")
        if message is not None:
            post.message = str(message)
            post.message_edits += 1
            changed = True
        if not changed:
            raise invalid("Nothing to update: send is_published, scheduled_publish_time or message")
        post.updated_time = now
        return {"success": True}

    def _reschedule(self, post: PostRecord, scheduled: float) -> None:
        if post.published:
            raise invalid("A published post cannot be rescheduled")
        self._check_window(scheduled, reel=post.kind == "reel")
        post.scheduled_publish_time = int(scheduled)
        post.status = "scheduled"
        self._scheduled.add(post.id)

    def _update_video(self, video: VideoRecord, params: Mapping[str, Any]) -> dict[str, Any]:
        self._refuse_unknown(params, VIDEO_UPDATE_PARAMS, "Video")
        post = self._objects.get(video.post_id) if video.post_id else None
        if not isinstance(post, PostRecord):
            raise invalid(f"Video {video.id} has no post to update yet")
        now = self.now()
        changed = False
        if "description" in params:
            video.description = param_str(params, "description")
            post.message = video.description
            post.message_edits += 1
            changed = True
        if "name" in params:
            video.title = param_str(params, "name")
            changed = True
        scheduled = parse_time(params.get("scheduled_publish_time"), "scheduled_publish_time")
        if scheduled is not None:
            self._reschedule(post, scheduled)
            changed = True
        if params.get("published") is not None:
            if param_bool(params, "published", True) and not post.published:
                self._publish(post, now)
            changed = True
        if not changed:
            raise invalid("Nothing to update: send published, description, scheduled_publish_time or name")
        post.updated_time = now
        return {"success": True}

    @locked
    def delete_object(self, actor: TokenRecord, object_id: str) -> dict[str, Any]:
        """DELETE /{id}: the object disappears from Graph; the sandbox keeps it, flagged."""
        record = self._owned(actor, object_id, "DELETE")
        record.deleted = True
        if isinstance(record, PostRecord):
            record.deleted_time = self.now()
            self._scheduled.discard(record.id)
        return {"success": True}
