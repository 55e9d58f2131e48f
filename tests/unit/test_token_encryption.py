"""Page tokens are encrypted at rest and survive key rotation."""

import json

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from models import Integration, Tenant
from models.crypto import TokenCipher, TokenDecryptError, rotate_all_tokens
from models.db import get_engine, transaction

TOKEN = "EAAPageTokenPlaintext0123456789abcdef"


def _store(cipher, n=1):
    with transaction() as s:
        t = Tenant(name="a")
        s.add(t)
        s.flush()
        for i in range(n):
            s.add(Integration(tenant_id=t.id, external_account_id=str(i), api_key=cipher.encrypt(f"{TOKEN}{i}"),
                              meta={"pageId": str(i), "pageName": "P"}))


def _raw_rows(db):
    with get_engine(db).connect() as conn:
        return [tuple(str(c) for c in row) for row in conn.execute(text("SELECT * FROM integrations"))]


def test_token_not_readable_in_raw_table_and_readable_after_rotation(db):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    _store(TokenCipher([old]), n=3)
    raw = json.dumps(_raw_rows(db))
    assert TOKEN not in raw

    rotated = TokenCipher([new, old])
    result = rotate_all_tokens(rotated, batch_size=2)
    assert (result.rotated, result.already_current) == (3, 0)

    only_new = TokenCipher([new])
    with transaction() as s:
        tokens = sorted(only_new.decrypt(i.api_key) for i in s.query(Integration))
    assert tokens == [f"{TOKEN}{i}" for i in range(3)]
    assert TOKEN not in json.dumps(_raw_rows(db))

    again = rotate_all_tokens(rotated, batch_size=2)
    assert (again.rotated, again.already_current) == (0, 3)


def test_removed_key_gives_a_clear_error(db):
    _store(TokenCipher([Fernet.generate_key().decode()]))
    with transaction() as s:
        stored = s.query(Integration).one().api_key
    with pytest.raises(TokenDecryptError, match="cannot be decrypted"):
        TokenCipher([Fernet.generate_key().decode()]).decrypt(stored)
