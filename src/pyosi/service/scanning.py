"""Uploads scanned in a pool of processes, one per core, as :func:`pyosi.scan.scan_paths` does.

Why not threads in the HTTP processes: ``pyosi serve``'s processes share one listening socket and
whichever wakes first takes a connection, so two uploads often land in one process while another
idles; and two scans in one process contend for the GIL. Measured on 2 cores (1-MP JPEGs), threads
cost about 30% more CPU per upload than the library's own scan and reached 70% of its rate; a pool
that every upload of the process queues for keeps each core on one scan at a time, as the library
does. The pool's processes read partner keys and the manifest store from the database themselves,
so a key registered through the API applies to the next scan.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import logging
import multiprocessing as mp
import os
import threading
import time
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from pyosi.errors import PyosiError
from pyosi.provenance.store import ManifestStore
from pyosi.scan import ScanResult, one_thread_per_process, scan_bytes
from pyosi.service.partners import KeyCache
from pyosi.signals.base import ScanContext, SignalType
from pyosi.storage import Database, open_database, read_only

log = logging.getLogger("pyosi.service")


class ScanUnavailableError(PyosiError):
    """A scan process died (or the pool is shutting down); the upload may simply be retried."""


@dataclass(frozen=True)
class PoolConfig:
    """What a scan process needs, in a form that crosses process boundaries."""

    database_url: str
    anchors: str | None


class ScanPool:
    """``processes`` scan processes; :meth:`scan` queues an upload for the next free one."""

    def __init__(self, processes: int, config: PoolConfig) -> None:
        if processes < 1:
            raise ValueError("a scan pool needs at least one process")
        self.processes = processes
        self._config = config
        self._lock = threading.Lock()
        self._executor: cf.ProcessPoolExecutor | None = None

    def start(self) -> ScanPool:
        """Start the processes now (each loads OpenCV and c2pa-rs once) rather than on the first
        uploads, whose answers would otherwise wait for that."""
        executor = self._current()
        for _ in range(self.processes):
            executor.submit(_ready)
        return self

    def _current(self) -> cf.ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                # Never plain fork (see pyosi.scan.scan_paths): the parent runs c2pa-rs threads.
                # Not a fork server either: its children are not this process's, and they
                # outlived a service that was killed (they wait on a queue nobody closes).
                ctx = mp.get_context("spawn")
                self._executor = cf.ProcessPoolExecutor(
                    self.processes, mp_context=ctx, initializer=_init, initargs=(self._config,)
                )
            return self._executor

    def _discard(self, broken: cf.ProcessPoolExecutor) -> None:
        with self._lock:
            if self._executor is broken:
                self._executor = None
        broken.shutdown(wait=False, cancel_futures=True)

    def _submit(
        self, data: bytes, filename: str
    ) -> tuple[cf.ProcessPoolExecutor, cf.Future[ScanResult]]:
        executor = self._current()
        try:
            return executor, executor.submit(_scan, data, filename)
        except (BrokenProcessPool, RuntimeError) as e:  # RuntimeError: shut down meanwhile
            raise self._broken(executor, e) from None

    def _broken(self, executor: cf.ProcessPoolExecutor, e: Exception) -> ScanUnavailableError:
        log.error("a scan process died (%s); starting a new pool", e)
        self._discard(executor)
        return ScanUnavailableError("the scan process handling this upload stopped; retry it")

    async def scan(self, data: bytes, filename: str) -> ScanResult:
        """Scan ``data`` in a pool process; a pool whose process died is replaced for the next
        upload and this one gets :class:`ScanUnavailableError`."""
        executor, future = self._submit(data, filename)
        try:
            return await asyncio.wrap_future(future)
        except BrokenProcessPool as e:
            raise self._broken(executor, e) from None

    def scan_blocking(self, data: bytes, filename: str) -> ScanResult:
        """:meth:`scan` for a thread that is not the event loop (background jobs)."""
        executor, future = self._submit(data, filename)
        try:
            return future.result()
        except BrokenProcessPool as e:
            raise self._broken(executor, e) from None

    def close(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)


class ScanSource:
    """What every scan in a process reads besides the file, on a read-only view of the database
    (a scan never waits for SQLite's write lock): the keys, trust anchors and manifest store."""

    def __init__(self, db: Database, anchors: str | None) -> None:
        self.reads = read_only(db.engine)
        self.anchors = anchors
        self.store = ManifestStore(database=Database(db.url, self.reads))
        self._keys = KeyCache()

    def context(self) -> ScanContext:
        # Keys are read per scan (one cheap query), so a partner key registered through the API
        # applies to the very next scan in every process.
        return ScanContext(keys=self._keys.keys(self.reads), anchors=self.anchors, store=self.store)


# -- in each scan process ------------------------------------------------------------------------


@dataclass
class _State:
    source: ScanSource
    detectors: list[SignalType]


_state: _State | None = None


def _init(config: PoolConfig) -> None:
    global _state  # noqa: PLW0603 - per-process state of a pool worker
    _exit_with_parent()  # spawned: the environment (data directory, secret) is the parent's
    one_thread_per_process()
    from pyosi.signals.registry import signal_types

    source = ScanSource(open_database(config.database_url), config.anchors)
    _state = _State(source, [t() for t in signal_types()])


def _exit_with_parent(poll_seconds: float = 1.0) -> None:
    """End this process once the service process that started it is gone, however it went
    (a SIGKILL, the OOM killer): a pool worker otherwise waits for work for ever."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(poll_seconds)
            if os.getppid() != parent:  # reparented: the service process has died
                os._exit(0)

    threading.Thread(target=watch, name="pyosi-parent-watch", daemon=True).start()


def _ready() -> int:
    return os.getpid()


def _scan(data: bytes, filename: str) -> ScanResult:
    assert _state is not None
    return scan_bytes(data, _state.source.context(), path=filename, detectors=_state.detectors)
