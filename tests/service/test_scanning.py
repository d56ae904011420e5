"""The scan pool: uploads scanned in processes of their own, and what happens when one dies."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

from PIL import Image

from pyosi.media import encode_image
from pyosi.service.auth import Role
from pyosi.service.scanning import ScanPool, _ready
from pyosi.service.worker import work_once
from pyosi.watermark import embed_image
from tests.service.conftest import Env, jpeg


def _pool(env: Env) -> ScanPool:
    pool = env.service.scans
    assert pool is not None, "the app started no scan pool"
    return pool


def _pool_pid(pool: ScanPool) -> int:
    pid: int = pool._current().submit(_ready).result(timeout=60)
    return pid


def test_uploads_are_scanned_in_the_pool_with_the_installations_keys(
    make_env: Callable[..., Env], astronaut: Image.Image
) -> None:
    from pyosi.keyring import default_key

    key, _ = default_key()  # the data directory's own key, as `pyosi mark` uses it
    marked = encode_image(embed_image(astronaut, payload=b"pool-run", key=key), "JPEG", quality=90)
    env = make_env(scan_processes=1)
    assert _pool_pid(_pool(env)) != os.getpid()
    item = env.scan(marked, "m.jpg")
    wm = next(s for s in item["signals"] if s["detector"] == "pyosi-watermark")
    assert item["verdict"] == "ai-generated" and wm["details"]["key_id"] == key.id
    assert env.scan(jpeg(), "plain.jpg")["verdict"] == "no-signal"


def test_a_background_job_scans_in_the_pool(make_env: Callable[..., Env]) -> None:
    env = make_env(scan_processes=1)
    r = env.client.post(
        "/v1/scans",
        files={"file": ("s.jpg", jpeg(), "image/jpeg")},
        headers={**env.tokens[Role.INGEST], "Prefer": "respond-async"},
    )
    assert r.status_code == 202
    assert work_once(env.service, sender=lambda *_: 200) >= 1
    done = env.client.get(r.headers["location"], headers=env.tokens[Role.INGEST]).json()
    assert done["status"] == "done", done


def test_a_dead_scan_process_answers_503_and_a_new_pool_takes_over(
    make_env: Callable[..., Env],
) -> None:
    env = make_env(scan_processes=1)
    pool = _pool(env)
    first = _pool_pid(pool)
    os.kill(first, signal.SIGKILL)
    r = env.client.post(
        "/v1/scans",
        files={"file": ("a.jpg", jpeg(), "image/jpeg")},
        headers=env.tokens[Role.INGEST],
    )
    assert r.status_code == 503 and r.headers["retry-after"] == "1"
    assert r.json()["type"].endswith("/scan-unavailable") and "retry" in r.json()["detail"]
    assert env.scan(jpeg(), "again.jpg")["verdict"] == "no-signal"  # the retry works
    assert _pool_pid(pool) != first
    listed = env.client.get("/v1/items", headers=env.tokens[Role.ADMIN]).json()["items"]
    assert len(listed) == 1  # the failed upload left no item behind


def test_a_batch_scans_its_files_in_parallel_in_the_pool(make_env: Callable[..., Env]) -> None:
    env = make_env(scan_processes=2)
    files = [("files", (f"{i}.jpg", jpeg((i, 50, 90)), "image/jpeg")) for i in range(5)]
    r = env.client.post("/v1/batches", files=files, headers=env.tokens[Role.INGEST])
    assert r.status_code == 202
    assert work_once(env.service, sender=lambda *_: 200) >= 1
    done = env.client.get(r.headers["location"], headers=env.tokens[Role.INGEST]).json()
    assert done["status"] == "done", done
    assert [i["filename"] for i in done["result"]["items"]] == [f"{i}.jpg" for i in range(5)]
    assert all(i["verdict"] == "no-signal" for i in done["result"]["items"])
