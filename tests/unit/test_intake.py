"""Writer intake: routing, every reason stored, duplicates collapse, replacement clears approval."""

import pytest

from models import PostEvent, PostStatus, SocialPost
from models.db import transaction
from tasks.domain.approval import approve
from tasks.domain.content import MAX_MESSAGE_CHARS, check_content
from tasks.domain.intake import IntakeRejected, intake
from tests.support.factories import connect, make_tenant

IMG = {"url": "https://cdn.example/a.jpg", "type": "image"}
VID = {"url": "https://cdn.example/a.mp4", "type": "video"}


@pytest.mark.parametrize(("payload", "expected"), [
    ({"message": "hi"}, "text"),
    ({"message": "hi", "link": "https://example.com"}, "link"),
    ({"media": [IMG]}, "photo"),
    ({"media": [IMG, IMG, IMG]}, "album"),
    ({"media": [VID]}, "video"),
    ({"media": [VID], "content_type": "reel"}, "reel"),
])
def test_routing_follows_the_graph_api(payload, expected):
    checked = check_content(payload)
    assert checked.is_valid, checked.reasons
    assert checked.content_type == expected


@pytest.mark.parametrize(("payload", "fragment"), [
    ({"message": "x" * (MAX_MESSAGE_CHARS + 1)}, "63,206"),
    ({"media": [IMG] * 11}, "at most 10"),
    ({"media": [IMG, VID]}, "cannot be mixed"),
    ({"media": [VID, VID]}, "one video"),
    ({"media": [{"url": "http://insecure/a.jpg", "type": "image"}]}, "https"),
    ({}, "empty"),
    ({"message": "hi", "content_type": "photo"}, "does not match"),
])
def test_each_rejection_rule_has_a_plain_reason(payload, fragment):
    reasons = check_content(payload).reasons
    assert any(fragment in r for r in reasons), reasons


def _payload(tenant_id, **extra):
    return {"tenant_id": tenant_id, "platform": "facebook", "message": "Hello",
            "scheduled_at": "2030-01-02T10:00:00+00:00", **extra}


def test_invalid_output_is_stored_with_all_reasons(db):
    tenant_id = make_tenant()
    connect(tenant_id, "p1", "EAAtokenvalue000000000000000000001")
    with transaction() as s:
        result = intake(s, _payload(tenant_id, message="", media=[IMG, VID], scheduled_at="2030-01-02T10:00"))
    assert result.status == PostStatus.INVALID
    assert len(result.reasons) >= 2
    with transaction() as s:
        post = s.get(SocialPost, result.post_id)
        assert post.status == PostStatus.INVALID and post.invalid_reasons == result.reasons
        assert any("UTC offset" in r for r in post.invalid_reasons)
        assert s.query(PostEvent).filter_by(post_id=post.id, kind="invalid").count() == 1


def test_unknown_tenant_is_refused_loudly():
    with pytest.raises(IntakeRejected):
        intake(None, {"tenant_id": "not-a-uuid"})  # type: ignore[arg-type]


def test_same_output_twice_is_one_post_and_new_output_replaces_and_clears_approval(db):
    tenant_id = make_tenant()
    connect(tenant_id, "p1", "EAAtokenvalue000000000000000000001")
    with transaction() as s:
        first = intake(s, _payload(tenant_id))
    with transaction() as s:
        again = intake(s, _payload(tenant_id))
    assert again.outcome == "duplicate" and again.post_id == first.post_id

    from tasks.domain.planning import plan_month
    with transaction() as s:
        slot_id = plan_month(s, tenant_id, "2031-03").slot_ids[0]
    with transaction() as s:
        a = intake(s, _payload(tenant_id, slot_id=slot_id, scheduled_at=None))
    with transaction() as s:
        post = s.get(SocialPost, a.post_id)
        assert approve(s, post.id, "ann", post.content_hash).accepted
    with transaction() as s:
        b = intake(s, _payload(tenant_id, slot_id=slot_id, scheduled_at=None, message="Changed"))
    assert (b.post_id, b.outcome, b.status) == (a.post_id, "replaced", PostStatus.PENDING_APPROVAL)
    with transaction() as s:
        post = s.get(SocialPost, a.post_id)
        assert post.approved_hash is None and post.approved_by is None and post.message == "Changed"
        assert s.query(SocialPost).count() == 2


def test_integration_is_required_when_the_tenant_has_two_pages(db):
    tenant_id = make_tenant()
    connect(tenant_id, "p1", "EAAtokenvalue000000000000000000001")
    connect(tenant_id, "p2", "EAAtokenvalue000000000000000000002")
    with transaction() as s:
        result = intake(s, _payload(tenant_id))
    assert result.status == PostStatus.INVALID
    assert any("integration_id is required" in r for r in result.reasons)


@pytest.mark.parametrize("images", [2, 9, 10])
def test_an_album_of_up_to_ten_images_passes(images):
    checked = check_content({"message": "album", "media": [IMG] * images})
    assert checked.is_valid, checked.reasons
    assert checked.content_type == "album" and len(checked.media) == images


def test_eleven_images_are_refused_with_the_reason():
    checked = check_content({"message": "album", "media": [IMG] * 11})
    assert checked.reasons == ["11 images; a Facebook album takes at most 10"]


def test_the_album_limit_at_intake(db):
    tenant_id = make_tenant()
    connect(tenant_id, "p1", "EAAtokenvalue000000000000000000001")
    ten = [{"url": f"https://cdn.example/{n}.jpg", "type": "image"} for n in range(10)]
    eleven = ten + [{"url": "https://cdn.example/10.jpg", "type": "image"}]
    with transaction() as s:
        accepted = intake(s, _payload(tenant_id, media=ten))
    with transaction() as s:
        refused = intake(s, _payload(tenant_id, media=eleven, message="one too many"))
    assert (accepted.status, accepted.reasons) == (PostStatus.PENDING_APPROVAL, [])
    assert refused.status == PostStatus.INVALID
    with transaction() as s:
        album = s.get(SocialPost, accepted.post_id)
        assert album.content_type == "album" and len(album.media) == 10
        assert s.get(SocialPost, refused.post_id).invalid_reasons == ["11 images; a Facebook album takes at most 10"]
