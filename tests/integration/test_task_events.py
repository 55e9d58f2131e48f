"""Task events from a real worker reach a listener on the broker once it asks for them, as Flower does
(`enable_events`, then `celery events`)."""

from __future__ import annotations

import threading
import uuid

import pytest

from tests.support.waits import wait_for
from worker.app import app

pytestmark = pytest.mark.integration


def test_a_listener_sees_sent_received_and_failed_events_of_one_task(db, workers):
    workers.start(queues=("default",))
    seen: list[dict] = []
    receivers: list = []
    ready = threading.Event()

    def listen() -> None:
        with app.connection_for_read() as connection:
            receivers.append(app.events.Receiver(connection, handlers={"*": seen.append}))
            ready.set()
            receivers[0].capture(limit=None, timeout=None, wakeup=True)

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    assert ready.wait(10)

    def enabled() -> bool:
        # Workers start without task events (their CPU cost; worker/app.py): a monitor turns them on,
        # as Flower does by broadcasting enable_events every 5 s. Until then the stream stays empty.
        app.control.enable_events()
        return bool(seen)

    wait_for(enabled, 15, interval=1.0, what="the event stream (worker heartbeats)")  # bound before anything is sent
    post_id = str(uuid.uuid4())  # no such post: the task fails for good, with a plain reason
    result = app.send_task("approval.approve", args=[post_id, "ann", "0" * 64])
    wait_for(lambda: {"task-sent", "task-received", "task-started", "task-failed"} <=
             {e["type"] for e in seen if e.get("uuid") == result.id}, 30, what="the task's events")
    sent = next(e for e in seen if e.get("uuid") == result.id and e["type"] == "task-sent")
    assert sent["name"] == "approval.approve" and sent["queue"] == "default"
    receivers[0].should_stop = True
    thread.join(10)
