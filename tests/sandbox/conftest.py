"""The sandbox server the sandbox unit tests share: one per module, emptied before each test.

A module sets ``SANDBOX_SEED`` (deterministic ids and series) and may set ``SANDBOX_BUDGET``
(keyword arguments for ``set_budget``); every test ends by checking the sandbox raised no internal
error and saw no token in a URL unless the module allows it (``SANDBOX_ALLOW_TOKEN_IN_URL``).
"""

from __future__ import annotations

from typing import Iterator

import pytest

from graph.sandbox import SandboxServer

ROOMY_BUDGET = {"calls_per_window": 10_000, "window_seconds": 3600, "app_calls_per_window": None}


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest) -> Iterator[SandboxServer]:
    srv = SandboxServer(port=0, seed=getattr(request.module, "SANDBOX_SEED", 1), calls_per_window=10_000).start()
    yield srv
    srv.stop()


@pytest.fixture
def srv(server: SandboxServer, request: pytest.FixtureRequest) -> Iterator[SandboxServer]:
    server.reset()
    server.set_budget(**getattr(request.module, "SANDBOX_BUDGET", ROOMY_BUDGET))
    yield server
    stats = server.stats()
    assert stats["internal_errors"] == []
    if not getattr(request.module, "SANDBOX_ALLOW_TOKEN_IN_URL", False):
        assert stats["token_in_url_calls"] == 0


@pytest.fixture
def app_srv() -> Iterator[tuple[SandboxServer, str]]:
    """A sandbox that knows an app secret (so its app token ``{app_id}|{secret}`` and the OAuth endpoints work)."""
    secret = "sandbox-app-secret-for-tests"
    srv = SandboxServer(port=0, seed=3, calls_per_window=10_000, app_secret=secret).start()
    yield srv, secret
    assert srv.stats()["internal_errors"] == []
    srv.stop()
