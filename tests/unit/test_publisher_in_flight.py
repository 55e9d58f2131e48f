"""The in-flight mark lives exactly as long as a create call's outcome is unknown."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from graph.errors import Ambiguous, BudgetExhausted, InvalidRequest
from tasks.domain.publisher import Publisher


class _Recorder(Publisher):
    def __init__(self) -> None:
        super().__init__("post", "owner", settings=None, client_factory=lambda i: None)  # type: ignore[arg-type]
        self.snap = SimpleNamespace(intent={}, graph_ids={}, message="hello")  # type: ignore[assignment]
        self.saved: list[dict] = []

    def _save_ids(self) -> None:
        self.saved.append(dict(self.snap.intent))  # type: ignore[union-attr]


@pytest.mark.parametrize("error", [BudgetExhausted(retry_at=1.0), InvalidRequest("bad", code=100)])
def test_definite_outcomes_clear_the_mark(error):
    publisher = _Recorder()
    with pytest.raises(type(error)):
        with publisher._in_flight("feed"):
            raise error
    assert "in_flight" in publisher.saved[0]
    assert "in_flight" not in publisher.snap.intent  # the next attempt sends without reconciling


def test_an_ambiguous_outcome_or_a_crash_keeps_the_mark():
    publisher = _Recorder()
    with pytest.raises(Ambiguous):
        with publisher._in_flight("feed"):
            raise Ambiguous("read timeout after sending")
    assert publisher.snap.intent["in_flight"]["step"] == "feed"
    crashed = _Recorder()
    with pytest.raises(KeyboardInterrupt):
        with crashed._in_flight("video"):
            raise KeyboardInterrupt
    assert crashed.snap.intent["in_flight"]["step"] == "video"
