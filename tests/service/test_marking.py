"""Generator side through the API: POST /v1/marks, the marked file, durable credentials."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from pyosi.provenance.credentials import read_credentials
from pyosi.provenance.identity import init_development
from pyosi.service.auth import Role
from tests.service.conftest import Env


def test_mark_then_find_it_again_after_stripping(env: Env, photo_png: Path) -> None:
    init_development()
    h = env.tokens[Role.GENERATOR]
    r = env.client.post(
        "/v1/marks",
        files={"file": ("gen.png", photo_png.read_bytes(), "image/png")},
        data={
            "model": "Example Diffusion",
            "model_version": "2",
            "label": "both",
            "format": "jpeg",
            "prompt": "a secret prompt",
        },
        headers=h,
    )
    assert r.status_code == 201, r.text
    mark = r.json()
    assert mark["signed"] and mark["format"] == "JPEG" and mark["label"]
    assert mark["psnr_db"] > 35
    cid = mark["content_id"]
    marked = env.client.get(mark["file_url"], headers=h)
    assert marked.status_code == 200 and marked.headers["content-type"] == "image/jpeg"
    creds = read_credentials(marked.content, anchors="")
    assert creds is not None and creds.pyosi_payload == bytes.fromhex(mark["content_id"])
    assert creds.digital_source_types[0].endswith("/trainedAlgorithmicMedia")
    assert creds.generation is not None and creds.generation["model"] == "Example Diffusion"
    assert "a secret prompt" not in marked.content.decode("latin-1")  # only its hash is kept
    public = env.client.get(f"/v1/credentials/{cid}").json()
    assert public["sha256"] == mark["sha256"]
    stripped = io.BytesIO()
    Image.open(io.BytesIO(marked.content)).convert("RGB").resize((384, 384)).save(stripped, "JPEG")
    item = env.scan(stripped.getvalue(), "reposted.jpg")
    assert item["verdict"] == "ai-generated"
    assert item["credentials_recovered"]["content_id"] == cid


def test_marking_needs_an_identity_and_an_image(env: Env, photo_png: Path) -> None:
    h = env.tokens[Role.GENERATOR]
    no_identity = env.client.post(
        "/v1/marks",
        files={"file": ("gen.png", photo_png.read_bytes(), "image/png")},
        data={"model": "m"},
        headers=h,
    )
    assert no_identity.status_code == 400 and "identity init" in no_identity.json()["detail"]
    init_development()
    not_image = env.client.post(
        "/v1/marks", files={"file": ("a.png", b"nope", "image/png")}, data={"model": "m"}, headers=h
    )
    assert not_image.status_code in (415, 422)
    tiny = io.BytesIO()
    Image.new("RGB", (32, 32)).save(tiny, "PNG")
    small = env.client.post(
        "/v1/marks", files={"file": ("a.png", tiny.getvalue(), "image/png")}, data={"model": "m"},
        headers=h,
    )  # fmt: skip
    assert small.status_code == 422 and "at least" in small.json()["detail"]
