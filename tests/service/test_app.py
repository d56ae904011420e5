"""The application shell: roles on every endpoint, problem documents, limits, headers, metrics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pyosi.service.app import Settings, create_app
from pyosi.service.auth import PERMISSIONS, Permission, Role
from pyosi.storage import DatabaseNotMigratedError
from tests.service.conftest import Env, jpeg

_POLICY = {"text": "not = [valid", "comment": "c"}  # parses as a body; fails later, as 422
_ELECTION = {"slug": "x", "date": "2030-01-01", "name_ko": "가", "name_en": "a", "kind": "local"}
_UPLOAD = {"files": {"file": ("a.jpg", jpeg(), "image/jpeg")}}

#: Every /v1 endpoint, what it needs, and a request body that passes validation.
ENDPOINTS: list[tuple[str, str, Permission | None, dict[str, Any]]] = [
    ("POST", "/v1/scans", Permission.SCAN, _UPLOAD),
    ("POST", "/v1/batches", Permission.SCAN, {"files": {"files": ("a.jpg", jpeg(), "image/jpeg")}}),
    ("GET", "/v1/items", Permission.READ_ITEMS, {}),
    ("GET", "/v1/items/none", Permission.READ_ITEMS, {}),
    ("GET", "/v1/items/none/file", Permission.READ_ITEMS, {}),
    (
        "POST",
        "/v1/items/none/decisions",
        Permission.DECIDE,
        {"json": {"action": "dismiss", "reason": "r"}},
    ),
    ("GET", "/v1/jobs/none", Permission.READ_JOBS, {}),
    ("POST", "/v1/marks", Permission.MARK, {**_UPLOAD, "data": {"model": "m"}}),
    ("GET", "/v1/marks/0000000000000000/file", Permission.MARK, {}),
    ("GET", "/v1/credentials/0000000000000000", None, {}),
    ("GET", "/v1/policy", Permission.READ_POLICY, {}),
    ("PUT", "/v1/policy", Permission.WRITE_POLICY, {"json": _POLICY}),
    ("POST", "/v1/policy/validate", Permission.READ_POLICY, {"json": _POLICY}),
    ("GET", "/v1/policy/versions", Permission.READ_POLICY, {}),
    ("GET", "/v1/policy/versions/99", Permission.READ_POLICY, {}),
    ("GET", "/v1/elections", Permission.READ_ELECTIONS, {}),
    ("POST", "/v1/elections", Permission.WRITE_ELECTIONS, {"json": _ELECTION}),
    ("GET", "/v1/elections/999", Permission.READ_ELECTIONS, {}),
    ("PUT", "/v1/elections/999", Permission.WRITE_ELECTIONS, {"json": _ELECTION}),
    ("DELETE", "/v1/elections/999", Permission.WRITE_ELECTIONS, {}),
    ("GET", "/v1/reports/elections", Permission.REPORTS, {}),
    ("GET", "/v1/partners/keys", Permission.MANAGE_PARTNERS, {}),
    (
        "POST",
        "/v1/partners/keys",
        Permission.MANAGE_PARTNERS,
        {"json": {"name": "p", "key": "00" * 32}},
    ),
    ("DELETE", "/v1/partners/keys/none", Permission.MANAGE_PARTNERS, {}),
    ("GET", "/v1/webhooks", Permission.MANAGE_WEBHOOKS, {}),
    (
        "POST",
        "/v1/webhooks",
        Permission.MANAGE_WEBHOOKS,
        {"json": {"url": "http://127.0.0.1:9/x", "events": ["item.labeled"]}},
    ),
    ("PATCH", "/v1/webhooks/999", Permission.MANAGE_WEBHOOKS, {"json": {"active": False}}),
    ("GET", "/v1/webhooks/deliveries", Permission.MANAGE_WEBHOOKS, {}),
    ("POST", "/v1/webhooks/deliveries/999/retry", Permission.MANAGE_WEBHOOKS, {}),
    ("GET", "/v1/audit", Permission.READ_AUDIT, {}),
    ("GET", "/v1/audit/verify", Permission.READ_AUDIT, {}),
    ("GET", "/v1/me", None, {}),
]


def test_the_matrix_covers_every_endpoint(env: Env) -> None:
    spec = env.client.get("/openapi.json").json()
    routes = {
        (method.upper(), path)
        for path, ops in spec["paths"].items()
        if path.startswith("/v1/")
        for method in ops
    }
    listed = set()
    for method, path, _, _ in ENDPOINTS:
        match = {(m, p) for m, p in routes if m == method and _matches(p, path)}
        assert match, (method, path)
        listed |= match
    assert routes - listed == {("POST", "/v1/session"), ("DELETE", "/v1/session")}


def _matches(template: str, path: str) -> bool:
    a, b = template.strip("/").split("/"), path.strip("/").split("/")
    return len(a) == len(b) and all(x == y or x.startswith("{") for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize(("method", "path", "permission", "kwargs"), ENDPOINTS)
def test_each_role_is_refused_where_it_must_be(
    env: Env, method: str, path: str, permission: Permission | None, kwargs: dict[str, Any]
) -> None:
    for role in Role:
        r = env.client.request(method, path, headers=env.tokens[role], **kwargs)
        if permission is None or role in PERMISSIONS[permission]:
            assert r.status_code not in (401, 403), (role, r.status_code, r.text)
        else:
            assert r.status_code == 403, (role, r.status_code, r.text)
            assert r.json()["type"].endswith("/forbidden")
            assert r.headers["content-type"] == "application/problem+json"
    if permission is not None:
        anonymous = env.client.request(method, path, **kwargs)
        assert anonymous.status_code == 401, anonymous.text
        assert anonymous.headers["www-authenticate"] == "Bearer"
        wrong = env.client.request(
            method, path, headers={"Authorization": "Bearer pyosi_x_y"}, **kwargs
        )
        assert wrong.status_code == 401


def test_refuses_an_unmigrated_database(tmp_path) -> None:
    with pytest.raises(DatabaseNotMigratedError, match="pyosi db upgrade"):
        create_app(Settings(database_url=f"sqlite:///{tmp_path / 'empty.db'}"))


def test_health_metrics_and_security_headers(env: Env) -> None:
    r = env.client.get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert "script-src 'self'" in r.headers["content-security-policy"]
    env.scan(jpeg())
    text = env.client.get("/metrics").text
    assert 'pyosi_items{status="no-signal",verdict="no-signal"} 1.0' in text
    assert "pyosi_http_requests_total" in text and "pyosi_http_request_seconds_bucket" in text
    assert 'route="/v1/scans"' in text
    v1 = env.client.get("/v1/items", headers=env.tokens[Role.ADMIN])
    assert v1.headers["cache-control"] == "no-store"


def test_openapi_documents_the_api(env: Env) -> None:
    spec = env.client.get("/openapi.json").json()
    assert "/v1/scans" in spec["paths"] and "/v1/reports/elections" in spec["paths"]
    assert not any(p.startswith("/ui") for p in spec["paths"])
    assert env.client.get("/docs").status_code == 200


def test_uploads_over_the_limit_are_refused_before_they_are_read(
    make_env: Callable[..., Env],
) -> None:
    env = make_env(max_upload_bytes=10_000)
    big = jpeg(size=(1200, 900)) + b"\0" * 200_000
    r = env.client.post(
        "/v1/scans", files={"file": ("b.jpg", big, "image/jpeg")}, headers=env.tokens[Role.INGEST]
    )
    assert r.status_code == 413 and r.json()["type"].endswith("/too-large")

    def chunks() -> Any:  # no Content-Length: counted while it streams in
        yield b'--x\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\n'
        for _ in range(100):
            yield b"\0" * 10_000

    streamed = env.client.post(
        "/v1/scans",
        content=chunks(),
        headers={**env.tokens[Role.INGEST], "content-type": "multipart/form-data; boundary=x"},
    )
    assert streamed.status_code == 413


def test_bad_requests_are_problem_documents(env: Env) -> None:
    h = env.tokens[Role.ADMIN]
    empty = env.client.post("/v1/scans", files={"file": ("e.jpg", b"", "image/jpeg")}, headers=h)
    assert empty.status_code == 400 and "empty" in empty.json()["detail"]
    missing = env.client.post("/v1/scans", headers=h)
    assert missing.status_code == 422 and missing.json()["errors"]
    text = env.client.post(
        "/v1/scans", files={"file": ("a.jpg", b"hello, not an image", "image/jpeg")}, headers=h
    )
    assert text.status_code == 415 and text.json()["type"].endswith("/unsupported-media")
    assert env.client.get("/v1/items/nope", headers=h).status_code == 404
    assert env.client.get("/v1/nothing-here", headers=h).json()["status"] == 404
    bad_cursor = env.client.get("/v1/items", params={"cursor": "!!"}, headers=h)
    assert bad_cursor.status_code == 400
    bad_status = env.client.get("/v1/items", params={"status": "nope"}, headers=h)
    assert bad_status.status_code == 400 and "open" in bad_status.json()["detail"]


def test_rate_limits_per_key_and_per_address(make_env: Callable[..., Env]) -> None:
    env = make_env(key_rate_per_minute=3, public_rate_per_minute=2)
    h = env.tokens[Role.AUDITOR]
    codes = [env.client.get("/v1/items", headers=h).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    limited = env.client.get("/v1/items", headers=h)
    assert int(limited.headers["retry-after"]) >= 1
    other = env.client.get("/v1/items", headers=env.tokens[Role.ADMIN])
    assert other.status_code == 200  # each key has its own budget
    public = [env.client.get("/v1/credentials/0000000000000000").status_code for _ in range(3)]
    assert public == [404, 404, 429]
