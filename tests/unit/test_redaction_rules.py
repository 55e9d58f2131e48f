"""Redaction rule by rule: each inline pattern, each secret key name, what is left alone, the depth
bound, and the registry of known secrets (minimum length, longest first, bounded, least recently seen
evicted). Written against the mutants a mutation run of worker/core/redaction.py left alive
(bench/mutation.py)."""

from __future__ import annotations

import pytest

from worker.core.redaction import REDACTED, _KnownSecrets, redact, redact_text

GRAPH_TOKEN = "EAAabcdefghijklmnopqrstuvwxyz"


@pytest.mark.parametrize(("text", "expected"), [
    ("GET /x?access_token=abc123&fields=id", f"GET /x?access_token={REDACTED}&fields=id"),
    ("client_secret=s3cr3t api_key=k1 appsecret_proof=p",
     f"client_secret={REDACTED} api_key={REDACTED} appsecret_proof={REDACTED}"),
    ('{"access_token": "abc", "api_key":"k"}', f'{{"access_token": "{REDACTED}", "api_key":"{REDACTED}"}}'),
    ("{'appsecret_proof': 'zz'}", f"{{'appsecret_proof': '{REDACTED}'}}"),
    ("Authorization: Bearer abcdefgh.ij-k|l%", f"Authorization: Bearer {REDACTED}"),
    ("bearer abcdefghijk", f"bearer {REDACTED}"),
    ("OAuth short", "OAuth short"),                       # fewer than 8 characters: not a credential
    (f"token {GRAPH_TOKEN} here", f"token {REDACTED} here"),
    ("EAAshort", "EAAshort"),
    (f"x{GRAPH_TOKEN}", f"x{GRAPH_TOKEN}"),              # EAA only at a word start
])
def test_inline_patterns(text, expected):
    assert redact_text(text) == expected


def test_secret_keys_are_masked_by_name_and_other_values_are_redacted_as_text():
    data = {"access_token": "x", "AccessToken": "y", "api-key": "z", "apikey": "w", "token": "t", "my_token": "m",
            "page_token": "", "password": None, "secret": 5, "encryption_keys": ["a"], 3: GRAPH_TOKEN,
            "ok": ("a", GRAPH_TOKEN)}
    assert redact(data) == {"access_token": REDACTED, "AccessToken": REDACTED, "api-key": "z", "apikey": REDACTED,
                            "token": REDACTED, "my_token": "m", "page_token": "", "password": None,
                            "secret": REDACTED, "encryption_keys": REDACTED, 3: REDACTED, "ok": ("a", REDACTED)}
    assert type(redact(("a",))) is tuple and redact(["a"]) == ["a"]
    assert redact(5) == 5 and redact(None) is None


def test_an_exception_is_written_with_its_type_and_redacted():
    assert redact(ValueError(f"bad {GRAPH_TOKEN}")) == f"ValueError: bad {REDACTED}"


def _nested(value, depth):
    for _ in range(depth):
        value = [value]
    return value


def _innermost(value):
    while isinstance(value, list):
        value = value[0]
    return value


def test_redaction_recurses_twelve_levels_deep_then_stops():
    assert _innermost(redact(_nested(GRAPH_TOKEN, 12))) == REDACTED
    assert _innermost(redact(_nested(GRAPH_TOKEN, 13))) == GRAPH_TOKEN


def test_the_registry_ignores_short_values_and_masks_the_longest_first():
    secrets = _KnownSecrets()
    secrets.add(None)
    secrets.add("")
    secrets.add("1234567")
    secrets.add("abcdefgh")
    secrets.add("abcdefghij")
    assert secrets.scrub("1234567 abcdefgh abcdefghij") == f"1234567 {REDACTED} {REDACTED}"


def test_the_registry_is_bounded_and_forgets_the_least_recently_seen():
    secrets = _KnownSecrets(capacity=2)
    for value in ("secret-a-000", "secret-b-000"):
        secrets.add(value)
    secrets.add("secret-a-000")  # seen again: now the most recent
    secrets.add("secret-c-000")
    assert list(secrets._values) == ["secret-a-000", "secret-c-000"]
    assert "secret-b-000" not in secrets._recent
    assert secrets.scrub("secret-a-000 secret-c-000") == f"{REDACTED} {REDACTED}"


def test_the_registry_compiles_once_the_newcomers_outnumber_a_share_of_it():
    secrets = _KnownSecrets()
    for n in range(32):
        secrets.add(f"opaque-secret-{n:04d}")
    assert secrets._pattern is None and len(secrets._recent) == 32  # up to 32 are plain replacements
    secrets.add("opaque-secret-0032")
    assert secrets._pattern is not None and secrets._recent == []
    assert secrets.scrub("opaque-secret-0000 and opaque-secret-0032") == f"{REDACTED} and {REDACTED}"
    secrets.add("opaque-secret-0033")
    assert secrets._recent == ["opaque-secret-0033"]
    assert secrets.scrub("opaque-secret-0033 opaque-secret-0001") == f"{REDACTED} {REDACTED}"
