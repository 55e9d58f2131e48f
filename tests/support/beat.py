"""Beat's dispatch_due (and its outbox sweep), played in a thread every second instead of every minute.

Fault tests use it so the backstop runs often while services come and go; it rides out an outage of
the database or the broker (that second's sweep fails, the next one runs).
"""

from __future__ import annotations

import threading
from datetime import datetime, timezone

from models.db import transaction
from tasks.domain.dispatch import dispatch_due
from tasks.domain.messaging import resend_outbox
from worker.core.settings import get_settings


class FastBeat(threading.Thread):
    def __init__(self, every: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.every = every
        self.stop = threading.Event()
        self.runs = 0
        self.errors = 0

    def run(self) -> None:
        while not self.stop.wait(self.every):
            try:
                with transaction() as session:
                    dispatch_due(session, datetime.now(timezone.utc), get_settings())
                with transaction() as session:
                    resend_outbox(session, datetime.now(timezone.utc))
                self.runs += 1
            except Exception:  # noqa: BLE001 - the service is down right now; next time
                self.errors += 1

    def close(self) -> None:
        self.stop.set()
        self.join(10)
