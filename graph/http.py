"""The one builder of pooled HTTP sessions for Graph calls.

Keep-alive matters (a TLS handshake per call would double a publish's latency), and urllib3's own
retries are off: whether a call may be sent again is the caller's decision (DESIGN.md rules 3–4).

``ThreadSessions`` is what workers use: one object shared by every client of a process that hands
each thread its own ``requests.Session``. A ``--pool threads`` worker runs many publishes at once,
and ``requests.Session`` is not documented as thread-safe (its cookie jar and adapter maps are plain
objects mutated per request); the pool's threads live as long as the worker, so each keeps its own
keep-alive connections from task to task, and a forked child never reuses its parent's sockets.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Callable

import requests
from requests.adapters import HTTPAdapter


# Variables that make requests route through a proxy (checked once, when a session is made).
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


def pooled_session(*, pool_connections: int = 8, pool_maxsize: int = 32) -> requests.Session:
    session = requests.Session()
    # Without a proxy in the environment, requests' environment lookups per request (every variable
    # scanned for proxies, ~/.netrc read for credentials) cost more CPU than the call itself; and a
    # .netrc entry for the Graph host would even replace our Authorization header. With a proxy
    # configured they stay on, so the proxy and its no_proxy rules are honoured.
    session.trust_env = any(name in os.environ or name.upper() in os.environ for name in PROXY_VARIABLES)
    adapter = HTTPAdapter(pool_connections=pool_connections, pool_maxsize=pool_maxsize, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


class ThreadSessions:
    """A ``requests.Session``-like object whose ``request`` runs on the calling thread's own session."""

    def __init__(self, factory: Callable[[], requests.Session] | None = None) -> None:
        self._factory = factory or (lambda: pooled_session(pool_connections=4, pool_maxsize=4))
        self._local = threading.local()
        self._pid = os.getpid()

    def current(self) -> requests.Session:
        """This thread's session, made on first use (and afresh in a forked child)."""
        if self._pid != os.getpid():
            self._local, self._pid = threading.local(), os.getpid()
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = self._factory()
        return session

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        return self.current().request(method, url, **kwargs)

    def close(self) -> None:
        """Close the calling thread's session (the others close with their threads' sockets)."""
        session = getattr(self._local, "session", None)
        if session is not None:
            session.close()
            self._local.session = None
