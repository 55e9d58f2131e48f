"""Hostile writer output at the intake boundary: any JSON value in any field is accounted for.

Every payload ends as a stored post (``pending_approval`` only when it has no reason; ``invalid`` with
plain, storable reasons otherwise) or as an ``IntakeRejected`` whose ``failed_jobs`` row is stored; on
both databases. The text rule (``tasks.domain.untrusted``): NUL, C0 controls and lone surrogates are
refused with the field and position named, and the copy is never changed for a valid post.
"""

from __future__ import annotations

import json
import math

import pytest

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from models import FailedJob, PostEvent, PostStatus, SocialPost
from models.db import transaction
from tasks.domain.content import content_hash, payload_hash
from tasks.domain.failed_jobs import record_failed_job
from tasks.domain.intake import IntakeRejected, intake
from tasks.domain.planning import plan_month
from tasks.domain.untrusted import first_forbidden, nesting_depth, storable
from tests.support.factories import connect, make_tenant
from tests.support.hostile import any_value, writer_payloads

FUTURE = "2030-01-02T10:00:00+00:00"


def _assert_storable(value: object) -> None:
    """What a row holds is JSON that any database and UTF-8 take: no forbidden character, finite."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    assert first_forbidden(text) is None, text[:200]
    text.encode("utf-8")


def _world() -> tuple[list[str], list[str], list[str]]:
    tenant_id = make_tenant("Hostile", cadence={"weekdays": [0, 3], "times": ["10:00"]})
    integration_id = connect(tenant_id, "p-hostile", "EAAhostiletoken00000000000000000001")
    with transaction() as session:
        slots = plan_month(session, tenant_id, "2030-01").slot_ids
    return [tenant_id], slots[:3], [integration_id]


def _take(payload: object) -> str:
    """Run intake as its callers do; returns how the payload was accounted for."""
    try:
        with transaction() as session:
            result = intake(session, payload)
    except IntakeRejected as rejected:
        job_id = record_failed_job(task_name="posts.intake", task_id=None, args=[payload], kwargs={}, error=rejected)
        assert job_id is not None, "the rejected payload has no failed_jobs row"
        with transaction() as session:
            job = session.get(FailedJob, job_id)
            assert job is not None and job.error_class == "IntakeRejected"
            _assert_storable([job.args, job.kwargs, job.error_message])
        return "rejected"
    with transaction() as session:
        post = session.get(SocialPost, result.post_id)
        assert post is not None, "intake returned a post that is not stored"
        assert post.status == result.status
        if post.status == PostStatus.INVALID:
            assert post.invalid_reasons, "an invalid post without reasons"
        else:
            assert post.status in (PostStatus.PENDING_APPROVAL, PostStatus.APPROVED), post.status
            assert not post.invalid_reasons
        _assert_storable([post.invalid_reasons, post.message, post.link, post.media, post.writer_run_id])
        for reason in post.invalid_reasons or []:
            assert isinstance(reason, str) and 0 < len(reason) < 400 and "Traceback" not in reason, reason
        events = session.scalars(select(PostEvent).where(PostEvent.post_id == post.id)).all()
        _assert_storable([e.detail for e in events])
        if result.outcome != "duplicate" and post.status == PostStatus.PENDING_APPROVAL and isinstance(payload, dict):
            # A valid post is the writer's copy exactly: socialcal never changes a person's text.
            assert post.message == (payload.get("message") or None)
    return result.outcome


@pytest.fixture
def world(db):
    """Built once per test and database; hypothesis runs every example of the test against it."""
    return _world()


@given(data=st.data())
def test_any_writer_output_is_a_post_or_a_failed_job(world, data):
    tenants, slots, integrations = world
    payloads = data.draw(st.lists(writer_payloads(tenants, slots, integrations), min_size=1, max_size=4))
    for payload in payloads:
        assert _take(payload) in {"created", "duplicate", "replaced", "kept_on_facebook", "rejected"}


@given(value=any_value())
def test_hashing_never_crashes_and_is_stable(value):
    first = payload_hash(value)
    assert first == payload_hash(value) and len(first) == 64
    assert len(content_hash(content_type="text", message=value if isinstance(value, str) else None, link=None,
                            media=[], integration_id=None)) == 64


@given(value=any_value())
def test_storable_is_always_storable_and_bounded(value):
    kept = storable(value)
    _assert_storable(kept)
    assert nesting_depth(kept) <= 16


def test_valid_unicode_hashes_as_before():
    # surrogatepass changes nothing for valid text: the hash of non-ASCII copy is what it always was.
    import hashlib

    expected = hashlib.sha256(json.dumps({"m": "Grüße 😀"}, sort_keys=True, separators=(",", ":"),
                                         ensure_ascii=False).encode()).hexdigest()
    assert payload_hash({"m": "Grüße 😀"}) == expected


def test_nul_and_surrogate_are_refused_naming_field_and_position(db):
    tenants, _slots, integrations = _world()
    with transaction() as session:
        nul = intake(session, {"tenant_id": tenants[0], "integration_id": integrations[0], "message": "Hi\x00there",
                               "scheduled_at": FUTURE})
        lone = intake(session, {"tenant_id": tenants[0], "integration_id": integrations[0], "message": "ok",
                                "media": [{"url": "https://cdn.example/a.jpg", "type": "image", "alt_text": "a\ud800"}],
                                "scheduled_at": FUTURE})
    assert nul.status == lone.status == PostStatus.INVALID
    assert any("message has U+0000 (NUL) at character 3" in r for r in nul.reasons), nul.reasons
    assert any("media #1 alt_text has U+D800" in r and "character 2" in r for r in lone.reasons), lone.reasons
    with transaction() as session:
        post = session.get(SocialPost, nul.post_id)
        assert post.message == "Hi\\u0000there"  # kept, escaped, never published (it is invalid)
        event = session.scalars(select(PostEvent).where(PostEvent.post_id == post.id)).one()
        assert event.detail["payload"]["message"] == "Hi\\u0000there"


def test_wrong_types_are_reasons_not_errors(db):
    tenants, _slots, integrations = _world()
    payload = {"tenant_id": tenants[0], "integration_id": integrations[0], "message": "hi", "scheduled_at": FUTURE,
               "content_type": ["text"], "media": [{"url": "https://[", "type": {"x": math.nan}}],
               "writer_run_id": {"a": 1}, "link": ["https://x"]}
    with transaction() as session:
        result = intake(session, payload)
    assert result.status == PostStatus.INVALID
    text = " | ".join(result.reasons)
    for fragment in ("content_type must be one of", "media #1 URL must be https", "media #1 type must be",
                     "writer_run_id must be text", "link must be an https"):
        assert fragment in text, text


def test_times_at_the_edge_of_the_calendar_are_reasons(db):
    tenants, _slots, integrations = _world()
    for when in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"):
        with transaction() as session:
            result = intake(session, {"tenant_id": tenants[0], "integration_id": integrations[0], "message": "hi",
                                      "scheduled_at": when})
        assert result.status == PostStatus.INVALID and any("outside the years" in r for r in result.reasons)


def test_deep_nesting_is_a_reason(db):
    tenants, _slots, integrations = _world()
    deep: object = "x"
    for _ in range(5000):
        deep = [deep]
    with transaction() as session:
        result = intake(session, {"tenant_id": tenants[0], "integration_id": integrations[0], "message": "hi",
                                  "scheduled_at": FUTURE, "extra": deep})
    assert result.status == PostStatus.INVALID and any("deeper than 32 levels" in r for r in result.reasons)
