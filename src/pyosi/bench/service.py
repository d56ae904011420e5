"""``pyosi bench service``: sustained scans per second and latency of the service over HTTP.

The question it answers: how close does ``pyosi serve`` come to the library's own scan rate on the
same machine, and how long does an upload wait at a realistic load? It runs, in order:

1. The corpus: the same ≈1-MP JPEG mix as ``pyosi bench scan``
   (:func:`pyosi.bench.scan.build_corpus`, built once and reused).
2. A fresh service installation in a temporary data directory: migrated, the corpus's watermark
   key in ``keys/``, its development root in ``trust/``, its manifests copied into the store (so
   stripped copies recover their credentials), an ingest API key. With ``database_url`` the
   database is a throwaway one created on that PostgreSQL server and dropped afterwards.
3. The library's own rate: every corpus file scanned with :func:`pyosi.scan.scan_paths` over the
   same number of processes, with the same keys, trust and store. Nothing else runs meanwhile.
4. ``pyosi serve`` as a subprocess on a free port (rate limit off), waited for on ``/healthz``, then
   warmed up with a few uploads per worker process.
5. Closed loop: ``c`` client threads, each uploading back to back, for each concurrency level; the
   best throughput is the service's sustained rate.
6. Open loop: uploads sent at a fixed arrival rate (default 80% of the library's rate) whatever the
   answers; latency is measured from each upload's scheduled time, so a slow server cannot hide
   its queue by slowing the client down (no coordinated omission).

The load comes from this process, over a fresh TCP connection per upload (a keep-alive connection
would pin every upload of a client thread to one server process); the server is another process
tree. Every answer must be 201 with the verdict the corpus file was built to carry.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import itertools
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pyosi.bench.scan import MIX, build_corpus
from pyosi.errors import OutputError, PyosiError

SCHEMA = "pyosi.bench.service/1"
JSON_NAME = "bench-service.json"
#: The issue's targets: the service reaches this share of the library's rate …
RATE_TARGET = 0.8
#: … and at that load (arrivals at RATE_TARGET × the library's rate) p95 stays under this.
P95_TARGET_S = 1.0
HOST = "127.0.0.1"
REQUEST_TIMEOUT_S = 120.0
START_TIMEOUT_S = 120.0
_EXPECTED = {kind: verdict for kind, _, verdict in MIX}
# Server log lines worth reporting: anything logged at error level, and SQLite's lock failures.
_LOG_ALARMS = ("Traceback", "ERROR", "database is locked", "Exception")

Progress = Callable[[str], None]


class ServiceBenchError(PyosiError):
    """The benchmark could not run: the server did not start, the database was unusable, …"""


@dataclass(frozen=True)
class ServiceBenchConfig:
    corpus: Path = Path("bench-results/service-corpus")
    files: int = 200
    #: Server processes and library scan processes (default: one per core).
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    #: Closed-loop client threads, one level after another.
    concurrency: tuple[int, ...] = (1, 2, 4, 8)
    #: Open-loop arrivals per second; None = RATE_TARGET × the library's measured rate.
    rate: float | None = None
    #: Length of each load phase.
    seconds: float = 20.0
    #: A PostgreSQL server to run on (a scratch database is created and dropped); None = SQLite.
    database_url: str | None = None
    seed: int = 0
    #: Keep the service's temporary data directory (and its server.log) for inspection.
    keep: bool = False


#: Kinds whose every byte is covered by a C2PA hard binding: uploaded exactly as built.
_SIGNED_KINDS = frozenset({"marked", "c2pa-ai", "c2pa-camera"})


@dataclass(frozen=True)
class Upload:
    """One corpus file, uploaded as a distinct file each time where its kind allows it."""

    name: str
    kind: str
    expected: str
    data: bytes

    def body(self) -> tuple[bytes, str]:
        """A multipart body and its Content-Type.

        Every upload of an unsigned file carries a fresh JPEG comment, so the service stores a new
        blob each time (as with real traffic) rather than finding the bytes already stored.
        Signed files go as built: any change to their bytes would break the C2PA binding.
        """
        data = self.data if self.kind in _SIGNED_KINDS else with_comment(self.data)
        return multipart("file", self.name, data, "image/jpeg")


@dataclass(frozen=True)
class Sample:
    """One upload as the client saw it."""

    name: str
    status: int  # 0: no HTTP answer (connection error, time-out)
    latency_s: float
    finished: float  # perf_counter()
    verdict: str | None
    ok: bool  # 201 with the expected verdict
    error: str | None = None


@dataclass
class Phase:
    """One load phase: a closed-loop concurrency level or the open-loop run."""

    mode: str  # "closed" or "open"
    concurrency: int | None
    target_rate: float | None
    seconds: float
    requests: int
    ok: int
    statuses: dict[str, int]
    wrong_verdicts: int
    failures: list[str]
    p50_s: float
    p95_s: float
    p99_s: float
    max_s: float
    mean_s: float
    #: CPU seconds the server's processes (every thread) and this client used in the phase.
    server_cpu_s: float | None = None
    client_cpu_s: float | None = None

    @property
    def throughput(self) -> float:
        """Uploads answered correctly per second."""
        return self.ok / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_ms_per_upload(self) -> float | None:
        if self.server_cpu_s is None or not self.requests:
            return None
        return 1000 * self.server_cpu_s / self.requests

    @property
    def server_cores(self) -> float | None:
        """Cores' worth of CPU the server got: below the worker count means it waited for CPU."""
        if self.server_cpu_s is None or self.seconds <= 0:
            return None
        return self.server_cpu_s / self.seconds

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "throughput": round(self.throughput, 2),
            "cpu_ms_per_upload": _round(self.cpu_ms_per_upload, 1),
            "server_cores": _round(self.server_cores, 2),
        }


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


@dataclass
class LibraryRun:
    files: int
    workers: int
    seconds: float
    #: Files per second over the whole run, pool start-up included.
    rate_end_to_end: float
    #: Files per second once every process had finished its first file.
    rate: float
    wrong_verdicts: int
    errors: int
    #: CPU per file over the same span, every process of the pool (None without /proc).
    cpu_ms_per_file: float | None = None


@dataclass
class ServiceBenchReport:
    config: ServiceBenchConfig
    database: str
    #: The library measured just before the service (the reference) and again after it (how
    #: much the machine's other load changed meanwhile).
    library_runs: list[LibraryRun]
    warmup: Phase
    closed: list[Phase]
    open: Phase
    load_before: tuple[float, float, float] | None
    load_after: tuple[float, float, float] | None
    server_log_alarms: list[str]
    seconds: float

    @property
    def library_rate(self) -> float:
        """The reference rate: the run just before the service's (also sets the open loop)."""
        return self.library_runs[0].rate if self.library_runs else 0.0

    @property
    def library_cpu_ms(self) -> float | None:
        """CPU per file: the lower of the runs (less disturbed by other load on the machine)."""
        cpu = [r.cpu_ms_per_file for r in self.library_runs if r.cpu_ms_per_file is not None]
        return min(cpu) if cpu else None

    @property
    def sustained(self) -> Phase | None:
        """The closed-loop level with the best throughput among those without a failure."""
        clean = [p for p in self.closed if p.ok == p.requests]
        return max(clean, key=lambda p: p.throughput, default=None)

    @property
    def sustained_rate(self) -> float:
        return self.sustained.throughput if self.sustained is not None else 0.0

    @property
    def ratio(self) -> float:
        return self.sustained_rate / self.library_rate if self.library_rate else 0.0

    @property
    def cpu_ratio(self) -> float | None:
        """Library CPU per file over service CPU per upload at the sustained level: the share
        of the library's rate the service would reach with the machine to itself."""
        lib, sustained = self.library_cpu_ms, self.sustained
        service = sustained.cpu_ms_per_upload if sustained is not None else None
        return lib / service if lib is not None and service else None

    @property
    def all_correct(self) -> bool:
        phases = [self.warmup, *self.closed, self.open]
        return all(p.ok == p.requests for p in phases) and not any(
            r.wrong_verdicts for r in self.library_runs
        )

    def checks(self) -> dict[str, bool]:
        return {
            f"sustained rate >= {RATE_TARGET:.0%} of the library's": self.ratio >= RATE_TARGET,
            f"open-loop p95 <= {P95_TARGET_S:g} s": self.open.p95_s <= P95_TARGET_S,
            "every upload 201 with the right verdict": self.all_correct,
            "no errors in the server log": not self.server_log_alarms,
        }

    @property
    def passed(self) -> bool:
        return all(self.checks().values())

    def to_dict(self) -> dict[str, Any]:
        from pyosi.bench.report import machine_info

        machine = machine_info()
        machine["timing"] = (
            f"{self.config.workers} server processes and the load generator share the machine"
        )
        return {
            "schema": SCHEMA,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": sys.argv,
            "machine": machine,
            "load_average_before": self.load_before,
            "load_average_after": self.load_after,
            "config": {
                **asdict(self.config),
                "corpus": str(self.config.corpus),
                "database_url": _redact(self.config.database_url),
            },
            "database": self.database,
            "seconds": round(self.seconds, 1),
            "library_runs": [asdict(r) for r in self.library_runs],
            "library_rate": round(self.library_rate, 3),
            "library_cpu_ms_per_file": _round(self.library_cpu_ms, 1),
            "warmup": self.warmup.to_dict(),
            "closed_loop": [p.to_dict() for p in self.closed],
            "open_loop": self.open.to_dict(),
            "sustained_rate": round(self.sustained_rate, 2),
            "ratio": round(self.ratio, 3),
            "cpu_ratio": _round(self.cpu_ratio, 3),
            "targets": {"rate_ratio": RATE_TARGET, "p95_s": P95_TARGET_S},
            "checks": self.checks(),
            "passed": self.passed,
            "server_log_alarms": self.server_log_alarms,
        }


# -- the service installation ----------------------------------------------------------------


@dataclass(frozen=True)
class Installation:
    data_dir: Path
    database_url: str
    token: str
    key_path: Path
    anchors: str


def _redact(url: str | None) -> str | None:
    if url is None:
        return None
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"


def _driver_url(url: str) -> str:
    # As pyosi.storage.database_url(): postgresql:// means psycopg 3 here.
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def check_database_url(url: str) -> str:
    """The URL with its driver, if it names a PostgreSQL server; else a clear error."""
    if not url.startswith(("postgresql://", "postgresql+psycopg://")):
        raise ServiceBenchError(
            "--database-url takes a PostgreSQL URL (postgresql://user@host:port/db); "
            "without it the benchmark runs on SQLite in a temporary data directory"
        )
    return _driver_url(url)


@contextlib.contextmanager
def scratch_postgres(url: str) -> Iterator[str]:
    """A new, empty database on the server ``url`` names, dropped afterwards; yields its URL."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    base = make_url(check_database_url(url))
    name = f"pyosi_bench_{secrets.token_hex(4)}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except (SQLAlchemyError, ImportError) as e:
        admin.dispose()
        reason = str(getattr(e, "orig", None) or e).strip().splitlines()[0]
        raise ServiceBenchError(
            f"cannot create a scratch database on {_redact(url)}: {reason}"
        ) from None
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with contextlib.suppress(SQLAlchemyError), admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def install(data_dir: Path, database_url: str, corpus: Path) -> Installation:
    """Migrate the database, bring the corpus's key, trust root and manifests, make an API key."""
    from sqlalchemy import insert, select

    from pyosi.service.auth import Role, create_api_key
    from pyosi.storage import open_database
    from pyosi.storage.schema import manifests

    keys = data_dir / "keys"
    trust = data_dir / "trust"
    keys.mkdir(parents=True, exist_ok=True)
    trust.mkdir(parents=True, exist_ok=True)
    key_path = keys / "bench.json"
    shutil.copyfile(corpus / "data" / "keys" / "bench.json", key_path)
    root = (corpus / "data" / "identity" / "dev-root-ca.pem").read_text()
    (trust / "bench-dev-root.pem").write_text(root)

    db = open_database(database_url)
    source = open_database(f"sqlite:///{corpus / 'data' / 'pyosi.db'}")
    try:
        db.upgrade()
        with source.engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(select(manifests)).mappings()]
        if rows:
            with db.engine.begin() as conn:
                conn.execute(insert(manifests), rows)
        _, token = create_api_key(db.engine, "bench", Role.INGEST, actor="bench")
    finally:
        source.dispose()
        db.dispose()
    return Installation(data_dir, database_url, token, key_path, root)


# -- the server --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


class Server:
    """``pyosi serve`` in a process group of its own, its output in ``log_path``."""

    def __init__(
        self,
        installation: Installation,
        *,
        workers: int,
        port: int | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.installation = installation
        self.workers = workers
        self.port = port or free_port()
        self.log_path = installation.data_dir / "server.log"
        self.extra_env = env or {}
        self.process: subprocess.Popen[bytes] | None = None

    def environment(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("PYOSI_") and k != "PROMETHEUS_MULTIPROC_DIR"
        }
        metrics_dir = self.installation.data_dir / "metrics"
        metrics_dir.mkdir(exist_ok=True)
        env.update(
            PYOSI_DATA_DIR=str(self.installation.data_dir),
            PYOSI_KEY_RATE="0",  # rate limit off: the benchmark is one very busy key
            PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
        )
        if not self.installation.database_url.startswith("sqlite"):
            env["PYOSI_DATABASE_URL"] = self.installation.database_url
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = START_TIMEOUT_S) -> None:
        command = [
            sys.executable,
            "-c",
            "from pyosi.cli import main; main()",
            "serve",
            "--host",
            HOST,
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
        ]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.environment(),
                start_new_session=True,  # its own process group: stop() ends the workers too
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.process.wait()
                raise ServiceBenchError(
                    f"the service exited with status {self.process.returncode} while starting: "
                    f"{self.last_log_line() or 'no output'}"
                )
            try:
                status, _ = request("GET", self.port, "/healthz", timeout=2)
            except OSError:
                status = 0
            if status == 200:
                return
            time.sleep(0.2)
        self.stop()
        raise ServiceBenchError(
            f"the service did not answer /healthz within {timeout:.0f} s: "
            f"{self.last_log_line() or 'no output'}"
        )

    def stop(self, timeout: float = 20.0) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout)
        # Whatever is left of the group (a worker that ignored the master's stop) goes now.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def log_lines(self) -> list[str]:
        try:
            return self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return []

    def last_log_line(self) -> str:
        lines = [line.strip() for line in self.log_lines() if line.strip()]
        return lines[-1] if lines else ""

    def alarms(self) -> list[str]:
        return [line for line in self.log_lines() if any(a in line for a in _LOG_ALARMS)]

    def cpu_seconds(self) -> float | None:
        return process_tree_cpu(self.process.pid) if self.process is not None else None

    def measure(self, run: Callable[[], Phase]) -> Phase:
        """Run one load phase, adding the CPU the server and this client used meanwhile."""
        server0, client0 = self.cpu_seconds(), time.process_time()
        phase = run()
        server1, client1 = self.cpu_seconds(), time.process_time()
        if server0 is not None and server1 is not None:
            phase.server_cpu_s = round(server1 - server0, 3)
        phase.client_cpu_s = round(client1 - client0, 3)
        return phase


def process_tree_cpu(root: int, *, include_root: bool = True) -> float | None:
    """CPU seconds (user + system, every thread) used so far by ``root`` and its live
    descendants; None where there is no /proc to read it from."""
    proc = Path("/proc")
    if not (proc / "self" / "stat").exists():
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = {}
    cpu: dict[int, float] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        fields = stat.rsplit(")", 1)[1].split()
        pid = int(entry.name)
        children.setdefault(int(fields[1]), []).append(pid)
        cpu[pid] = (int(fields[11]) + int(fields[12])) / ticks
    total = cpu.get(root, 0.0) if include_root else 0.0
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        total += cpu.get(pid, 0.0)
        todo.extend(children.get(pid, []))
    return total


def _own_and_children_cpu() -> float | None:
    children = process_tree_cpu(os.getpid(), include_root=False)
    return None if children is None else time.process_time() + children


# -- the client --------------------------------------------------------------------------------


def request(
    method: str,
    port: int,
    path: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = REQUEST_TIMEOUT_S,
) -> tuple[int, bytes]:
    """One request on a fresh connection; (status, body). Connection errors raise OSError."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    except http.client.HTTPException as e:
        raise OSError(f"{type(e).__name__}: {e}") from None
    finally:
        conn.close()


def multipart(field_name: str, filename: str, data: bytes, mime: str) -> tuple[bytes, str]:
    """A multipart/form-data body with one file field, and its Content-Type."""
    boundary = f"pyosi-bench-{secrets.token_hex(12)}"
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="{field_name}"; filename="{filename}"\r\n'
        f"Content-Type: {mime}\r\n\r\n"
    ).encode()
    return (
        head + data + f"\r\n--{boundary}--\r\n".encode(),
        f"multipart/form-data; boundary={boundary}",
    )


def with_comment(jpeg: bytes) -> bytes:
    """``jpeg`` with a random COM segment just before its first scan (pixels and metadata kept)."""
    comment = b"pyosi-bench " + secrets.token_hex(8).encode()
    segment = b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment
    i = 2  # after SOI
    while i + 4 <= len(jpeg) and jpeg[i] == 0xFF:
        marker = jpeg[i + 1]
        if marker == 0xDA:  # start of scan
            return jpeg[:i] + segment + jpeg[i:]
        i += 2 + int.from_bytes(jpeg[i + 2 : i + 4], "big")
    return jpeg  # not a layout this understands: upload it unchanged


def load_uploads(files_dir: Path, manifest: dict[str, str]) -> list[Upload]:
    return [
        Upload(name, kind, _EXPECTED[kind], (files_dir / name).read_bytes())
        for name, kind in sorted(manifest.items())
    ]


def upload(port: int, token: str, item: Upload, *, scheduled: float | None = None) -> Sample:
    """POST one upload to /v1/scans; latency from ``scheduled`` (open loop) or from sending."""
    payload, content_type = item.body()
    started = time.perf_counter() if scheduled is None else scheduled
    headers = {"Authorization": f"Bearer {token}", "Content-Type": content_type}
    try:
        status, body = request("POST", port, "/v1/scans", body=payload, headers=headers)
    except OSError as e:
        finished = time.perf_counter()
        return Sample(item.name, 0, finished - started, finished, None, False, str(e) or repr(e))
    finished = time.perf_counter()
    verdict: str | None = None
    error: str | None = None
    try:
        doc = json.loads(body)
        verdict = doc.get("verdict") if status == 201 else None
        if status != 201:
            error = f"{status}: {doc.get('detail', body[:200].decode(errors='replace'))}"
    except (ValueError, AttributeError):
        error = f"{status}: {body[:200].decode(errors='replace')}"
    if status == 201 and verdict != item.expected:
        error = f"{item.name}: verdict {verdict!r}, expected {item.expected!r}"
    ok = status == 201 and verdict == item.expected
    return Sample(item.name, status, finished - started, finished, verdict, ok, error)


def _percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    import numpy as np

    return float(np.percentile(np.asarray(values), q))


def summarise(
    mode: str,
    samples: Sequence[Sample],
    seconds: float,
    *,
    concurrency: int | None = None,
    target_rate: float | None = None,
) -> Phase:
    latencies = [s.latency_s for s in samples]
    failures = [s.error or f"{s.name}: status {s.status}" for s in samples if not s.ok]
    return Phase(
        mode=mode,
        concurrency=concurrency,
        target_rate=round(target_rate, 3) if target_rate is not None else None,
        seconds=round(seconds, 3),
        requests=len(samples),
        ok=sum(s.ok for s in samples),
        statuses=dict(Counter(str(s.status) for s in samples)),
        wrong_verdicts=sum(s.status == 201 and not s.ok for s in samples),
        failures=failures[:10],
        p50_s=round(_percentile(latencies, 50), 4),
        p95_s=round(_percentile(latencies, 95), 4),
        p99_s=round(_percentile(latencies, 99), 4),
        max_s=round(max(latencies, default=float("nan")), 4),
        mean_s=round(sum(latencies) / len(latencies), 4) if latencies else float("nan"),
    )


class Cycle:
    """The corpus's uploads, handed out round-robin to any number of threads."""

    def __init__(self, uploads: Sequence[Upload]) -> None:
        self._uploads = uploads
        self._counter = itertools.count()
        self._lock = threading.Lock()

    def next(self) -> Upload:
        with self._lock:
            i = next(self._counter)
        return self._uploads[i % len(self._uploads)]


def closed_loop(
    port: int, token: str, uploads: Cycle, *, concurrency: int, seconds: float
) -> Phase:
    """``concurrency`` threads upload back to back until ``seconds`` have passed."""
    samples: list[Sample] = []
    lock = threading.Lock()
    started = time.perf_counter()
    deadline = started + seconds

    def client() -> None:
        while time.perf_counter() < deadline:
            s = upload(port, token, uploads.next())
            with lock:
                samples.append(s)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = max((s.finished for s in samples), default=deadline) - started
    return summarise("closed", samples, elapsed, concurrency=concurrency)


def open_loop(port: int, token: str, uploads: Cycle, *, rate: float, seconds: float) -> Phase:
    """Uploads sent every 1/``rate`` s for ``seconds``, each on its own thread."""
    n = max(1, round(rate * seconds))
    # Enough senders that a slow answer never delays the next arrival (up to 30 s of backlog).
    pool = ThreadPoolExecutor(max_workers=min(n, max(16, round(rate * 30))))
    futures = []
    started = time.perf_counter() + 0.05
    try:
        for k in range(n):
            at = started + k / rate
            delay = at - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(upload, port, token, uploads.next(), scheduled=at))
        samples = [f.result() for f in futures]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    elapsed = max(max(s.finished for s in samples) - started, n / rate)
    return summarise("open", samples, elapsed, target_rate=rate)


# -- the library's own rate ----------------------------------------------------------------------


def library_rate(
    files_dir: Path, manifest: dict[str, str], installation: Installation, workers: int
) -> LibraryRun:
    """Scan every corpus file with :func:`pyosi.scan.scan_paths`, as the service would."""
    from pyosi.provenance.credentials import trust_anchors
    from pyosi.scan import ScanOptions, scan_paths

    options = ScanOptions(
        key_paths=(str(installation.key_path),),
        anchors=installation.anchors + trust_anchors(),
        store_url=installation.database_url,
    )
    finished: list[float] = []
    wrong = errors = 0
    expected = len(manifest)
    # Pool start-up (a fork server, imports, the first file's lazy set-up) is not scan work:
    # rate and CPU count from the moment every process has finished one file.
    warm = min(workers, expected - 1) if expected > 1 else 0
    cpu_warm = cpu_end = _own_and_children_cpu() if warm == 0 else None
    started = time.perf_counter()
    for r in scan_paths([files_dir], options, workers=workers):
        finished.append(time.perf_counter() - started)
        wrong += r.verdict.value != _EXPECTED.get(manifest.get(Path(r.path).name, ""))
        errors += bool(r.error or r.errors)
        if len(finished) == warm:
            cpu_warm = _own_and_children_cpu()
        if len(finished) == expected:  # the pool's processes are still there to be read
            cpu_end = _own_and_children_cpu()
    total = finished[-1] if finished else 0.0
    n = len(finished)
    steady_span = total - finished[warm - 1] if warm else total
    rate = (n - warm) / steady_span if steady_span > 0 else 0.0
    cpu_ms = (
        1000 * (cpu_end - cpu_warm) / (n - warm)
        if cpu_warm is not None and cpu_end is not None and n > warm
        else None
    )
    return LibraryRun(
        files=n,
        workers=workers,
        seconds=round(total, 2),
        rate_end_to_end=round(n / total, 3) if total else 0.0,
        rate=round(rate, 3),
        wrong_verdicts=wrong,
        errors=errors,
        cpu_ms_per_file=_round(cpu_ms, 1),
    )


# -- the whole run -------------------------------------------------------------------------------


def _load_average() -> tuple[float, float, float] | None:
    try:
        return os.getloadavg()
    except OSError:
        return None


def _check_service_extra() -> None:
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise ServiceBenchError(
            "the service benchmark needs the service extra: pip install 'pyosi[service]'"
        ) from None


def run_service_bench(
    config: ServiceBenchConfig, progress: Progress | None = None
) -> ServiceBenchReport:
    """Build or reuse the corpus, measure the library, then the service; see the module doc."""
    say = progress or (lambda _msg: None)
    _check_service_extra()
    if config.database_url is not None:
        check_database_url(config.database_url)
    bad_levels = [c for c in config.concurrency if c < 1]
    if not config.concurrency or bad_levels:
        raise ServiceBenchError("concurrency levels must be whole numbers >= 1")
    began = time.perf_counter()
    load_before = _load_average()
    with contextlib.ExitStack() as stack:
        # The database first: an unreachable server fails before minutes of corpus building.
        if config.database_url is not None:
            url = stack.enter_context(scratch_postgres(config.database_url))
            say(f"scratch database on {_redact(config.database_url)}")
        try:
            data_dir = Path(tempfile.mkdtemp(prefix="pyosi-bench-service-"))
        except OSError as e:
            raise OutputError(f"cannot create a temporary directory: {e.strerror}") from None
        if config.keep:
            say(f"keeping the service's data directory {data_dir}")
        else:
            stack.callback(shutil.rmtree, data_dir, ignore_errors=True)
        if config.database_url is None:
            url = f"sqlite:///{data_dir / 'pyosi.db'}"
        say(f"building or reusing the {config.files}-file corpus in {config.corpus} …")
        manifest = build_corpus(config.corpus, config.files, seed=config.seed)
        files_dir = config.corpus / "files"
        uploads = load_uploads(files_dir, manifest)
        installation = install(data_dir, url, config.corpus)

        library_runs = [_library(say, files_dir, manifest, installation, config.workers)]

        server = Server(installation, workers=config.workers)
        say(f"starting pyosi serve --workers {config.workers} on port {server.port} …")
        stack.callback(server.stop)
        server.start()
        cycle = Cycle(uploads)
        port, token = server.port, installation.token
        # The first scan in each process loads OpenCV, c2pa-rs and the policy: not steady state.
        warm_n = max(2, 3 * config.workers)
        say(f"warming up ({warm_n} uploads) …")
        warmup = server.measure(
            lambda: _fixed_count(port, token, cycle, warm_n, concurrency=2 * config.workers)
        )
        closed: list[Phase] = []
        for c in config.concurrency:
            say(f"closed loop, {c} client(s), {config.seconds:g} s …")
            phase = server.measure(
                functools.partial(
                    closed_loop, port, token, cycle, concurrency=c, seconds=config.seconds
                )
            )
            say(_phase_line(phase))
            closed.append(phase)
        rate = config.rate if config.rate is not None else RATE_TARGET * library_runs[0].rate
        if rate <= 0:
            raise ServiceBenchError("the open-loop arrival rate must be above 0")
        say(f"open loop, {rate:.2f} uploads/s for {config.seconds:g} s …")
        opened = server.measure(
            lambda: open_loop(port, token, cycle, rate=rate, seconds=config.seconds)
        )
        say(_phase_line(opened))
        server.stop()
        alarms = server.alarms()[:20]
        # Again, with the service gone: the machine's other load may have changed meanwhile.
        library_runs.append(_library(say, files_dir, manifest, installation, config.workers))
        database = _redact(url) or url

    return ServiceBenchReport(
        config=config,
        database=database,
        library_runs=library_runs,
        warmup=warmup,
        closed=closed,
        open=opened,
        load_before=load_before,
        load_after=_load_average(),
        server_log_alarms=alarms,
        seconds=time.perf_counter() - began,
    )


def _library(
    say: Progress,
    files_dir: Path,
    manifest: dict[str, str],
    installation: Installation,
    workers: int,
) -> LibraryRun:
    say(f"library: scanning {len(manifest)} files, {workers} process(es) …")
    run = library_rate(files_dir, manifest, installation, workers)
    cpu = f", {run.cpu_ms_per_file:.0f} ms CPU a file" if run.cpu_ms_per_file else ""
    say(f"  {run.rate:.2f} files/s ({run.rate_end_to_end:.2f} with pool start-up){cpu}")
    return run


def _phase_line(p: Phase) -> str:
    cpu = f", {p.cpu_ms_per_upload:.0f} ms CPU an upload" if p.cpu_ms_per_upload else ""
    return (
        f"  {p.throughput:.2f} uploads/s, p50 {p.p50_s:.3f} s, p95 {p.p95_s:.3f} s, "
        f"p99 {p.p99_s:.3f} s, {p.requests - p.ok} failed{cpu}"
    )


def _fixed_count(port: int, token: str, uploads: Cycle, n: int, *, concurrency: int) -> Phase:
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        samples = list(pool.map(lambda _i: upload(port, token, uploads.next()), range(n)))
    elapsed = max(s.finished for s in samples) - started
    return summarise("warmup", samples, elapsed, concurrency=concurrency)


# -- output --------------------------------------------------------------------------------------


def write_json(report: ServiceBenchReport, out_dir: Path) -> Path:
    from pyosi._json import finite

    path = out_dir / JSON_NAME
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        text = json.dumps(finite(report.to_dict()), indent=2, allow_nan=False)
        path.write_text(text + "\n", encoding="utf-8")
    except OSError as e:
        raise OutputError(f"cannot write {path}: {e.strerror or e}") from None
    return path


def print_report(report: ServiceBenchReport, console: Any) -> None:
    """The phases as a Rich table, then the targets, each with ✓ or ✗."""
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    def num(value: float | None, fmt: str) -> str:
        return "" if value is None else format(value, fmt)

    lib_rate = report.library_rate
    table = Table(
        title=f"pyosi serve --workers {report.config.workers} on {report.database}",
        box=box.SIMPLE_HEAD,
    )
    for name in ["phase", "/s", "×lib", "p50 s", "p95 s", "p99 s", "n", "fail", "CPU ms"]:
        table.add_column(name, justify="left" if name == "phase" else "right", no_wrap=True)
    for i, run in enumerate(report.library_runs):
        table.add_row(
            f"library{' again' if i else ''}", f"{run.rate:.2f}", f"{run.rate / lib_rate:.2f}",
            "", "", "", str(run.files), str(run.wrong_verdicts + run.errors),
            num(run.cpu_ms_per_file, ".0f"),
        )  # fmt: skip
    for p in [*report.closed, report.open]:
        label = f"closed c={p.concurrency}" if p.mode == "closed" else f"open {p.target_rate:.2f}/s"
        failed = p.requests - p.ok
        table.add_row(
            label, f"{p.throughput:.2f}", f"{p.throughput / lib_rate:.2f}" if lib_rate else "",
            f"{p.p50_s:.3f}", f"{p.p95_s:.3f}", f"{p.p99_s:.3f}", str(p.requests),
            f"[red]{failed}[/]" if failed else "0", num(p.cpu_ms_per_upload, ".0f"),
        )  # fmt: skip
    console.print(table)
    console.print(
        f"sustained {report.sustained_rate:.2f} uploads/s = {report.ratio:.0%} of the library's "
        f"{lib_rate:.2f} files/s; at {report.open.target_rate:.2f} uploads/s: p50 "
        f"{report.open.p50_s:.3f} s, p95 {report.open.p95_s:.3f} s, p99 {report.open.p99_s:.3f} s"
    )
    if report.cpu_ratio is not None and report.sustained is not None:
        console.print(
            f"CPU per scan: library {num(report.library_cpu_ms, '.0f')} ms, service "
            f"{num(report.sustained.cpu_ms_per_upload, '.0f')} ms → with the machine to itself "
            f"the service would reach about {report.cpu_ratio:.0%} of the library's rate"
        )
    if report.load_before is not None and report.load_after is not None:
        console.print(
            f"[dim]measured under a load average (1 min) of {report.load_before[0]:.2f} before "
            f"and {report.load_after[0]:.2f} after, on {os.cpu_count()} cores[/]"
        )
    for name, ok in report.checks().items():
        console.print(f"  {'[green]✓[/]' if ok else '[red]✗[/]'} {escape(name)}")
    for p in [report.warmup, *report.closed, report.open]:
        for failure in p.failures[:3]:
            console.print(f"  [red]failure[/] ({p.mode}): {escape(failure)}")
    for line in report.server_log_alarms[:5]:
        console.print(f"  [yellow]server log:[/] {escape(line)}")
    console.print("[bold green]PASS[/]" if report.passed else "[bold red]FAIL[/]")
