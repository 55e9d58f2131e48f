"""An album's photos go out at once, and each id is stored on the publishing thread as it returns."""

from __future__ import annotations

import threading

import pytest

from graph.client import PhotoResult
from graph.errors import Transient
from tasks.domain import album_uploads

MEDIA = [{"url": f"https://cdn.example.com/{i}.jpg"} for i in range(3)]


class BarrierClient:
    """upload_photo returns only once every upload of the album is in flight at the same time."""

    def __init__(self, parties: int, fail_url: str | None = None) -> None:
        self.barrier = threading.Barrier(parties, timeout=10)
        self.fail_url = fail_url
        self.sent: list[dict[str, object]] = []
        self.lock = threading.Lock()

    def upload_photo(self, page_id: str, url: str, **kwargs: object) -> PhotoResult:
        with self.lock:
            self.sent.append({"page_id": page_id, "url": url, **kwargs})
        self.barrier.wait()  # BrokenBarrierError if the uploads ran one after another
        if url == self.fail_url:
            raise Transient("upload failed")
        return PhotoResult(id=f"photo-{url.rsplit('/', 1)[1]}", post_id=None)


def test_the_uploads_of_an_album_are_in_flight_together_and_each_id_is_stored_on_the_callers_thread():
    client = BarrierClient(parties=3)
    stored: list[tuple[int, str, str]] = []
    album_uploads.upload_photos(client, "page-1", MEDIA, [0, 1, 2], temporary=True,  # type: ignore[arg-type]
                                on_uploaded=lambda i, r: stored.append((i, r.id, threading.current_thread().name)))
    assert sorted((i, photo) for i, photo, _t in stored) == [(0, "photo-0.jpg"), (1, "photo-1.jpg"), (2, "photo-2.jpg")]
    assert {t for _i, _p, t in stored} == {threading.current_thread().name}
    assert all(sent["published"] is False and sent["temporary"] is True for sent in client.sent)
    assert len(client.sent) == 3  # n calls, no more


def test_a_failed_upload_keeps_the_others_ids_and_raises_once_they_have_ended():
    client = BarrierClient(parties=3, fail_url=MEDIA[1]["url"])
    stored: list[int] = []
    with pytest.raises(Transient):
        album_uploads.upload_photos(client, "page-1", MEDIA, [0, 1, 2], temporary=False,  # type: ignore[arg-type]
                                    on_uploaded=lambda i, r: stored.append(i))
    assert sorted(stored) == [0, 2]


def test_after_a_failed_store_nothing_more_is_written():
    client = BarrierClient(parties=3)
    stored: list[int] = []

    class LeaseLost(Exception):
        pass

    def store(index: int, _result: PhotoResult) -> None:
        stored.append(index)
        raise LeaseLost()

    with pytest.raises(LeaseLost):
        album_uploads.upload_photos(client, "page-1", MEDIA, [0, 1, 2], temporary=False,  # type: ignore[arg-type]
                                    on_uploaded=store)
    assert len(stored) == 1


def test_only_missing_or_stale_photos_are_uploaded_again():
    stored = {"0": {"id": "a", "at": 1000.0}, "2": {"id": "c", "at": 10.0}}
    assert album_uploads.photos_to_upload(MEDIA, stored, reuse_seconds=500, now=1100.0) == [1, 2]
