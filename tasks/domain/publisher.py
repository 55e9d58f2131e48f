"""Exactly-once publishing of one approved post (DESIGN.md rules 1–3).

The Graph API has no idempotency key, so this module makes the database carry one:

1. **Claim** the post with one conditional UPDATE (``approved`` and due, or ``publishing`` with an
   expired lease). Whoever loses the claim does nothing (``tasks.domain.claim``).
2. **Gate**: re-check approval at run time (status, approved hash = current content hash, tenant
   and integration active, integration of the post's tenant). A refusal is audited; nothing is sent.
3. **Intent before call**: before every create call, the row records which call is in flight. Every
   id Graph returns is stored the moment it returns, under the lease (a fenced UPDATE: a worker that
   lost its lease can no longer write).
4. **Reconcile**: a call still marked in flight when the post is picked up again (a timeout, a reset,
   a killed worker) may or may not have created the post, so the Page is asked wherever the post could
   be now (``tasks.domain.reconcile``: ``/scheduled_posts``, ``/published_posts``; a Reel's own Video
   node) and a match is adopted instead of sending again. A draft cannot be looked up (no edge lists
   drafts), so an unknown draft fails at once as "outcome unknown" with a hint: a person checks the Page.

Live posts are one ``published=true`` create (no longer two-phase: an unpublished first phase is
listed by no edge, so its unknown outcome could never be resolved). Video and Reel posts are stored
by the ``post_id`` and ``permalink_url`` read from their Video node.

``publish_post`` at the bottom runs one attempt end to end and maps Graph errors to what happens next
(DESIGN.md rule 4): wait for a throttled scope, back off on transient errors, reconcile after
ambiguous ones, fail fast on auth, permission and validation errors. Long waits are never handed to
the broker: the post goes back to ``approved`` with ``due_at`` set, and ``dispatch_due`` (beat, every
minute) sends it again when that time comes.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Iterator

from sqlalchemy.orm import Session

from graph.client import GraphClient
from graph.errors import Ambiguous, GraphError, InvalidRequest, RateLimited
from models import FailedJob, Integration, PostStatus, SocialPost, utcnow
from models.db import run_transaction
from tasks.domain import album_uploads, publish_store
from tasks.domain import reconcile as recon
from tasks.domain.approval import scheduling_window
from tasks.domain.claim import GateRefused, approval_problem, claim, status_problem
from tasks.domain.clients import client_for_integration, reserve_reel_slot
from tasks.domain.events import record_event, record_post_event
from tasks.domain.holds import hold, hold_reason
from tasks.domain.failed_jobs import failed_job_row, mark_recorded
from tasks.domain.integrations import RECONNECT_HINT, mark_needs_reconnect
from tasks.domain.messaging import send_or_keep
from tasks.domain.retry_policy import broker_countdown, decide
from worker.core.logging import get_logger
from worker.core.queues import TaskName
from worker.core.settings import Settings

log = get_logger(__name__)

SCHEDULE_MIN_AHEAD = timedelta(minutes=10)
# Graph checks the 10-minute minimum when the call arrives; leave room for the call itself.
SCHEDULE_SAFETY = timedelta(minutes=2)
# Reels: "scheduled within 29 days" (developers.facebook.com/docs/video-api/guides/reels-publishing),
# whatever SOCIALCAL_SCHEDULE_MAX_DAYS says.
REEL_SCHEDULE_MAX_AHEAD = timedelta(days=29)
# Unpublished album photos expire after about 24 hours; re-upload anything older than this.
PHOTO_REUSE_LIMIT = timedelta(hours=20)
REEL_STATUS_POLLS = 5
# Reads of a video's post_id (it can lag the upload) before the video id stands in for it.
VIDEO_POST_READS = 5


class LeaseLost(Exception):
    """Another worker took the post over (our lease expired); stop without writing anything."""


class Held(Exception):
    """The tenant is paused or the Page disconnected: the post waits, approved, with this reason."""


class OutcomeUnknown(Exception):
    """A create call may have succeeded but the Page cannot show whether; never sent twice."""

    hint = ("Check the Page in Meta Business Suite: if the post is there, cancel this one; if not, "
            "`socialcal jobs requeue` it.")

    def __init__(self, reason: str, hint: str | None = None) -> None:
        super().__init__(reason)
        if hint:
            self.hint = hint


@dataclass
class Snapshot:
    """What publishing needs from the row, read once under the claim."""

    post_id: str
    tenant_id: str
    integration: Integration
    content_type: str
    message: str | None
    link: str | None
    media: list[dict[str, Any]]
    scheduled_at: datetime | None
    auto_publish: bool
    graph_ids: dict[str, Any]
    intent: dict[str, Any]
    approved_at: datetime | None = None


@dataclass
class Outcome:
    status: str  # scheduled | published | platform_draft | waiting | skipped
    external_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------------------- the publisher

class Publisher:
    """Publishes one claimed post; every write is fenced by the lease ``owner``."""

    def __init__(self, post_id: str, owner: str, settings: Settings,
                 client_factory: Callable[[Integration], GraphClient], task_id: str | None = None) -> None:
        self.post_id = post_id
        self.owner = owner
        self.task_id = task_id
        self.settings = settings
        self.client_factory = client_factory
        self.snap: Snapshot | None = None
        self.client: GraphClient | None = None
        # Written by the next fenced update, in its transaction (see _fenced).
        self._pending_values: dict[str, Any] = {}
        self._pending_events: list[tuple[str, dict[str, Any]]] = []

    # ---- fenced persistence

    def _fenced(self, *, event: tuple[str, dict[str, Any]] | None = None,
                in_transaction: Callable[[Session], None] | None = None, **values: Any) -> None:
        """One transaction: the row update (only while we hold the lease) plus any events waiting
        for it, so a publish costs three commits: claim, intent before the call, outcome.

        Every fenced write renews the lease (``lease_expires_at`` and ``due_at``, which dispatch_due
        reads for a publishing post) in the same UPDATE, unless the write ends the lease: so the lease
        only has to outlast the gap between two writes, one Graph call, and a dead worker's post is
        free again that soon after its last write. ``in_transaction`` adds rows that must commit
        with this write or not at all (the ``failed_jobs`` row of a failure).
        """
        events = self._pending_events + ([event] if event else [])
        values = {**self._renewal(), **self._pending_values, **values}

        def write(session: Session) -> None:
            if publish_store.fenced_update(session, self.post_id, self.owner, values) != 1:
                raise LeaseLost(self.post_id)
            for kind, detail in events:
                assert self.snap is not None
                record_post_event(session, self.post_id, self.snap.tenant_id, kind, approved_at=self.snap.approved_at,
                                  **detail)
            if in_transaction is not None:
                in_transaction(session)

        run_transaction(write)  # once more if the connection was dead before the commit (models.db)
        self._pending_values, self._pending_events = {}, []

    def _renewal(self) -> dict[str, Any]:
        until = utcnow() + timedelta(seconds=self.settings.publish_lease_seconds)
        return {"lease_expires_at": until, "due_at": until}

    def renew(self) -> None:
        """Extend the lease without changing anything else (a long step between two writes, such as
        waiting for Meta to process a Reel); raises ``LeaseLost`` when another worker took over."""
        self._fenced()

    def _save_ids(self) -> None:
        assert self.snap is not None
        self._fenced(graph_ids=dict(self.snap.graph_ids), publish_intent=dict(self.snap.intent))

    @contextmanager
    def _in_flight(self, step: str) -> Iterator[None]:
        """Mark a create call as in flight for exactly as long as its outcome is unknown.

        The mark survives only an ``Ambiguous`` error or a crash: a definite answer from Graph, or a
        refusal by our own budget before sending, proves nothing was created, so it is cleared and
        the next attempt sends without a reconciliation listing.
        """
        assert self.snap is not None
        self.snap.intent["in_flight"] = {"step": step, "at": time.time(), "message": self.snap.message}
        self._save_ids()
        try:
            yield
        except Ambiguous:
            raise
        except GraphError:
            self.snap.intent.pop("in_flight", None)
            self._save_ids()
            raise

    def _landed(self, key: str, value: Any, *, with_outcome: bool = False) -> None:
        """Store an id the moment Graph returns it, and clear the in-flight mark in the same write.

        ``with_outcome``: no Graph call comes before the outcome is written, so the id is stored by
        that write (``complete``); a crash in between leaves the in-flight mark, and the next
        attempt reconciles and adopts the post.
        """
        assert self.snap is not None
        self.snap.graph_ids[key] = value
        self.snap.intent.pop("in_flight", None)
        if not with_outcome:
            self._save_ids()

    # ---- entry point

    def run(self, now: datetime | None = None) -> Outcome:
        now = now or utcnow()
        snap = self.snap
        assert snap is not None
        mode, scheduled_at, wait_until = self.choose_mode(snap, now)
        if wait_until is not None:
            self.release(due_at=wait_until, reason="waiting for the scheduling window")
            return Outcome("waiting", detail={"due_at": wait_until.isoformat()})
        self.client = self.client_factory(snap.integration)
        recon.forget_two_phase_leftovers(snap.intent, snap.graph_ids, snap.content_type)
        if snap.intent.get("in_flight"):
            adopted = self.reconcile()
            if adopted is not None:
                return adopted
        self._write_intent(mode, scheduled_at)
        return self._publish(mode, scheduled_at)

    def claim_and_load(self) -> bool:
        """Claim the post and re-check the approval gate in one transaction; False when the claim is lost.

        A refusal is recorded and committed before ``GateRefused`` is raised, a hold (tenant paused,
        Page disconnected: ``tasks.domain.holds``) before ``Held``: each must outlive the exception.
        """
        refusal_job: FailedJob | None = None

        def gate(session: Session) -> tuple[bool, str | None, str | None]:
            nonlocal refusal_job
            if not claim(session, self.post_id, self.owner, self.settings):
                return False, None, None
            post, tenant, integration = publish_store.load_post(session, self.post_id)
            assert post is not None
            problem = approval_problem(post, integration)
            # The operator paused the tenant or disconnected the Page: the post waits, it does not fail.
            waiting = hold_reason(tenant, integration) if problem is None else None
            if waiting is None and problem is None:
                problem = status_problem(tenant, integration)
            if waiting is None and problem is None and post.attempts > self.settings.max_publish_attempts:
                problem = f"gave up after {post.attempts - 1} attempts"
            if waiting is not None:
                hold(session, post, waiting)
            elif problem is not None:
                post.status = PostStatus.FAILED
                post.last_error = f"refused at publish time: {problem}"
                post.lease_owner = post.lease_expires_at = post.due_at = None
                record_event(session, post, "publish_refused", reason=problem)
                refusal_job = self._failed_job(GateRefused(problem), post.tenant_id)
                session.add(refusal_job)  # with the failure, or not at all
                log.warning("publish_refused", reason=problem)
            else:
                assert integration is not None and tenant is not None
                post.hold_reason = None
                session.expunge(integration)
                self.snap = Snapshot(
                    post_id=post.id, tenant_id=post.tenant_id, integration=integration, content_type=post.content_type,
                    message=post.message, link=post.link, media=list(post.media or []), scheduled_at=post.scheduled_at,
                    auto_publish=tenant.auto_publish, graph_ids=dict(post.graph_ids or {}),
                    intent=dict(post.publish_intent or {}), approved_at=post.approved_at,
                )
            return True, waiting, problem

        won, waiting, problem = run_transaction(gate)
        if not won:
            return False
        if waiting is not None:
            raise Held(waiting)
        if problem is not None:
            assert refusal_job is not None
            refusal = GateRefused(problem)
            mark_recorded(refusal, refusal_job.id)  # committed: the task must not write a second row
            raise refusal
        return True

    def choose_mode(self, snap: Snapshot, now: datetime) -> tuple[str, datetime | None, datetime | None]:
        """(mode, scheduled time, wait-until). Without auto_publish nothing goes live (rule 2)."""
        when = snap.scheduled_at or now
        if snap.auto_publish:
            if when > now + timedelta(minutes=1):
                return "live", None, when
            return "live", None, None
        ahead = when - now
        window = scheduling_window(self.settings)
        if snap.content_type == "reel":
            window = min(window, REEL_SCHEDULE_MAX_AHEAD)
        if ahead > window:
            return "scheduled", when, when - window + timedelta(hours=1)
        if ahead >= SCHEDULE_MIN_AHEAD + SCHEDULE_SAFETY:
            return "scheduled", when, None
        return "draft", None, None

    def _write_intent(self, mode: str, scheduled_at: datetime | None) -> None:
        assert self.snap is not None
        intent = self.snap.intent
        changed = intent.get("mode") != mode or intent.get("scheduled_publish_time") != _unix(scheduled_at)
        intent.update({"mode": mode, "scheduled_publish_time": _unix(scheduled_at), "phases": 1,
                       "page_id": self.snap.integration.page_id, "content_type": self.snap.content_type})
        intent.setdefault("started_at", time.time())
        # Written with the first in-flight mark (or the outcome), before any create call is sent.
        self._pending_values["publish_mode"] = mode
        if changed:
            self._pending_events.append(("publish_intent", {"mode": mode,
                                                            "scheduled_publish_time": _unix(scheduled_at)}))

    # ---- content types

    def _publish(self, mode: str, scheduled_at: datetime | None) -> Outcome:
        assert self.snap is not None
        kind = self.snap.content_type
        handler = {"text": self._feed_post, "link": self._feed_post, "photo": self._photo, "album": self._album,
                   "video": self._video, "reel": self._reel}[kind]
        external_id = handler(mode, scheduled_at)
        status = {"scheduled": PostStatus.SCHEDULED, "draft": PostStatus.PLATFORM_DRAFT,
                  "live": PostStatus.PUBLISHED}[mode]
        return self.complete(status, external_id)

    def _feed_post(self, mode: str, scheduled_at: datetime | None) -> str:
        assert self.snap is not None and self.client is not None
        if "post_id" in self.snap.graph_ids:
            return str(self.snap.graph_ids["post_id"])
        with self._in_flight("feed"):
            post_id = self.client.create_feed_post(self.snap.integration.page_id, message=self.snap.message,
                                                   link=self.snap.link, published=mode == "live",
                                                   scheduled_at=scheduled_at, draft=mode == "draft")
        self._landed("post_id", post_id, with_outcome=True)
        return post_id

    def _photo(self, mode: str, scheduled_at: datetime | None) -> str:
        """A live or scheduled photo is one ``/photos`` call whose answer names its Page post (``post_id``):
        that post, never the photo id, is what later edits and new times go to (the Photo node cannot be
        updated: SDK photo.py has no api_update). A draft photo is an unpublished photo attached to a
        DRAFT ``/feed`` post, as an album of one."""
        assert self.snap is not None and self.client is not None
        ids = self.snap.graph_ids
        if "post_id" in ids:
            return str(ids["post_id"])
        if mode == "draft":
            return self._album(mode, scheduled_at)
        if "photo_id" not in ids:
            media = self.snap.media[0]
            with self._in_flight("photo"):
                result = self.client.upload_photo(self.snap.integration.page_id, media["url"],
                                                  caption=self.snap.message, alt_text=media.get("alt_text"),
                                                  published=mode == "live", scheduled_at=scheduled_at)
            if result.post_id:
                ids["photo_id"] = result.id
                self._landed("post_id", result.post_id, with_outcome=True)
                return result.post_id
            self._landed("photo_id", result.id)
        post_id = self.client.photo_post_id(str(ids["photo_id"]))  # page_story_id, when /photos gave no post_id
        if post_id is None:
            log.warning("photo_post_id_missing", photo_id=ids["photo_id"])
            return str(ids["photo_id"])
        self._landed("post_id", post_id, with_outcome=True)
        return post_id

    def _album(self, mode: str, scheduled_at: datetime | None) -> str:
        assert self.snap is not None and self.client is not None
        if "post_id" in self.snap.graph_ids:
            return str(self.snap.graph_ids["post_id"])
        photos: dict[str, Any] = dict(self.snap.graph_ids.get("photos") or {})
        # All at once, each id stored as it returns (tasks.domain.album_uploads). Unpublished photos are
        # not on the Page: an unknown outcome here is simply uploaded again.
        album_uploads.upload_missing(self.client, self.snap.integration.page_id, self.snap.media, photos,
                                     PHOTO_REUSE_LIMIT.total_seconds(), temporary=scheduled_at is not None,
                                     store=lambda: self._landed("photos", dict(photos)))
        media_ids = [photos[str(i)]["id"] for i in range(len(self.snap.media))]
        try:
            with self._in_flight("feed"):
                post_id = self.client.create_feed_post(self.snap.integration.page_id, message=self.snap.message,
                                                       published=mode == "live", scheduled_at=scheduled_at,
                                                       attached_media=media_ids, draft=mode == "draft")
        except InvalidRequest as error:
            if error.code == 100 and "photo" in error.graph_message.lower():
                # A photo expired or was used: forget the uploads so the retry uploads fresh ones.
                self.snap.graph_ids.pop("photos", None)
                self._save_ids()
            raise
        self._landed("post_id", post_id, with_outcome=True)
        return post_id

    def _video(self, mode: str, scheduled_at: datetime | None) -> str:
        assert self.snap is not None and self.client is not None
        ids = self.snap.graph_ids
        if "video_id" not in ids:
            with self._in_flight("video"):
                video_id = self.client.upload_video(self.snap.integration.page_id, self.snap.media[0]["url"],
                                                    description=self.snap.message, published=mode == "live",
                                                    scheduled_at=scheduled_at, draft=mode == "draft")
            self._landed("video_id", video_id)
        return self._video_post()

    def _video_post(self) -> str:
        """The video's own Page post id (stored as ``post_id``; permalink kept for ``publish_url``).

        The create answers only the video id; ``post_id`` may lag it, so a missing one is read again
        shortly (``VideoPostPending``), and after ``VIDEO_POST_READS`` reads the video id stands in.
        """
        assert self.snap is not None and self.client is not None
        ids = self.snap.graph_ids
        if "post_id" in ids:
            return str(ids["post_id"])
        found = self.client.video_post(str(ids["video_id"]))
        if found.permalink_url:
            ids["permalink_url"] = found.permalink_url
        if found.post_id is None:
            reads = int(ids.get("post_reads") or 0) + 1
            ids["post_reads"] = reads
            if reads < VIDEO_POST_READS:
                self._save_ids()
                raise VideoPostPending(str(ids["video_id"]))
            log.warning("video_post_id_missing", video_id=ids["video_id"], reads=reads)
            return str(ids["video_id"])
        ids["post_id"] = found.post_id
        return found.post_id

    def _reel(self, mode: str, scheduled_at: datetime | None) -> str:
        assert self.snap is not None and self.client is not None
        page_id = self.snap.integration.page_id
        ids = self.snap.graph_ids
        if "reel_finished" not in ids:
            if "video_id" not in ids:
                if "reel_slot" not in ids:  # Meta's 30 Reels per Page per 24 h: wait before uploading anything
                    reserve_reel_slot(self.settings, page_id)
                    self._landed("reel_slot", True)
                start = self.client.start_reel(page_id)  # only reserves an id: nothing on the Page yet
                ids["upload_url"] = start.upload_url
                self._landed("video_id", start.video_id)
            if "uploaded" not in ids:
                self.client.upload_reel(ids["upload_url"], self.snap.media[0]["url"])
                self._landed("uploaded", True)
            self._wait_for_reel(ids["video_id"])
            state = {"scheduled": "SCHEDULED", "draft": "DRAFT", "live": "PUBLISHED"}[mode]
            with self._in_flight("reel_finish"):
                self.client.finish_reel(page_id, ids["video_id"], video_state=state,  # type: ignore[arg-type]
                                        description=self.snap.message, scheduled_at=scheduled_at)
            self._landed("reel_finished", True)  # Meta answers {"success": true}; the post is read next
        return self._video_post()

    def _wait_for_reel(self, video_id: str) -> None:
        assert self.client is not None
        for poll in range(REEL_STATUS_POLLS):
            if poll:
                self.renew()  # each poll is a Graph call: the wait as a whole may outlast one lease
            status = self.client.video_status(video_id)
            if status.get("video_status") in ("ready", "published") or \
                    (status.get("uploading_phase") or {}).get("status") == "complete":
                return
            time.sleep(min(2.0, 0.2 * 2 ** poll))
        raise ReelNotReady(video_id)

    # ---- reconciliation

    def reconcile(self) -> Outcome | None:
        """A create call may have landed without us hearing back: look before sending again.

        Returns the outcome when the post was found and adopted, None when the Page shows it was not
        made (the create is then sent again); raises ``OutcomeUnknown`` where no edge can tell.
        """
        assert self.snap is not None and self.client is not None
        in_flight = self.snap.intent["in_flight"]
        step, mode = in_flight.get("step"), self.snap.intent.get("mode")
        if step == "reel_finish":
            return self._reconcile_reel(mode)
        if mode not in ("scheduled", "live"):
            self.fail_unknown(f"the {mode} create ({step}) may or may not have reached the Page, and no Graph "
                              "edge lists drafts", hint=recon.DRAFT_HINT)
        page_id = self.snap.integration.page_id
        sent_at = float(in_flight.get("at") or 0)
        places = recon.places_to_look(mode, self.snap.intent.get("scheduled_publish_time"), now=time.time(),
                                      sent_at=sent_at, lease_seconds=self.settings.publish_lease_seconds)
        try:
            found, seen = recon.find(self.client, page_id, places, message=self.snap.message,
                                     scheduled_publish_time=self.snap.intent.get("scheduled_publish_time"),
                                     sent_at=sent_at, taken=recon.taken_ids(self.snap.integration.id, self.post_id))
            video_id = (recon.video_of(self.client, page_id, found.post_id, sent_at=sent_at)
                        if found is not None and step == "video" else None)
        except GraphError as error:
            if error.code in (100, 10) or (error.code or 0) >= 200 and (error.code or 0) < 300:
                self.fail_unknown(f"cannot list the Page's {mode} posts to check an unknown outcome ({error})")
            raise
        self._pending_events.append(("reconciled", {"step": step, "mode": mode, "places": list(places),
                                                    "adopted": found.post_id if found else None,
                                                    "candidates": seen}))
        if found is None:
            log.info("reconcile_not_found", step=step, mode=mode, candidates=seen, places=list(places))
            self.snap.intent.pop("in_flight", None)
            self._save_ids()
            return None
        log.info("reconcile_adopted", step=step, external_id=found.post_id, where=found.where)
        if video_id is not None:
            self.snap.graph_ids["video_id"] = video_id
        self.snap.graph_ids["post_id"] = found.post_id
        self.snap.intent.pop("in_flight", None)
        live = mode == "live" or found.where == "published_posts"
        return self.complete(PostStatus.PUBLISHED if live else PostStatus.SCHEDULED, found.post_id)

    def _reconcile_reel(self, mode: str | None) -> Outcome | None:
        """Finishing names the reserved video id, so the Video node itself says whether it was finished:
        a ``post_id`` means it was (adopt it); none means it was not (finish again, which cannot make a
        second Reel of the same video)."""
        assert self.snap is not None and self.client is not None
        ids = self.snap.graph_ids
        found = self.client.video_post(str(ids["video_id"]))
        self.snap.intent.pop("in_flight", None)
        self._pending_events.append(("reconciled", {"step": "reel_finish", "mode": mode,
                                                    "adopted": found.post_id}))
        if found.post_id is None:
            self._save_ids()
            return None
        ids["reel_finished"] = True
        ids["post_id"] = found.post_id
        if found.permalink_url:
            ids["permalink_url"] = found.permalink_url
        status = {"scheduled": PostStatus.SCHEDULED, "draft": PostStatus.PLATFORM_DRAFT}.get(str(mode),
                                                                                              PostStatus.PUBLISHED)
        return self.complete(status, found.post_id)

    # ---- endings

    def complete(self, status: str, external_id: str) -> Outcome:
        assert self.snap is not None
        now = utcnow()
        url = self.snap.graph_ids.get("permalink_url") or publish_url(
            self.snap.content_type, self.snap.integration.page_id, external_id, self.snap.graph_ids)
        self.snap.intent.pop("in_flight", None)
        self._fenced(status=status, external_id=external_id, publish_url=url, lease_owner=None, lease_expires_at=None,
                     due_at=None, graph_ids=dict(self.snap.graph_ids), publish_intent=dict(self.snap.intent),
                     published_at=now if status == PostStatus.PUBLISHED else None, last_error=None,
                     event=(status, {"external_id": external_id, "publish_url": url,
                                     "graph_ids": dict(self.snap.graph_ids)}))
        log.info("post_on_page", status=status, external_id=external_id)
        return Outcome(status, external_id)

    def release(self, *, due_at: datetime, reason: str, error: str | None = None,
                refund_attempt: bool = False, wake_up_sent: bool = False) -> None:
        """Hand the post back to ``approved`` with a due time; everything Graph returned stays stored.

        ``wake_up_sent``: the caller sends its own countdown wake-up right after this write, so the
        row is marked enqueued in the same write, at the time that wake-up is due to run, and
        ``dispatch_due`` sends a second one only if it has not come some time after that.
        """
        values: dict[str, Any] = {"status": PostStatus.APPROVED, "lease_owner": None, "lease_expires_at": None,
                                  "due_at": due_at, "enqueued_at": due_at if wake_up_sent else None}
        if refund_attempt:
            values["attempts"] = SocialPost.attempts - 1
        if self.snap is not None:
            values["publish_intent"] = dict(self.snap.intent)
        if error:
            values["last_error"] = error[:2000]
        self._fenced(**values)
        log.info("publish_released", reason=reason, due_at=due_at.isoformat())

    def fail(self, reason: str, *, error: BaseException, kind: str = "failed") -> None:
        """Fail the post for good, and write its ``failed_jobs`` row in the same transaction: a worker
        killed right after this write still leaves an operator something to ``jobs requeue``.
        ``error`` (what the task raises next) is marked, so the task does not write a second row."""
        job = self._failed_job(error, self.snap.tenant_id if self.snap else None)
        self._fenced(status=PostStatus.FAILED, last_error=reason[:2000], lease_owner=None, lease_expires_at=None,
                     due_at=None, event=(kind, {"reason": reason}), in_transaction=lambda session: session.add(job))
        mark_recorded(error, job.id)  # only once committed

    def fail_unknown(self, reason: str, hint: str | None = None) -> None:
        error = OutcomeUnknown(reason, hint)
        self.fail(reason, kind="outcome_unknown", error=error)
        raise error

    def _failed_job(self, error: BaseException, tenant_id: str | None) -> FailedJob:
        return failed_job_row(task_name=TaskName.PUBLISH_POST.value, task_id=self.task_id, args=[self.post_id],
                              kwargs={}, error=error, tenant_id=tenant_id, post_id=self.post_id)


class ReelNotReady(Exception):
    """Meta has not finished processing the uploaded Reel; check again shortly."""


class VideoPostPending(ReelNotReady):
    """Meta has the video but has not named its Page post yet; read again shortly."""


def _unix(when: datetime | None) -> int | None:
    return None if when is None else int(when.timestamp())


def publish_url(content_type: str, page_id: str, external_id: str, graph_ids: dict[str, Any]) -> str:
    """Where a person sees the post, when Graph gave no ``permalink_url`` to store."""
    if content_type == "reel":
        return f"https://www.facebook.com/reel/{graph_ids.get('video_id', external_id)}"
    if content_type == "video":
        return f"https://www.facebook.com/{page_id}/videos/{graph_ids.get('video_id', external_id)}"
    if "_" in external_id:
        page, post = external_id.split("_", 1)
        return f"https://www.facebook.com/{page}/posts/{post}"
    return f"https://www.facebook.com/{external_id}"


# ------------------------------------------------------------------------------- one attempt, end to end

AMBIGUOUS_RECHECK_SECONDS = 5.0
REEL_RECHECK_SECONDS = 30.0


def default_client_factory(settings: Settings) -> Callable[[Integration], GraphClient]:
    return lambda integration: client_for_integration(integration, purpose="publish", settings=settings)


def publish_post(post_id: str, owner: str, settings: Settings,
                 client_factory: Callable[[Integration], GraphClient] | None = None,
                 task_id: str | None = None) -> dict[str, Any]:
    """Claim, gate and publish one post; returns what happened (for the task result and the logs).

    Raises only for work that is over and already recorded on the post: ``GateRefused``,
    ``OutcomeUnknown`` and a ``GraphError`` that fails the post; their ``failed_jobs`` row is written
    with the post's failure (``tasks.domain.failed_jobs.recorded_job_id`` says which). Every other outcome (published, waiting for a window or a throttle, retrying soon, lost
    claim or lease) is a return value.
    """
    publisher = Publisher(post_id, owner, settings, client_factory or default_client_factory(settings),
                          task_id=task_id)
    try:
        if not publisher.claim_and_load():
            log.info("publish_claim_lost")
            return {"post_id": post_id, "status": "skipped"}
    except Held as held:
        return {"post_id": post_id, "status": "held", "reason": str(held)}
    try:
        outcome = publisher.run()
    except LeaseLost:
        log.warning("publish_lease_lost")
        return {"post_id": post_id, "status": "lease_lost"}
    except ReelNotReady:
        _retry_soon(publisher, REEL_RECHECK_SECONDS, "Reel still processing")
        return {"post_id": post_id, "status": "waiting"}
    except GraphError as error:
        try:
            _after_graph_error(publisher, error)  # raises, or releases the post with a due time
        except LeaseLost:
            log.warning("publish_lease_lost")
            return {"post_id": post_id, "status": "lease_lost"}
        return {"post_id": post_id, "status": "waiting", "error": type(error).__name__, "code": error.code}
    return {"post_id": post_id, "status": outcome.status, "external_id": outcome.external_id}


def _after_graph_error(publisher: Publisher, error: GraphError) -> None:
    """Fail the post (and raise) or hand it back with a due time, as the retry policy decides."""
    settings = publisher.settings
    snap = publisher.snap
    attempts = int((snap.intent.get("transient_attempts") if snap else 0) or 0)
    decision = decide(error, attempt=attempts, now=time.time(), deadline=None, settings=settings)
    log.info("publish_error", error_class=type(error).__name__, code=error.code, action=decision.action,
             delay=round(decision.delay, 1), reason=decision.reason)
    if decision.action == "reconnect":
        if snap is not None:
            mark_needs_reconnect(snap.integration.id, error)
        publisher.fail(f"{error} — {RECONNECT_HINT}", kind="failed", error=error)
        raise error
    if decision.action == "fail":
        publisher.fail(str(error), error=error)
        raise error
    in_flight = (snap.intent.get("in_flight") or {}) if snap else {}
    if decision.action == "reconcile" and snap and snap.intent.get("mode") == "draft" \
            and in_flight.get("step") not in (None, "reel_finish"):
        # No edge can show whether the draft was made: say so now rather than after a useless retry.
        publisher.fail_unknown(f"the draft create may or may not have reached the Page ({error})", hint=recon.DRAFT_HINT)
    if decision.spends_attempt and snap is not None:
        snap.intent["transient_attempts"] = attempts + 1
    delay = AMBIGUOUS_RECHECK_SECONDS if decision.action == "reconcile" else decision.delay
    reason = decision.reason if not isinstance(error, RateLimited) else f"throttled ({decision.reason})"
    _retry_soon(publisher, delay, reason, error=str(error), refund_attempt=isinstance(error, RateLimited))


def _retry_soon(publisher: Publisher, delay: float, reason: str, error: str | None = None,
                refund_attempt: bool = False) -> None:
    """Release the post with a due time; wake it with a short countdown, or leave it to dispatch_due.

    A fresh message rather than a Celery retry: the database holds the attempt count, and the
    release (one fenced write) marks the wake-up as sent.
    """
    countdown = broker_countdown(delay, publisher.settings)
    try:
        publisher.release(due_at=utcnow() + timedelta(seconds=delay), reason=reason, error=error,
                          refund_attempt=refund_attempt, wake_up_sent=countdown is not None)
    except LeaseLost:
        return
    if countdown is not None:
        send_or_keep(TaskName.PUBLISH_POST, publisher.post_id, countdown=max(countdown, 0.5))
