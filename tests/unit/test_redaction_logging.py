import io
import json
import logging

import structlog

from worker.core.logging import configure_logging
from worker.core.redaction import REDACTED, redact, redact_text, register_secret

TOKEN = "EAAGm0PX4ZCpsBAKZCZBZAZCtestPageToken1234567890"


def _capture(fmt):
    stream = io.StringIO()
    configure_logging(fmt, "DEBUG", stream=stream, force=True)
    return stream


def test_json_log_event_carrying_a_token_prints_no_token():
    stream = _capture("json")
    log = structlog.get_logger("t")
    log.info("calling graph", access_token=TOKEN, headers={"Authorization": f"OAuth {TOKEN}"},
             url=f"https://graph.facebook.com/v24.0/me?access_token={TOKEN}&fields=id",
             note=f"token was {TOKEN}", api_key="ciphertext", appsecret_proof="abc123abc123")
    out = stream.getvalue()
    assert TOKEN not in out
    assert "abc123abc123" not in out
    line = json.loads(out.strip().splitlines()[-1])
    assert line["access_token"] == REDACTED
    assert line["headers"]["Authorization"] == REDACTED
    assert "access_token=" + REDACTED in line["url"]
    assert line["event"] == "calling graph"


def test_console_and_stdlib_and_traceback_are_redacted():
    stream = _capture("console")
    register_secret("opaque-secret-token-value")
    logging.getLogger("celery.worker").warning("retrying with opaque-secret-token-value")
    try:
        raise RuntimeError(f"boom access_token={TOKEN}")
    except RuntimeError:
        structlog.get_logger("t").exception("failed")
    out = stream.getvalue()
    assert "opaque-secret-token-value" not in out
    assert TOKEN not in out
    assert "retrying with" in out


def test_json_traceback_is_redacted():
    stream = _capture("json")
    register_secret("another-known-secret-xyz")
    try:
        raise ValueError("leaked another-known-secret-xyz")
    except ValueError:
        structlog.get_logger("t").exception("failed")
    assert "another-known-secret-xyz" not in stream.getvalue()
    assert "ValueError" in stream.getvalue()


def test_redact_nested_structures_and_text():
    data = {"args": ["x", {"page_token": "p", "ok": "fine"}], "Authorization": "Bearer zzzzzzzzzzzz"}
    cleaned = redact(data)
    assert cleaned["args"][1]["page_token"] == REDACTED
    assert cleaned["args"][1]["ok"] == "fine"
    assert cleaned["Authorization"] == REDACTED
    assert redact_text("Authorization: OAuth abcdefghijkl") == "Authorization: OAuth " + REDACTED


def test_many_known_secrets_stay_masked_without_recompiling_per_secret():
    from worker.core.redaction import _KnownSecrets

    secrets = _KnownSecrets()
    for i in range(500):
        secrets.add(f"opaque-token-{i:05d}-value")
        assert secrets.scrub(f"sent with opaque-token-{i:05d}-value") == f"sent with {REDACTED}"
    assert all(secrets.scrub(f"a opaque-token-{i:05d}-value b") == f"a {REDACTED} b" for i in range(0, 500, 37))
    assert secrets._pattern is not None and len(secrets._recent) < 500  # rebuilt a few times, not per add
