"""Partners' watermark keys: registered through the API, encrypted at rest, tried by scans."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from pyosi.media import encode_image
from pyosi.service import audit
from pyosi.service.auth import Role
from pyosi.storage.schema import partner_keys
from pyosi.watermark import WatermarkKey, embed_image
from tests.service.conftest import Env


def _marked_by(key: WatermarkKey, photo: Image.Image) -> bytes:
    return encode_image(embed_image(photo, payload=b"partner!", key=key), "JPEG", quality=90)


@pytest.mark.parametrize("scan_processes", [0, 1], ids=["threads", "scan-pool"])
def test_partner_key_lifecycle(
    make_env: Callable[..., Env], astronaut: Image.Image, scan_processes: int
) -> None:
    # In a scan pool, the pool's process reads the keys itself: a key added or revoked through
    # the API must apply to the very next scan there too.
    env = make_env(scan_processes=scan_processes)
    partner = WatermarkKey.generate()
    data = _marked_by(partner, astronaut)
    h = env.tokens[Role.ADMIN]
    before = env.scan(data, "p.jpg")
    assert before["verdict"] == "no-signal"  # the key is not known yet
    added = env.client.post(
        "/v1/partners/keys", json={"name": "Example AI", "key": partner.to_json()}, headers=h
    )
    assert added.status_code == 201 and added.json()["key_id"] == partner.id
    listed = env.client.get("/v1/partners/keys", headers=h).text
    assert partner.to_bytes().hex() not in listed and "secret" not in listed
    with env.service.db.engine.connect() as conn:
        stored = conn.execute(select(partner_keys.c.secret_encrypted)).scalar_one()
    assert partner.to_bytes() not in stored  # encrypted at rest
    after = env.scan(data, "p.jpg")
    wm = next(s for s in after["signals"] if s["detector"] == "pyosi-watermark")
    assert after["verdict"] == "ai-generated" and wm["details"]["key_id"] == partner.id
    again = env.client.post(
        "/v1/partners/keys", json={"name": "dup", "key": partner.to_bytes().hex()}, headers=h
    )
    assert again.status_code == 409
    revoked = env.client.delete(f"/v1/partners/keys/{partner.id}", headers=h)
    assert revoked.json()["active"] is False
    assert env.scan(data, "p.jpg")["verdict"] == "no-signal"
    actions = [e.action for e in audit.entries(env.service.db.engine)]
    assert "partner-key.add" in actions and "partner-key.revoke" in actions


def test_malformed_keys_are_refused(env: Env) -> None:
    h = env.tokens[Role.ADMIN]
    for key in ["abc", "00" * 31, '{"not": "a key"}', np.zeros(3).tobytes().hex()]:
        r = env.client.post("/v1/partners/keys", json={"name": "x", "key": key}, headers=h)
        assert r.status_code == 400, key
    assert env.client.delete("/v1/partners/keys/nope", headers=h).status_code == 404
