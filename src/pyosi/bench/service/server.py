"""A throwaway service installation and ``pyosi serve`` running on it, in its own process group."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pyosi.bench.service.model import LOG_ALARMS, START_TIMEOUT_S, Phase, ServiceBenchError
from pyosi.bench.service.wire import HOST, request
from pyosi.storage import safe_url, with_driver

# -- the service installation ----------------------------------------------------------------


@dataclass(frozen=True)
class Installation:
    data_dir: Path
    database_url: str
    token: str
    key_path: Path
    anchors: str


def check_database_url(url: str) -> str:
    """The URL with its driver, if it names a PostgreSQL server; else a clear error."""
    if not url.startswith(("postgresql://", "postgresql+psycopg://")):
        raise ServiceBenchError(
            "--database-url takes a PostgreSQL URL (postgresql://user@host:port/db); "
            "without it the benchmark runs on SQLite in a temporary data directory"
        )
    return with_driver(url)


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
            f"cannot create a scratch database on {safe_url(url)}: {reason}"
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
        scan_processes: int,
        http_workers: int = 1,
    ) -> None:
        self.installation = installation
        self.scan_processes = scan_processes  # shared out among the HTTP processes
        self.http_workers = http_workers
        self.port = free_port()
        self.log_path = installation.data_dir / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    def environment(self) -> dict[str, str]:
        # pyosi serve sets up its own metrics directory (with several HTTP processes).
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("PYOSI_") and k != "PROMETHEUS_MULTIPROC_DIR"
        }
        env.update(
            PYOSI_DATA_DIR=str(self.installation.data_dir),
            PYOSI_KEY_RATE="0",  # rate limit off: the benchmark is one very busy key
        )
        if not self.installation.database_url.startswith("sqlite"):
            env["PYOSI_DATABASE_URL"] = self.installation.database_url
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
            str(self.http_workers),
            "--scan-processes",
            str(self.scan_processes),
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
        return [line for line in self.log_lines() if any(a in line for a in LOG_ALARMS)]

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
