"""Page tokens encrypted at rest with MultiFernet over ``SOCIALCAL_ENCRYPTION_KEYS`` (newest first).

Decrypting a token registers its value with the redactor, so once a worker has held a token no log
line, error or failed_jobs row written by that process can show it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import select

from models.db import transaction
from models.tenancy import Integration
from worker.core.process_local import PerProcess
from worker.core.redaction import register_secret
from worker.core.settings import Settings, SettingsError, get_settings


OPENED_TOKENS_KEPT = 4096


class TokenDecryptError(RuntimeError):
    """No configured key opens this token: a key was removed before rotation finished."""


class TokenCipher:
    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise SettingsError("SOCIALCAL_ENCRYPTION_KEYS: required to store or read Page tokens "
                                "(generate one with `socialcal keys generate`)")
        self._newest = Fernet(keys[0].encode())
        self._all = MultiFernet([Fernet(k.encode()) for k in keys])
        # Ciphertext -> token for the tokens this process opened recently: a publish decrypted its
        # Page's token every time (an HMAC and an AES pass). Only a process that already held the
        # token keeps it, and the redactor knows every one of them (``register_secret``).
        self._opened: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def encrypt(self, token: str) -> str:
        register_secret(token)
        return self._all.encrypt(token.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        with self._lock:
            token = self._opened.get(ciphertext)
        if token is not None:
            return token
        try:
            token = self._all.decrypt(ciphertext.encode()).decode()
        except InvalidToken:
            raise TokenDecryptError("stored Page token cannot be decrypted with any configured key") from None
        register_secret(token)
        with self._lock:
            self._opened[ciphertext] = token
            while len(self._opened) > OPENED_TOKENS_KEPT:
                self._opened.popitem(last=False)
        return token

    def is_current(self, ciphertext: str) -> bool:
        """True when the newest key already opens the ciphertext (rotation can skip it)."""
        try:
            self._newest.decrypt(ciphertext.encode())
            return True
        except InvalidToken:
            return False

    def rotate(self, ciphertext: str) -> str:
        return self._all.rotate(ciphertext.encode()).decode()


_ciphers: PerProcess[tuple[str, ...], "TokenCipher"] = PerProcess()


def get_cipher(settings: Settings | None = None) -> TokenCipher:
    """This process's cipher for the configured keys (made once per key list)."""
    keys = tuple((settings or get_settings()).encryption_keys)
    return _ciphers.get(keys, lambda: TokenCipher(keys))


def generate_key() -> str:
    return Fernet.generate_key().decode()


@dataclass(frozen=True)
class RotationResult:
    rotated: int
    already_current: int


def rotate_all_tokens(cipher: TokenCipher, *, batch_size: int = 200, database_url: str | None = None) -> RotationResult:
    """Re-encrypt every stored token under the newest key, one committed batch at a time.

    Safe to re-run after an interruption: rows the newest key already opens are skipped, and each
    batch commits on its own, so a crash loses at most one batch of (idempotent) work.
    """
    rotated = current = 0
    last_id = ""
    while True:
        with transaction(database_url) as session:
            rows = session.scalars(
                select(Integration).where(Integration.id > last_id).order_by(Integration.id).limit(batch_size)
                .with_for_update()
            ).all()
            if not rows:
                break
            for integration in rows:
                if cipher.is_current(integration.api_key):
                    current += 1
                else:
                    integration.api_key = cipher.rotate(integration.api_key)
                    rotated += 1
            last_id = rows[-1].id
    return RotationResult(rotated=rotated, already_current=current)
