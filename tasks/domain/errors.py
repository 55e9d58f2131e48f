"""Errors the domain raises that are not Graph errors. Imports nothing, so any layer may catch them."""

from __future__ import annotations


class BadMessage(ValueError):
    """Work that can never succeed as asked (a malformed id, a wrong type, a post in the wrong state).

    Failed at once and kept in ``failed_jobs`` with this message; never retried.
    """


class TryLater(Exception):
    """The work cannot run yet (for example, the post is being published right now): run it again in
    ``countdown`` seconds, at most ``max_retries`` times."""

    def __init__(self, reason: str, *, countdown: float = 30.0, max_retries: int = 20) -> None:
        super().__init__(reason)
        self.countdown = countdown
        self.max_retries = max_retries
