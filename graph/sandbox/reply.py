"""What the router hands the HTTP layer: one :class:`Reply` per request (or batch item).

Its own module because the Graph routes (:mod:`graph.sandbox.router`), the admin API
(:mod:`graph.sandbox.admin`) and the HTTP server (:mod:`graph.sandbox.server`) all speak it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Reply:
    """What to send back. ``action`` is "respond", "drop" (close without a response) or "timeout"."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    action: str = "respond"
    delay: float = 0.0
