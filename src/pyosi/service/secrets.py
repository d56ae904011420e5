"""The service's master secret, and encryption at rest for partner keys and webhook secrets.

The master secret is ``$PYOSI_SECRET_KEY`` (URL-safe base64 of 32 random bytes, for deployments
whose workers run on several machines), else ``secret.key`` in the data directory, made on first
use with mode 0600. Values are encrypted with Fernet (AES-128-CBC + HMAC-SHA256, from
``cryptography``) under a key derived from it with HKDF, so the same secret can serve other
purposes later without reuse. Losing the secret makes the stored partner keys unreadable: back it
up with the database.
"""

from __future__ import annotations

import base64
import functools
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from pyosi.errors import OutputError, PyosiError
from pyosi.media._write import atomic_write_bytes
from pyosi.paths import data_dir

SECRET_KEY_ENV = "PYOSI_SECRET_KEY"
SECRET_FILE = "secret.key"


class SecretKeyError(PyosiError):
    """The master secret is missing, malformed, or not the one the data was encrypted with."""

    exit_code = 4


def master_secret() -> bytes:
    """The 32-byte master secret (environment, else the data directory's file, made if absent)."""
    explicit = os.environ.get(SECRET_KEY_ENV)
    if explicit:
        return _decode(explicit, f"${SECRET_KEY_ENV}")
    path = data_dir(create=True) / SECRET_FILE
    if not path.exists():
        token = base64.urlsafe_b64encode(secrets.token_bytes(32))
        try:
            atomic_write_bytes(path, token + b"\n", replace=False, mode=0o600)
        except OutputError:
            if not path.exists():
                raise
            # another process made it first: use theirs
    try:
        return _decode(path.read_text().strip(), str(path))
    except OSError as e:
        raise SecretKeyError(f"cannot read the service secret {path}: {e}") from None


def _decode(text: str, where: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text.encode("ascii") + b"=" * (-len(text) % 4))
    except (ValueError, UnicodeEncodeError):
        raw = b""
    if len(raw) != 32:
        raise SecretKeyError(
            f"{where} must be 32 random bytes in URL-safe base64 (make one with "
            "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
        )
    return raw


@functools.cache
def _fernet(secret: bytes) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"pyosi at-rest v1")
    return Fernet(base64.urlsafe_b64encode(derived.derive(secret)))


def encrypt(value: bytes, secret: bytes | None = None) -> bytes:
    return _fernet(secret or master_secret()).encrypt(value)


def decrypt(token: bytes, secret: bytes | None = None) -> bytes:
    try:
        return _fernet(secret or master_secret()).decrypt(token)
    except InvalidToken:
        raise SecretKeyError(
            "a stored secret cannot be decrypted: the service secret "
            f"(${SECRET_KEY_ENV} or {SECRET_FILE} in the data directory) is not the one it was "
            "stored with"
        ) from None


def secret_file() -> Path:
    return data_dir() / SECRET_FILE
