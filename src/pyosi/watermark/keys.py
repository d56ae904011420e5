"""Watermark keys: a 256-bit secret from which every keyed pattern is derived.

Key files are small JSON documents (``pyosi-watermark-key`` v1) holding the secret in base64 and
its public id; the id is re-derived on load, so a corrupted or hand-edited file is refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path
from typing import Any

from pyosi.errors import InvalidKeyError, OutputError
from pyosi.media._write import atomic_write_bytes

KEY_BYTES = 32
_FILE_TYPE = "pyosi-watermark-key"
_FILE_VERSION = 1
_MAX_KEY_FILE = 64 * 1024


class WatermarkKey:
    """A secret watermark key. ``key.id`` is a short public identifier safe to log and share."""

    __slots__ = ("_id", "_secret")

    def __init__(self, secret: bytes) -> None:
        if not isinstance(secret, bytes | bytearray) or len(secret) != KEY_BYTES:
            raise InvalidKeyError(f"a watermark key is exactly {KEY_BYTES} bytes of secret")
        self._secret = bytes(secret)
        self._id = hashlib.sha256(b"pyosi/key-id/v1\x00" + self._secret).hexdigest()[:16]

    @classmethod
    def generate(cls) -> WatermarkKey:
        """A new random key from the operating system's CSPRNG."""
        return cls(secrets.token_bytes(KEY_BYTES))

    @classmethod
    def from_bytes(cls, secret: bytes) -> WatermarkKey:
        return cls(secret)

    def to_bytes(self) -> bytes:
        return self._secret

    @property
    def id(self) -> str:
        return self._id

    def derive(self, label: str, n_bytes: int) -> bytes:
        """Deterministic key-dependent bytes for one purpose (SHAKE-256 over an HMAC'd label).

        Hash-derived rather than from a numpy Generator, whose streams may change across releases:
        a mark embedded today must be found by any future version.
        """
        seed = hmac.new(self._secret, label.encode(), hashlib.sha256).digest()
        return hashlib.shake_256(seed).digest(n_bytes)

    # -- files ---------------------------------------------------------------------------------
    def to_json(self) -> str:
        doc = {
            "type": _FILE_TYPE,
            "version": _FILE_VERSION,
            "id": self.id,
            "secret": base64.b64encode(self._secret).decode(),
        }
        return json.dumps(doc, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> WatermarkKey:
        try:
            doc: Any = json.loads(text)
        except json.JSONDecodeError as e:
            raise InvalidKeyError(f"not a pyosi key file (not JSON: {e.msg})") from None
        if not isinstance(doc, dict) or doc.get("type") != _FILE_TYPE:
            raise InvalidKeyError("not a pyosi key file (missing type 'pyosi-watermark-key')")
        if doc.get("version") != _FILE_VERSION:
            raise InvalidKeyError(f"unsupported key file version {doc.get('version')!r}")
        secret_b64 = doc.get("secret")
        if not isinstance(secret_b64, str):
            raise InvalidKeyError("key file has no 'secret'")
        try:
            secret = base64.b64decode(secret_b64, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidKeyError("key file 'secret' is not valid base64") from None
        key = cls(secret)
        if doc.get("id") != key.id:
            raise InvalidKeyError("key file is corrupt: its 'id' does not match its secret")
        return key

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write the key file with 0600 permissions, atomically; never overwrites unless asked."""
        target = Path(path)
        if target.exists() and not overwrite:
            raise OutputError(f"{target} exists; refusing to overwrite a key (use --force)")
        atomic_write_bytes(target, self.to_json().encode(), replace=overwrite, mode=0o600)
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> WatermarkKey:
        p = Path(path)
        try:
            with p.open("rb") as f:
                raw = f.read(_MAX_KEY_FILE + 1)
        except OSError as e:
            raise InvalidKeyError(f"cannot read key file {p}: {e.strerror}") from None
        if len(raw) > _MAX_KEY_FILE:
            raise InvalidKeyError(f"{p} is too large to be a pyosi key file")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidKeyError(f"{p} is not a pyosi key file (binary data)") from None
        try:
            return cls.from_json(text)
        except InvalidKeyError as e:
            raise InvalidKeyError(f"{p}: {e}") from None

    # -- value semantics (never reveal the secret) ------------------------------------------------
    def __repr__(self) -> str:
        return f"WatermarkKey(id={self.id!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WatermarkKey) and hmac.compare_digest(self._secret, other._secret)

    def __hash__(self) -> int:
        return hash(self._id)
