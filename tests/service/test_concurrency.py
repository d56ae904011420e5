"""The real server under concurrency and crashes, on SQLite: ``pyosi serve`` in its own processes.

- 50 uploads at once (some the same bytes) all answer 201, nothing says "database is locked",
  and exactly 50 items exist afterwards;
- killing worker processes (then the whole server) with SIGKILL mid-upload loses nothing that was
  answered 201, and leaves no item without its complete file;
- a background job whose worker died inside the item's transaction is run again once its lease
  lapses, and makes exactly one item.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from pyosi.bench.service import Installation, Server, multipart, request
from pyosi.service.app import Settings, create_app
from pyosi.service.auth import Role, create_api_key
from pyosi.storage import open_database

LOCKED = "database is locked"


@dataclass
class Live:
    server: Server
    token: str
    data_dir: Path

    def upload(self, data: bytes, name: str = "a.jpg") -> tuple[int, Any]:
        body, content_type = multipart("file", name, data, "image/jpeg")
        try:
            status, raw = request(
                "POST",
                self.server.port,
                "/v1/scans",
                body=body,
                headers={"Authorization": f"Bearer {self.token}", "Content-Type": content_type},
                timeout=60,
            )
        except OSError as e:  # the server died under this request
            return 0, str(e)
        return status, _json(raw)

    def get(self, path: str) -> tuple[int, Any]:
        status, raw = request(
            "GET", self.server.port, path, headers={"Authorization": f"Bearer {self.token}"}
        )
        return status, _json(raw) if not path.endswith("/file") else raw

    def all_items(self) -> list[dict[str, Any]]:
        """Every item, following the cursor 20 at a time."""
        found: list[dict[str, Any]] = []
        cursor = ""
        for _ in range(100):
            status, page = self.get(f"/v1/items?limit=20{cursor}")
            assert status == 200, page
            found += page["items"]
            if not page["next_cursor"]:
                return found
            cursor = f"&cursor={page['next_cursor']}"
        raise AssertionError("pagination did not end")


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


def jpeg(seed: int, size: tuple[int, int] = (320, 240)) -> bytes:
    """A distinct photo-like JPEG (noise over a gradient) per seed."""
    rng = np.random.default_rng(seed)
    w, h = size
    base = np.linspace(0, 200, w, dtype=np.float32)[None, :, None] + rng.uniform(0, 40, 3)
    pixels = np.clip(base + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=85)
    return buf.getvalue()


@pytest.fixture
def data_dir_install(data_dir: Path) -> Installation:
    """A migrated SQLite installation in the test's data directory, with an ingest API key."""
    url = f"sqlite:///{data_dir / 'pyosi.db'}"
    db = open_database(url)
    db.upgrade()
    _, token = create_api_key(db.engine, "load", Role.INGEST, actor="test")
    db.dispose()
    return Installation(data_dir, url, token, data_dir / "keys" / "none.json", "")


@pytest.fixture
def live(data_dir_install: Installation) -> Iterator[Live]:
    # Two HTTP processes (SQLite written from both), each with one scan process.
    server = Server(data_dir_install, scan_processes=2, http_workers=2)
    server.start(timeout=90)
    try:
        yield Live(server, data_dir_install.token, data_dir_install.data_dir)
    finally:
        server.stop()


def _fire(
    live: Live, uploads: list[bytes], on_answer: Callable[[int], None] | None = None
) -> list[tuple[int, Any]]:
    """Every upload from its own thread, released together; ``on_answer(status)`` as each ends."""
    results: list[tuple[int, Any]] = [(0, None)] * len(uploads)
    start = threading.Barrier(len(uploads))

    def one(i: int) -> None:
        start.wait()
        results[i] = live.upload(uploads[i], f"u{i}.jpg")
        if on_answer is not None:
            on_answer(results[i][0])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(uploads))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


def _processes() -> dict[int, tuple[int, bytes]]:
    """Every live process: pid -> (parent pid, command line)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        found[int(entry.name)] = (int(stat.rsplit(")", 1)[1].split()[1]), cmdline)
    return found


def _worker_pids(server: Server) -> list[int]:
    """Uvicorn's worker processes: the master's children that run the app."""
    assert server.process is not None
    master = server.process.pid
    return [pid for pid, (ppid, cmd) in _processes().items()
            if ppid == master and b"spawn_main" in cmd]  # fmt: skip


def _scan_pids(server: Server) -> list[int]:
    """The scan pools' processes: spawned children of a worker."""
    workers = set(_worker_pids(server))
    return [pid for pid, (ppid, cmd) in _processes().items()
            if ppid in workers and b"spawn_main" in cmd]  # fmt: skip


def _blob_ok(data_dir: Path, sha: str) -> bool:
    path = data_dir / "blobs" / sha[:2] / sha[2:]
    return path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == sha


def _integrity(data_dir: Path) -> str:
    import sqlite3

    with sqlite3.connect(data_dir / "pyosi.db") as conn:
        result: str = conn.execute("PRAGMA integrity_check").fetchone()[0]
    return result


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds worker processes in /proc")
def test_fifty_concurrent_uploads_on_sqlite(live: Live) -> None:
    distinct = [jpeg(i) for i in range(40)]
    same = [jpeg(1000)] * 10  # the same bytes at once: one blob, ten items
    results = _fire(live, distinct + same)

    assert [status for status, _ in results] == [201] * 50, [r for r in results if r[0] != 201]
    assert not any(LOCKED in json.dumps(body) for _, body in results)
    ids = {body["id"] for _, body in results}
    assert len(ids) == 50
    items = live.all_items()
    assert len(items) == 50 and {i["id"] for i in items} == ids
    assert all(i["verdict"] == "no-signal" for i in items)
    shas = {hashlib.sha256(d).hexdigest() for d in distinct + same}
    assert {i["sha256"] for i in items} == shas and len(shas) == 41
    assert all(_blob_ok(live.data_dir, sha) for sha in shas)
    live.server.stop()
    log = "\n".join(live.server.log_lines())
    assert LOCKED not in log and "Traceback" not in log, log


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds worker processes in /proc")
def test_nothing_answered_201_is_lost_when_workers_are_killed(live: Live) -> None:
    uploads = [jpeg(2000 + i, (960, 720)) for i in range(90)]

    def wave(batch: list[bytes], kill: Callable[[], None]) -> list[tuple[int, Any]]:
        """Fire ``batch`` at once and ``kill`` as soon as five uploads have been answered 201."""
        answered = threading.Semaphore(0)
        results: list[tuple[int, Any]] = []

        def count(status: int) -> None:
            if status == 201:
                answered.release()

        firing = threading.Thread(target=lambda: results.extend(_fire(live, batch, count)))
        firing.start()
        for _ in range(5):
            assert answered.acquire(timeout=60)
        kill()
        firing.join(120)
        return results

    def kill_a_worker() -> None:  # it dies mid-request; uvicorn starts another
        workers = _worker_pids(live.server)
        assert len(workers) == 2
        os.kill(workers[0], signal.SIGKILL)

    def kill_a_scan_process() -> None:  # its uploads get 503; the pool is replaced
        scanners = _scan_pids(live.server)
        assert scanners, "no scan process found"
        os.kill(scanners[0], signal.SIGKILL)

    def kill_the_server() -> None:  # the master and every worker at once
        assert live.server.process is not None
        os.killpg(live.server.process.pid, signal.SIGKILL)

    results = wave(uploads[:30], kill_a_worker)
    results += wave(uploads[30:60], kill_a_scan_process)
    results += wave(uploads[60:], kill_the_server)
    live.server.stop()
    assert len(results) == 90
    statuses = [status for status, _ in results]
    assert statuses.count(201) >= 15 and statuses.count(0) >= 1  # answered, and cut off
    assert statuses[30:60].count(503) >= 1  # the dead scan process's uploads: "retry"
    # A request got its 201, a 503 problem document, or no answer at all.
    assert set(statuses) <= {0, 201, 503}, results
    assert all(body["type"].endswith("/scan-unavailable") for s, body in results if s == 503)
    answered = {hashlib.sha256(uploads[i]).hexdigest(): body["id"]
                for i, (status, body) in enumerate(results) if status == 201}  # fmt: skip
    assert _integrity(live.data_dir) == "ok"

    live.server.start(timeout=90)  # the same data directory, restarted
    items = live.all_items()
    by_id = {i["id"]: i for i in items}
    for sha, item_id in answered.items():
        assert item_id in by_id, f"item {item_id} was answered 201 and is gone"
        assert by_id[item_id]["sha256"] == sha
        status, data = live.get(f"/v1/items/{item_id}/file")
        assert status == 200 and hashlib.sha256(data).hexdigest() == sha
    for item in items:  # nothing half-made: every item has its complete file
        assert _blob_ok(live.data_dir, item["sha256"]), item["id"]
        assert item["verdict"] and item["status"]


_DYING_WORKER = """
import os, signal, sys
from pyosi.service import jobs, worker
from pyosi.service.app import Settings, create_app

jobs.LEASE_SECONDS = 1  # a short lease, so the test need not wait five minutes

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)  # inside the item's transaction, before it commits

jobs.finish = die
app = create_app(Settings(run_worker=False))
job = jobs.claim(app.state.service.db.engine)
assert job is not None, "no job to claim"
worker.run_job(app.state.service, job)
sys.exit("still alive")
"""


def test_a_job_whose_worker_died_runs_again_after_its_lease(
    data_dir_install: Installation,
) -> None:
    from pyosi.service import jobs

    data_dir = data_dir_install.data_dir
    token = {"Authorization": f"Bearer {data_dir_install.token}"}
    app = create_app(Settings(database_url=data_dir_install.database_url, run_worker=False))
    with TestClient(app) as client:
        r = client.post(
            "/v1/scans",
            files={"file": ("big.jpg", jpeg(7), "image/jpeg")},
            headers={**token, "Prefer": "respond-async"},
        )
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]

    # A worker claims the job and is killed while writing its item.
    env = {**os.environ, "PYOSI_DATA_DIR": str(data_dir)}
    died = subprocess.run(
        [sys.executable, "-c", _DYING_WORKER], env=env, capture_output=True, check=False
    )
    assert died.returncode == -signal.SIGKILL, died.stderr.decode()
    engine = app.state.service.db.engine
    job = jobs.get_job(engine, job_id)
    assert (job.status, job.attempts) == ("running", 1)
    item_id = job.payload["item_id"]
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM items").scalar() == 0  # rolled back

    # The service's own worker picks it up once the lease has lapsed.
    server = Server(data_dir_install, scan_processes=1)
    server.start(timeout=90)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            status, raw = request("GET", server.port, f"/v1/jobs/{job_id}", headers=token)
            doc = json.loads(raw)
            if doc["status"] in ("done", "failed"):
                break
            time.sleep(0.3)
        assert doc["status"] == "done" and doc["attempts"] == 2, doc
        assert doc["result"]["item_id"] == item_id
        status, raw = request("GET", server.port, f"/v1/items/{item_id}", headers=token)
        assert status == 200 and json.loads(raw)["sha256"] == hashlib.sha256(jpeg(7)).hexdigest()
        status, raw = request("GET", server.port, "/v1/items", headers=token)
        assert [i["id"] for i in json.loads(raw)["items"]] == [item_id]  # exactly one item
    finally:
        server.stop()
    app.state.service.db.dispose()


@pytest.mark.parametrize("http_workers", [1, 2], ids=["one-http-process", "two-http-processes"])
def test_metrics_count_the_requests_of_every_http_process(
    data_dir_install: Installation, http_workers: int
) -> None:
    # One process keeps its counters in memory; several add theirs up in a shared directory
    # that pyosi serve sets up before prometheus_client is first imported.
    server = Server(data_dir_install, scan_processes=1, http_workers=http_workers)
    server.start(timeout=90)
    try:
        for _ in range(6):
            assert request("GET", server.port, "/healthz")[0] == 200
        status, raw = request("GET", server.port, "/metrics")
    finally:
        server.stop()
    assert status == 200
    counts = [
        float(line.rsplit(" ", 1)[1])
        for line in raw.decode().splitlines()
        if line.startswith("pyosi_http_requests_total{") and 'route="/healthz"' in line
    ]
    assert sum(counts) >= 6, raw.decode()
