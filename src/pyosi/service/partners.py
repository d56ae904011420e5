"""Partners' watermark keys, registered through the service and tried by every scan.

Secrets are encrypted at rest (:mod:`pyosi.service.secrets`) and never leave the service: the API
lists a key's public id and name only. Registering and revoking are audited. Scans also try the
keys in the data directory's ``keys/`` (what ``pyosi key add`` registers for the CLI).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, RowMapping, insert, select, update
from sqlalchemy.exc import IntegrityError

from pyosi.errors import InvalidKeyError
from pyosi.keyring import registered_keys
from pyosi.service import audit
from pyosi.service.errors import ConflictError, InvalidRequestError, NotFoundError
from pyosi.service.secrets import decrypt, encrypt
from pyosi.storage import reading, utc
from pyosi.storage.schema import partner_keys
from pyosi.watermark import WatermarkKey


@dataclass(frozen=True)
class PartnerKey:
    key_id: str
    name: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "name": self.name,
            "created_at": utc(self.created_at).isoformat(),
            "revoked_at": utc(self.revoked_at).isoformat() if self.revoked_at else None,
            "active": self.revoked_at is None,
        }


def parse_key(text: str) -> WatermarkKey:
    """A key as ``pyosi key new`` writes it (JSON), or its 32-byte secret in hex or base64."""
    text = text.strip()
    if text.startswith("{"):
        try:
            return WatermarkKey.from_json(text)
        except InvalidKeyError as e:
            raise InvalidRequestError(f"not a usable watermark key: {e}") from None
    raw: bytes | None = None
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raw = None
    if raw is None or len(raw) != 32:
        raise InvalidRequestError(
            "a watermark key is the JSON that `pyosi key new` writes, or 32 bytes in hex or base64"
        )
    return WatermarkKey.from_bytes(raw)


def add_partner_key(engine: Engine, name: str, key: WatermarkKey, *, actor: str) -> PartnerKey:
    name = name.strip()
    if not name or len(name) > 128:
        raise InvalidRequestError("a partner key needs a name of 1-128 characters")
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(partner_keys).values(
                    key_id=key.id,
                    name=name,
                    secret_encrypted=encrypt(key.to_bytes()),
                    created_at=dt.datetime.now(dt.UTC),
                )
            )
            audit.append(
                conn, actor=actor, action="partner-key.add", subject=key.id, details={"name": name}
            )
    except IntegrityError:
        raise ConflictError(f"key {key.id} is already registered") from None
    return get_partner_key(engine, key.id)


def revoke_partner_key(engine: Engine, key_id: str, *, actor: str) -> PartnerKey:
    with engine.begin() as conn:
        done = conn.execute(
            update(partner_keys)
            .where(partner_keys.c.key_id == key_id, partner_keys.c.revoked_at.is_(None))
            .values(revoked_at=dt.datetime.now(dt.UTC))
        )
        if done.rowcount != 1:
            raise NotFoundError(f"no active partner key {key_id!r}")
        audit.append(conn, actor=actor, action="partner-key.revoke", subject=key_id)
    return get_partner_key(engine, key_id)


def get_partner_key(engine: Engine, key_id: str) -> PartnerKey:
    with reading(engine) as conn:
        row = (
            conn.execute(select(partner_keys).where(partner_keys.c.key_id == key_id))
            .mappings()
            .first()
        )
    if row is None:
        raise NotFoundError(f"no partner key {key_id!r}")
    return _partner(row)


def list_partner_keys(engine: Engine) -> list[PartnerKey]:
    with reading(engine) as conn:
        rows = conn.execute(select(partner_keys).order_by(partner_keys.c.created_at)).mappings()
        return [_partner(r) for r in rows]


class KeyCache:
    """The keys every scan tries: the data directory's plus active partner keys.

    Decrypting on every request would be wasted work, so the decrypted set is kept until the
    active key ids in the database change (one cheap query per scan).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids: tuple[str, ...] | None = None
        self._keys: list[WatermarkKey] = []

    def keys(self, engine: Engine) -> list[WatermarkKey]:
        with reading(engine) as conn:
            ids = tuple(
                sorted(
                    r.key_id
                    for r in conn.execute(
                        select(partner_keys.c.key_id).where(partner_keys.c.revoked_at.is_(None))
                    )
                )
            )
        with self._lock:
            if ids != self._ids:
                with reading(engine) as conn:
                    rows = conn.execute(
                        select(partner_keys.c.secret_encrypted).where(
                            partner_keys.c.revoked_at.is_(None)
                        )
                    ).all()
                self._keys = [WatermarkKey.from_bytes(decrypt(r[0])) for r in rows]
                self._ids = ids
            partners = list(self._keys)
        merged = {k.id: k for k in [*registered_keys(), *partners]}
        return list(merged.values())


def _partner(row: RowMapping) -> PartnerKey:
    return PartnerKey(row["key_id"], row["name"], row["created_at"], row["revoked_at"])
