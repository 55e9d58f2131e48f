"""``socialcal db upgrade`` and ``socialcal keys generate|rotate``."""

from __future__ import annotations

import click

from models.crypto import TokenDecryptError, generate_key, get_cipher, rotate_all_tokens
from models.migrate import upgrade
from worker.core.settings import get_settings

# Exceptions that mean "the operator asked for something impossible": one line, no traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (TokenDecryptError,)


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Create or migrate the schema at SOCIALCAL_DATABASE_URL."""
    upgrade(get_settings().database_url, revision)
    click.echo(f"database at revision {revision}")


@click.group()
def keys() -> None:
    """Encryption keys for Page tokens at rest."""


@keys.command("generate")
def keys_generate() -> None:
    """Print a new Fernet key (put it first in SOCIALCAL_ENCRYPTION_KEYS)."""
    click.echo(generate_key())


@keys.command("rotate")
@click.option("--batch-size", default=200, show_default=True, type=click.IntRange(1, 10_000))
def keys_rotate(batch_size: int) -> None:
    """Re-encrypt every stored token under the newest key. Safe to re-run."""
    result = rotate_all_tokens(get_cipher(), batch_size=batch_size)
    click.echo(f"rotated {result.rotated} token(s); {result.already_current} already under the newest key")
