"""The service under test: a migrated database (SQLite, and PostgreSQL when CI has one), an API
key per role, and an in-process client. The background worker is off; tests run it by hand."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from pyosi.service.app import Service, Settings, create_app
from pyosi.service.auth import Role, add_user, create_api_key
from pyosi.storage import Database, open_database

PASSWORD = "correct horse battery staple"


@dataclass
class Env:
    client: TestClient
    tokens: dict[Role, dict[str, str]]
    service: Service

    def scan(self, data: bytes, name: str = "a.jpg", role: Role = Role.INGEST, **form: Any) -> Any:
        r = self.client.post(
            "/v1/scans",
            files={"file": (name, data, "image/jpeg")},
            data={k: str(v).lower() if isinstance(v, bool) else v for k, v in form.items()},
            headers=self.tokens[role],
        )
        assert r.status_code in (201, 202), r.text
        return r.json()


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = open_database(db_url)
    database.upgrade()
    yield database
    database.dispose()


@pytest.fixture
def make_env(db: Database, tmp_path: Path) -> Iterator[Callable[..., Env]]:
    made: list[Env] = []

    def make(**settings: Any) -> Env:
        tokens = {
            role: {
                "Authorization": "Bearer "
                + create_api_key(db.engine, f"{role.value}-{len(made)}", role, actor="test")[1]
            }
            for role in Role
        }
        app = create_app(
            Settings(database_url=db.url, blob_dir=tmp_path / "blobs", run_worker=False, **settings)
        )
        client = TestClient(app)
        client.__enter__()
        env = Env(client, tokens, app.state.service)
        made.append(env)
        return env

    yield make
    for env in made:
        env.client.__exit__(None, None, None)


@pytest.fixture
def env(make_env: Callable[..., Env]) -> Env:
    return make_env()


@pytest.fixture
def users(db: Database) -> dict[Role, str]:
    """One login per role, named after it."""
    for role in Role:
        add_user(db.engine, role.value, PASSWORD, role, actor="test")
    return {role: role.value for role in Role}


def jpeg(color: tuple[int, int, int] = (40, 90, 160), size: tuple[int, int] = (320, 240)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "JPEG")
    return buf.getvalue()
