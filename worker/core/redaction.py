"""Remove secrets from anything that may be logged, stored in ``failed_jobs`` or raised.

Two layers, because either alone leaks: keys that are secret by name (``access_token``,
``api_key``, ``Authorization``, ``appsecret_proof``…) are masked wherever they appear in a nested
structure, and every token this process has decrypted is registered so that its literal value is
masked even inside free text such as an exception message or a URL.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from typing import Any

REDACTED = "[REDACTED]"

_SECRET_KEY = re.compile(
    r"(access_?token|api_?key|authorization|appsecret_proof|app_secret|page_token|user_token|"
    r"password|secret|encryption_keys|^token$)",
    re.IGNORECASE,
)
_INLINE_PATTERNS = (
    re.compile(r"((?:access_token|appsecret_proof|api_key|client_secret)=)[^&\s'\"]+", re.IGNORECASE),
    re.compile(r"((?:\"|')(?:access_token|api_key|appsecret_proof)(?:\"|')\s*:\s*(?:\"|'))[^\"']+", re.IGNORECASE),
    re.compile(r"((?:Authorization:\s*)?(?:OAuth|Bearer)\s+)[A-Za-z0-9._\-|%]{8,}", re.IGNORECASE),
    # Graph tokens: long opaque strings starting with EAA (user, Page and system-user tokens).
    re.compile(r"()\bEAA[A-Za-z0-9]{20,}"),
)


class _KnownSecrets:
    """A bounded set of literal secrets seen by this process (decrypted tokens, app secret).

    Masking uses one compiled alternation of the secrets known when it was built, plus plain string
    replacement for the few added since; the alternation is rebuilt only when those newcomers
    outnumber a fraction of it, so a worker that decrypts a thousand tokens in a daily pull compiles
    a handful of patterns, not a thousand (amortised linear, not quadratic).
    """

    def __init__(self, capacity: int = 20_000) -> None:
        self._values: OrderedDict[str, None] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()
        self._pattern: re.Pattern[str] | None = None
        self._recent: list[str] = []

    def add(self, value: str | None) -> None:
        if not value or len(value) < 8:
            return
        with self._lock:
            if value in self._values:
                self._values.move_to_end(value)
                return
            self._values[value] = None
            while len(self._values) > self._capacity:
                evicted, _ = self._values.popitem(last=False)
                if evicted in self._recent:
                    self._recent.remove(evicted)
            self._recent.append(value)
            if len(self._recent) > max(32, (len(self._values) - len(self._recent)) // 2):
                ordered = sorted(self._values, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(v) for v in ordered))
                self._recent = []

    def scrub(self, text: str) -> str:
        with self._lock:
            pattern, recent = self._pattern, list(self._recent)
        if pattern is not None:
            text = pattern.sub(REDACTED, text)
        for value in sorted(recent, key=len, reverse=True):
            if value in text:
                text = text.replace(value, REDACTED)
        return text


known_secrets = _KnownSecrets()


def register_secret(value: str | None) -> None:
    """Remember a secret's literal value so every later redaction masks it wherever it appears."""
    known_secrets.add(value)


def redact_text(text: str) -> str:
    text = known_secrets.scrub(text)
    for pattern in _INLINE_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return text


def redact(value: Any, _depth: int = 0) -> Any:
    """Return a copy of ``value`` with secrets masked, recursing through dicts, lists and tuples."""
    if _depth > 12:
        return value
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {
            key: (REDACTED if isinstance(key, str) and _SECRET_KEY.search(key) and item not in (None, "")
                  else redact(item, _depth + 1))
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        cleaned = [redact(item, _depth + 1) for item in value]
        return type(value)(cleaned) if isinstance(value, tuple) else cleaned
    if isinstance(value, BaseException):
        return redact_text(f"{type(value).__name__}: {value}")
    return value
