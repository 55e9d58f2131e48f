"""Objects made once per OS process: DB engines, HTTP sessions, Redis clients, budgets.

A Celery prefork child must never reuse a connection its parent opened (two processes on one socket
corrupt both), so every such object is keyed by the process id as well as its own key: a forked
child simply makes its own on first use.
"""

from __future__ import annotations

import os
import threading
from typing import Callable, Generic, Hashable, Iterator, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class PerProcess(Generic[K, V]):
    def __init__(self) -> None:
        self._items: dict[tuple[int, K], V] = {}
        self._lock = threading.Lock()

    def get(self, key: K, make: Callable[[], V]) -> V:
        """This process's object for ``key``, made by ``make`` once (thread-safe)."""
        slot = (os.getpid(), key)
        item = self._items.get(slot)
        if item is None:
            with self._lock:
                item = self._items.get(slot)
                if item is None:
                    item = self._items[slot] = make()
        return item

    def drop_inherited(self) -> Iterator[V]:
        """Forget (and yield, for closing without touching their sockets) objects of other processes."""
        pid = os.getpid()
        for slot in [s for s in list(self._items) if s[0] != pid]:
            yield self._items.pop(slot)

    def clear(self) -> list[V]:
        """Forget every object; returns them so the caller can close them."""
        with self._lock:
            items, self._items = list(self._items.values()), {}
        return items

