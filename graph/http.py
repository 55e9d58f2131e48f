"""The one builder of pooled HTTP sessions for Graph calls.

Keep-alive matters (a TLS handshake per call would double a publish's latency), and urllib3's own
retries are off: whether a call may be sent again is the caller's decision (DESIGN.md rules 3–4).
"""

from __future__ import annotations

import requests
from requests.adapters import HTTPAdapter


def pooled_session(*, pool_connections: int = 8, pool_maxsize: int = 32) -> requests.Session:
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=pool_connections, pool_maxsize=pool_maxsize, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
