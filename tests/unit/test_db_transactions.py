"""after_commit runs follow-up work only when the transaction commits."""

import pytest

from models import Tenant
from models.db import after_commit, transaction


def test_callback_runs_after_commit_only(db):
    ran = []
    with transaction() as s:
        s.add(Tenant(name="a"))
        after_commit(s, lambda: ran.append("sent"))
        assert ran == []
    assert ran == ["sent"]


def test_callback_dropped_on_rollback(db):
    ran = []
    with pytest.raises(RuntimeError):
        with transaction() as s:
            after_commit(s, lambda: ran.append("sent"))
            raise RuntimeError("boom")
    with transaction() as s:
        s.add(Tenant(name="b"))
    assert ran == []
