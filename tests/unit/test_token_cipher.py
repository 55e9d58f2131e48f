"""Token encryption's promises that a round trip does not show: every token the cipher touches is masked
from then on in this process's logs and errors, rotation reaches every row of the database it is given,
and its errors say what to do. Written against the mutants a mutation run of models/crypto.py left alive
(bench/mutation.py)."""

from __future__ import annotations

import uuid

import pytest
from cryptography.fernet import Fernet

from models import Integration, Tenant
from models.crypto import TokenCipher, TokenDecryptError, rotate_all_tokens
from models.db import transaction
from tests.support.stack import create_database, drop_database
from worker.core.redaction import REDACTED, redact_text
from worker.core.settings import SettingsError


def _plain_token() -> str:
    """A token no inline pattern recognises (not EAA…): only the registry of known secrets can mask it."""
    token = f"pagetok-{uuid.uuid4().hex}"
    assert redact_text(f"x {token} y") == f"x {token} y"
    return token


def test_a_decrypted_token_is_masked_in_every_later_log_line():
    key = Fernet.generate_key().decode()
    token = _plain_token()
    stored = Fernet(key.encode()).encrypt(token.encode()).decode()  # written elsewhere: never seen here
    assert TokenCipher([key]).decrypt(stored) == token
    assert redact_text(f"GET /me failed for {token}") == f"GET /me failed for {REDACTED}"


def test_an_encrypted_token_is_masked_in_every_later_log_line():
    token = _plain_token()
    TokenCipher([Fernet.generate_key().decode()]).encrypt(token)
    assert redact_text(f"storing {token}") == f"storing {REDACTED}"


def test_no_key_and_a_removed_key_say_what_to_do():
    with pytest.raises(SettingsError) as missing:
        TokenCipher([])
    assert str(missing.value) == ("SOCIALCAL_ENCRYPTION_KEYS: required to store or read Page tokens "
                                  "(generate one with `socialcal keys generate`)")
    stored = TokenCipher([Fernet.generate_key().decode()]).encrypt("EAAsomething00000000000000000")
    with pytest.raises(TokenDecryptError) as removed:
        TokenCipher([Fernet.generate_key().decode()]).decrypt(stored)
    assert str(removed.value) == "stored Page token cannot be decrypted with any configured key"


def _store(url: str | None, cipher: TokenCipher, ids: list[str]) -> None:
    with transaction(url) as s:
        tenant = Tenant(name="a")
        s.add(tenant)
        s.flush()
        for n, integration_id in enumerate(ids):
            s.add(Integration(id=integration_id, tenant_id=tenant.id, external_account_id=str(n),
                              api_key=cipher.encrypt(f"EAAtoken{n:030d}"), meta={"pageId": str(n), "pageName": "P"}))


def test_rotation_in_small_batches_reaches_rows_stored_in_any_order(db):
    """Keyset pagination (id > last id) is only complete when each batch is read in id order: rows
    inserted in descending id order would otherwise be skipped."""
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    ids = [str(uuid.UUID(int=n)) for n in (9, 7, 5, 3, 1)]
    _store(None, TokenCipher([old]), ids)
    assert rotate_all_tokens(TokenCipher([new, old]), batch_size=2).rotated == 5


def test_rotation_rotates_the_database_it_is_given(db, tmp_path):
    other = create_database("sqlite", tmp_path)
    try:
        old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
        _store(other, TokenCipher([old]), [str(uuid.uuid4()) for _ in range(3)])
        result = rotate_all_tokens(TokenCipher([new, old]), database_url=other)
        assert (result.rotated, result.already_current) == (3, 0)
    finally:
        drop_database(other)
