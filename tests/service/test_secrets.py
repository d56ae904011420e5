"""The service's master secret and encryption at rest."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from pyosi.service.secrets import (
    SECRET_KEY_ENV,
    SecretKeyError,
    decrypt,
    encrypt,
    master_secret,
    secret_file,
)


def test_secret_is_made_once_with_mode_0600(data_dir: Path) -> None:
    first = master_secret()
    assert len(first) == 32 and master_secret() == first
    assert stat.S_IMODE(secret_file().stat().st_mode) == 0o600


def test_round_trip_and_the_wrong_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    token = encrypt(b"partner secret")
    assert b"partner secret" not in token and decrypt(token) == b"partner secret"
    monkeypatch.setenv(SECRET_KEY_ENV, "A" * 43)
    with pytest.raises(SecretKeyError, match="not the one it was stored with"):
        decrypt(token)


@pytest.mark.parametrize("value", ["short", "!" * 43, "A" * 100])
def test_malformed_secret_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(SECRET_KEY_ENV, value)
    with pytest.raises(SecretKeyError, match="32 random bytes"):
        master_secret()
