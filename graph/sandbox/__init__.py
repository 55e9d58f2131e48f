"""The sandbox Graph server: a real HTTP server on loopback that plays Meta's Graph API.

A package of its own so that each family of Graph rules lives in one module, and so that nothing
of socialcal's runtime leaks into it: it imports only the standard library and its own modules
(the worker never imports it; the ``sandbox``/``demo`` commands, the benchmarks and the tests do).

Layers, top down:

* :mod:`~graph.sandbox.server` — :class:`SandboxServer` (HTTP in a background thread, and the
  Python API tests use) and :func:`serve` (the foreground ``socialcal sandbox`` command).
* :mod:`~graph.sandbox.router` — :class:`Router`: Graph's routes, batch, paging links;
  :mod:`~graph.sandbox.admin` — the ``/_sandbox`` admin API; :mod:`~graph.sandbox.reply` — :class:`Reply`.
* :mod:`~graph.sandbox.state` — :class:`SandboxState`, the per-call path (token, budget, faults)
  over the rules: :mod:`~graph.sandbox.limits` (budget, usage headers, throttles),
  :mod:`~graph.sandbox.faults`, :mod:`~graph.sandbox.publishing`, :mod:`~graph.sandbox.reads`,
  :mod:`~graph.sandbox.insights`, all mixins over :mod:`~graph.sandbox.store` (Pages, tokens,
  objects, the lock).
* :mod:`~graph.sandbox.records`, :mod:`~graph.sandbox.params`, :mod:`~graph.sandbox.errors` —
  the data, request parsing and Graph's error bodies; :mod:`~graph.sandbox.series` — the numbers.
"""

from graph.sandbox.records import PageRecord
from graph.sandbox.reply import Reply
from graph.sandbox.router import API_VERSION, Router
from graph.sandbox.server import SandboxServer, serve
from graph.sandbox.state import SandboxState

__all__ = ["API_VERSION", "PageRecord", "Reply", "Router", "SandboxServer", "SandboxState", "serve"]
