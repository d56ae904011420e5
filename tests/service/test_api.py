"""The HTTP API end to end (in-process), on SQLite and PostgreSQL."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from pyosi.keyring import default_key
from pyosi.mark import mark_image_file
from pyosi.provenance.credentials import Generation
from pyosi.provenance.identity import Identity, init_development
from pyosi.provenance.store import ManifestStore
from pyosi.service import audit
from pyosi.service.app import Settings, create_app
from pyosi.service.auth import Role, create_api_key
from pyosi.storage import DatabaseNotMigratedError, open_database


@pytest.fixture
def app_env(db_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, dict[Role, dict[str, str]]]]:
    db = open_database(db_url)
    db.upgrade()
    tokens = {
        role: {
            "Authorization": f"Bearer {create_api_key(db.engine, role.value, role, actor='t')[1]}"
        }
        for role in Role
    }
    app = create_app(Settings(database_url=db_url, blob_dir=tmp_path / "blobs"))
    with TestClient(app) as client:
        yield client, tokens
    app.state.service.store.close()
    app.state.service.db.dispose()
    db.dispose()


def _jpeg(color: tuple[int, int, int] = (40, 90, 160)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (320, 240), color).save(buf, "JPEG")
    return buf.getvalue()


def test_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    with pytest.raises(DatabaseNotMigratedError, match="pyosi db upgrade"):
        create_app(Settings(database_url=f"sqlite:///{tmp_path / 'empty.db'}"))


def test_health_metrics_and_security_headers(app_env) -> None:
    client, _ = app_env
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert client.get("/metrics").text.startswith("# HELP pyosi_items")


def test_scan_then_review(app_env) -> None:
    client, tokens = app_env
    r = client.post(
        "/v1/scans",
        files={"file": ("plain.jpg", _jpeg(), "image/jpeg")},
        data={"post_text": "hello", "declared_ai": "true"},
        headers=tokens[Role.INGEST],
    )
    assert r.status_code == 201, r.text
    item = r.json()
    assert item["verdict"] == "ai-generated"  # self-declared
    assert item["label"]["rests_on"] == ["self-declared"]
    assert r.headers["location"] == f"/v1/items/{item['id']}"
    got = client.get(f"/v1/items/{item['id']}", headers=tokens[Role.AUDITOR]).json()
    assert got["id"] == item["id"] and got["context"]["post_text"] == "hello"
    d = client.post(
        f"/v1/items/{item['id']}/decisions",
        json={"action": "escalate", "reason": "looks like a candidate"},
        headers=tokens[Role.REVIEWER],
    )
    assert d.status_code == 201, d.text
    assert d.json()["status"] == "escalated" and d.json()["decisions"][0]["actor"].startswith(
        "key:"
    )
    engine = client.app.state.service.db.engine
    assert next(e.action for e in audit.entries(engine)) == "decision.escalate"
    assert audit.verify(engine).ok


def test_pagination_and_filters(app_env) -> None:
    client, tokens = app_env
    for i in range(5):
        client.post(
            "/v1/scans",
            files={"file": (f"f{i}.jpg", _jpeg((i * 40, 10, 10)), "image/jpeg")},
            headers=tokens[Role.INGEST],
        )
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/items", params=params, headers=tokens[Role.REVIEWER]).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 5
    none = client.get("/v1/items", params={"status": "escalated"}, headers=tokens[Role.ADMIN])
    assert none.json()["items"] == []
    bad = client.get("/v1/items", params={"cursor": "!!"}, headers=tokens[Role.ADMIN])
    assert bad.status_code == 400 and bad.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("post", "/v1/scans", {Role.ADMIN, Role.INGEST, Role.REVIEWER}),
        ("get", "/v1/items", {Role.ADMIN, Role.REVIEWER, Role.AUDITOR, Role.INGEST}),
        ("post", "/v1/items/x/decisions", {Role.ADMIN, Role.REVIEWER}),
    ],
)
def test_each_role_is_refused_where_it_must_be(app_env, method: str, path: str, allowed) -> None:
    client, tokens = app_env
    kwargs: dict[str, object] = {}
    if path == "/v1/scans":
        kwargs["files"] = {"file": ("a.jpg", _jpeg(), "image/jpeg")}
    if path.endswith("decisions"):
        kwargs["json"] = {"action": "dismiss", "reason": "r"}
    for role in Role:
        r = getattr(client, method)(path, headers=tokens[role], **kwargs)
        if role in allowed:
            assert r.status_code in {200, 201, 404}, (role, r.text)
        else:
            assert r.status_code == 403, (role, r.text)
            assert r.json()["type"].endswith("/forbidden")
    anonymous = getattr(client, method)(path, **kwargs)
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"] == "Bearer"
    wrong = getattr(client, method)(path, headers={"Authorization": "Bearer pyosi_x_y"}, **kwargs)
    assert wrong.status_code == 401


def test_bad_requests_are_problem_documents(app_env) -> None:
    client, tokens = app_env
    h = tokens[Role.ADMIN]
    empty = client.post("/v1/scans", files={"file": ("e.jpg", b"", "image/jpeg")}, headers=h)
    assert empty.status_code == 400 and "empty" in empty.json()["detail"]
    missing = client.post("/v1/scans", headers=h)
    assert missing.status_code == 422 and missing.json()["errors"]
    ghost = client.get("/v1/items/nope", headers=h)
    assert ghost.status_code == 404
    no_reason = client.post(
        "/v1/items/nope/decisions", json={"action": "dismiss", "reason": ""}, headers=h
    )
    assert no_reason.status_code == 422
    hostile = client.post(
        "/v1/scans", files={"file": ("x.jpg", b"\xff\xd8\xff\xe0garbage", "image/jpeg")}, headers=h
    )
    assert hostile.status_code == 201 and hostile.json()["errors"]  # recorded, not a crash


def test_durable_credentials_lookup_and_recovery(
    app_env, data_dir: Path, photo_png: Path, tmp_path: Path
) -> None:
    client, tokens = app_env
    init_development()
    key, _ = default_key()
    store = client.app.state.service.store
    out = tmp_path / "gen.jpg"
    r = mark_image_file(photo_png, out, key=key, generation=Generation(model="m"),
                        identity=Identity.load(), store=store)  # fmt: skip
    stripped = io.BytesIO()
    Image.open(out).convert("RGB").save(stripped, "JPEG", quality=85)
    scan = client.post(
        "/v1/scans",
        files={"file": ("s.jpg", stripped.getvalue(), "image/jpeg")},
        headers=tokens[Role.INGEST],
    ).json()
    assert scan["verdict"] == "ai-generated"
    assert scan["credentials_recovered"]["content_id"] == r.content_id.hex()
    public = client.get(f"/v1/credentials/{r.content_id.hex()}")
    assert public.status_code == 200 and public.json()["manifest"]["active_manifest"]
    assert client.get("/v1/credentials/zz").status_code == 400
    assert client.get("/v1/credentials/0000000000000000").status_code == 404
    assert isinstance(store, ManifestStore)
