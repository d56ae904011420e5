"""The scan pool: uploads scanned in processes of their own, and what happens when one dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from pyosi.media import encode_image
from pyosi.service.auth import Role
from pyosi.service.scanning import ScanPool, _ready
from pyosi.service.worker import work_once
from pyosi.storage import Database
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


_KILLED_SERVICE = """
import os, signal, sys
from pyosi.service.scanning import PoolConfig, ScanPool, _ready

pool = ScanPool(1, PoolConfig(sys.argv[1], None))
print(pool._current().submit(_ready).result(timeout=120), flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # the service process dies without a word
"""


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")  # a zombie has ended; only its parent's wait is missing


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads process states from /proc")
def test_a_scan_process_ends_when_its_service_process_is_killed(db: Database) -> None:
    run = subprocess.run(
        [sys.executable, "-c", _KILLED_SERVICE, db.url],
        check=False,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == -signal.SIGKILL, run.stderr
    scanner = int(run.stdout.split()[0])
    deadline = time.monotonic() + 20
    while _running(scanner) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _running(scanner), "the scan process outlived its service"
