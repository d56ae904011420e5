"""What ``pyosi bench service`` measures and reports: its settings, samples, phases and report."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pyosi.bench.service.wire import multipart, with_comment
from pyosi.errors import PyosiError
from pyosi.storage import safe_url

SCHEMA = "pyosi.bench.service/1"
JSON_NAME = "bench-service.json"
#: The issue's targets: the service reaches this share of the library's rate …
RATE_TARGET = 0.8
#: … and at that load (arrivals at RATE_TARGET × the library's rate) p95 stays under this.
P95_TARGET_S = 1.0
START_TIMEOUT_S = 120.0
# Server log lines worth reporting: anything logged at error level, and SQLite's lock failures.
LOG_ALARMS = ("Traceback", "ERROR", "database is locked", "Exception")

Progress = Callable[[str], None]


class ServiceBenchError(PyosiError):
    """The benchmark could not run: the server did not start, the database was unusable, …"""


@dataclass(frozen=True)
class ServiceBenchConfig:
    corpus: Path = Path("bench-results/service-corpus")
    files: int = 200
    #: Scan processes, in the service and the library (default: one per core).
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
        """The reference rate: the mean of the runs just before and just after the service's,
        which bracket it in time (this machine's speed drifts by ±10% over minutes). The open
        loop's default rate, set before the second run exists, comes from the first."""
        runs = self.library_runs
        return sum(r.rate for r in runs) / len(runs) if runs else 0.0

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
            f"one HTTP and {self.config.workers} scan processes and the load generator share the "
            "machine"
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
                "database_url": safe_url(url) if (url := self.config.database_url) else None,
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
