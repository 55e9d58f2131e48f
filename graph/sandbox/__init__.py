"""The sandbox Graph server: a real HTTP server on loopback that plays Meta's Graph API.

A package of its own so the rules it plays (budget, faults, publishing, reads, insights) each live
in one module, and so nothing of socialcal's own runtime leaks into it: it imports only the
standard library and its own modules. The ``sandbox``/``demo`` commands, the benchmarks and the
tests import it; the worker never does.
"""

from graph.sandbox.server import API_VERSION, PageRecord, Reply, Router, SandboxServer, SandboxState, serve

__all__ = ["API_VERSION", "PageRecord", "Reply", "Router", "SandboxServer", "SandboxState", "serve"]
