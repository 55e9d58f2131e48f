"""An album's photos uploaded at once: the album waits about one upload, not one per photo.

An album of n photos is still n + 1 Graph calls (n unpublished ``/photos`` uploads, then one ``/feed``
call naming them; GRAPH_NOTES "Publishing"), but the uploads do not depend on each other, so they
are sent together from a small pool of threads shared by the process. Each id is handed to the
caller (``on_uploaded``, the publisher's fenced write) the moment its upload returns, on the caller's
own thread, one at a time: the database sees exactly the writes it saw when the uploads ran one
after another, only sooner. If an upload fails, the others still finish and their ids are stored
(unpublished photos are not on the Page, so an upload whose outcome is unknown is simply sent
again next time), then the first error is raised.
"""

from __future__ import annotations

import contextvars
import time
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from typing import Any, Callable, Mapping, Sequence

from graph.client import GraphClient, PhotoResult
from worker.core.process_local import PerProcess

# Uploads in flight per process, across every album being published. The threads live as long as
# the process, so each keeps its own HTTP session (graph.http.ThreadSessions) and its keep-alive.
UPLOAD_THREADS = 16

_executors: PerProcess[str, ThreadPoolExecutor] = PerProcess()


def _executor() -> ThreadPoolExecutor:
    return _executors.get("album", lambda: ThreadPoolExecutor(UPLOAD_THREADS, thread_name_prefix="album-upload"))


def photos_to_upload(media: Sequence[Mapping[str, Any]], stored: Mapping[str, Any], reuse_seconds: float,
                     now: float | None = None) -> list[int]:
    """Indexes of the photos that have no usable upload yet (none stored, or too old to attach)."""
    now = time.time() if now is None else now
    return [index for index in range(len(media))
            if not (stored.get(str(index)) and now - stored[str(index)]["at"] < reuse_seconds)]


def upload_photos(client: GraphClient, page_id: str, media: Sequence[Mapping[str, Any]], indexes: Sequence[int], *,
                  temporary: bool, on_uploaded: Callable[[int, PhotoResult], None]) -> None:
    """Upload ``media[i]`` for each index at once, unpublished; ``on_uploaded(i, result)`` runs on this
    thread as each one returns. Raises the first error once every upload has ended (or the first
    error ``on_uploaded`` raises, such as a lost lease, after letting the others end)."""
    if not indexes:
        return

    def upload(index: int) -> PhotoResult:
        item = media[index]
        return client.upload_photo(page_id, item["url"], alt_text=item.get("alt_text"), published=False,
                                   temporary=temporary)

    if len(indexes) == 1:  # nothing to overlap
        on_uploaded(indexes[0], upload(indexes[0]))
        return
    pool = _executor()
    # Each upload runs in a copy of this thread's context, so its log lines keep the task's ids.
    futures: dict[Future[PhotoResult], int] = {
        pool.submit(contextvars.copy_context().run, upload, index): index for index in indexes}
    upload_error: BaseException | None = None
    store_error: BaseException | None = None
    for future in as_completed(futures):
        try:
            result = future.result()
        except BaseException as error:  # noqa: BLE001 - raised once every upload has ended
            upload_error = upload_error or error
            continue
        if store_error is None:  # after a failed store (a lost lease) nothing more may be written
            try:
                on_uploaded(futures[future], result)
            except BaseException as error:  # noqa: BLE001
                store_error = error
    if store_error is not None:
        raise store_error
    if upload_error is not None:
        raise upload_error


def upload_missing(client: GraphClient, page_id: str, media: Sequence[Mapping[str, Any]], photos: dict[str, Any],
                   reuse_seconds: float, *, temporary: bool, store: Callable[[], None]) -> None:
    """The publisher's album step: upload every photo of ``media`` without a usable id in ``photos``
    (index -> ``{"id", "at"}``) at once; each id is put in ``photos`` and ``store()``d (the publisher's
    fenced write) the moment it returns."""
    def uploaded(index: int, result: PhotoResult) -> None:
        photos[str(index)] = {"id": result.id, "at": time.time()}
        store()

    upload_photos(client, page_id, media, photos_to_upload(media, photos, reuse_seconds), temporary=temporary,
                  on_uploaded=uploaded)
