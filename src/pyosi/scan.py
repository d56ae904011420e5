"""Scanning files for every AI signal they carry, and turning them into a verdict and label.

    from pyosi.scan import scan_file, ScanOptions
    result = scan_file("upload.jpg", ScanOptions.default().context())
    result.verdict, result.label, result.signals

Each file runs every applicable detector (see ``pyosi.signals``); a detector that fails records
an error for that file and the others carry on. Folder scans fan out over processes
(:func:`scan_paths`). The JSON form (:meth:`ScanResult.to_json`) is a versioned schema,
``pyosi.scan/1``, documented in docs/scan.md.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pyosi.errors import MediaError, PyosiError
from pyosi.media.sniff import open_regular
from pyosi.policy.labels import Decision, FileVerdict, decide
from pyosi.signals.base import MediaType, ScanContext, Signal, SignalType, Subject
from pyosi.signals.registry import signal_types

SCHEMA = "pyosi.scan/1"
MAX_FILE_BYTES = 1 << 30
_PIXEL_DETECTORS = frozenset({"pyosi-watermark", "sd-watermark"})


@dataclass(frozen=True)
class DetectorError:
    detector: str
    message: str


@dataclass(frozen=True)
class ScanResult:
    path: str
    size: int | None
    sha256: str | None
    mime: str | None
    media_type: str | None
    decision: Decision
    signals: tuple[Signal, ...] = ()
    errors: tuple[DetectorError, ...] = ()
    #: A file-level failure (unreadable); no detector ran.
    error: str | None = None
    #: Not a media file pyosi reads (text, archives, …); no detector ran.
    skipped: bool = False
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def verdict(self) -> FileVerdict:
        return self.decision.verdict

    @property
    def credentials(self) -> dict[str, Any] | None:
        """The file's own C2PA summary, if it has a manifest."""
        for s in self.signals:
            if s.detector == "c2pa":
                return dict(s.details)
        return None

    @property
    def recovered(self) -> dict[str, Any] | None:
        """Credentials recovered through pyosi's watermark from the manifest store."""
        for s in self.signals:
            if s.details.get("credentials_recovered"):
                return {
                    "content_id": s.details["content_id"],
                    "key_id": s.details["key_id"],
                    **dict(s.details.get("stored") or {}),
                    "manifest": s.details.get("manifest"),
                }
        return None

    def to_json(self) -> dict[str, Any]:
        label = self.decision.label
        return {
            "schema": SCHEMA,
            "path": self.path,
            "size": self.size,
            "sha256": self.sha256,
            "mime": self.mime,
            "media_type": self.media_type,
            "verdict": self.verdict.value,
            "label": label.to_json() if label is not None else None,
            "needs_review": self.decision.needs_review,
            "signals": [s.to_json() for s in self.signals],
            "credentials": self.credentials,
            "credentials_recovered": self.recovered,
            "errors": [{"detector": e.detector, "message": e.message} for e in self.errors],
            "error": self.error,
            "skipped": self.skipped,
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
        }


@dataclass(frozen=True)
class ScanOptions:
    """Everything a scan needs, in a form that crosses process boundaries."""

    key_paths: tuple[str, ...] = ()
    anchors: str | None = None
    store_url: str | None = None
    use_store: bool = True
    detectors: tuple[str, ...] | None = None  # None = every registered detector

    @classmethod
    def default(cls, *, extra_keys: Sequence[Path] = (), trust: Sequence[Path] = ()) -> ScanOptions:
        """Registered keys plus ``extra_keys``, default trust plus ``trust``, the default store."""
        from pyosi.keyring import key_files
        from pyosi.provenance.credentials import trust_anchors

        keys = [str(p) for p in [*key_files(), *extra_keys]]
        return cls(key_paths=tuple(keys), anchors=trust_anchors(trust))

    def context(self) -> ScanContext:
        from pyosi.provenance.store import ManifestStore
        from pyosi.watermark import WatermarkKey

        keys = {k.id: k for k in (WatermarkKey.load(p) for p in self.key_paths)}
        store = ManifestStore(self.store_url) if self.use_store else None
        return ScanContext(keys=list(keys.values()), anchors=self.anchors, store=store)

    def signal_types(self) -> list[SignalType]:
        types = signal_types()
        if self.detectors is not None:
            wanted = set(self.detectors)
            unknown = wanted - {t.name for t in types}
            if unknown:
                known = ", ".join(t.name for t in types)
                raise PyosiError(
                    f"unknown detector(s) {', '.join(sorted(unknown))}; known: {known}"
                )
            types = [t for t in types if t.name in wanted]
        return [t() for t in types]


def scan_bytes(
    data: bytes,
    context: ScanContext,
    *,
    path: str = "<bytes>",
    detectors: Sequence[SignalType] | None = None,
) -> ScanResult:
    """Run every applicable detector on one file's bytes."""
    subject = Subject(data, Path(path) if path != "<bytes>" else None)
    if subject.media_type is MediaType.OTHER:
        return ScanResult(
            path=path,
            size=len(data),
            sha256=subject.sha256,
            mime=None,
            media_type=MediaType.OTHER.value,
            decision=decide(()),
            skipped=True,
        )
    timings: dict[str, float] = {}
    signals: list[Signal] = []
    errors: list[DetectorError] = []
    pixels_ok = True
    if subject.media_type is MediaType.IMAGE:
        t0 = time.perf_counter()
        try:
            _ = subject.loaded
        except PyosiError as e:
            pixels_ok = False
            errors.append(DetectorError("decode", str(e)))
        timings["decode"] = 1000 * (time.perf_counter() - t0)
    for det in detectors if detectors is not None else [t() for t in signal_types()]:
        if not det.applies_to(subject) or (det.name in _PIXEL_DETECTORS and not pixels_ok):
            continue
        t0 = time.perf_counter()
        try:
            signals.extend(det.detect(subject, context))
        except PyosiError as e:
            errors.append(DetectorError(det.name, str(e)))
        except Exception as e:
            errors.append(DetectorError(det.name, f"internal error: {type(e).__name__}: {e}"))
        timings[det.name] = 1000 * (time.perf_counter() - t0)
    return ScanResult(
        path=path,
        size=len(data),
        sha256=subject.sha256,
        mime=subject.mime or _pillow_mime(subject),
        media_type=subject.media_type.value,
        decision=decide(signals),
        signals=tuple(signals),
        errors=tuple(errors),
        timings_ms=timings,
    )


def scan_file(
    path: str | os.PathLike[str],
    context: ScanContext,
    *,
    detectors: Sequence[SignalType] | None = None,
) -> ScanResult:
    """Scan one file; an unreadable file gives a result with ``error`` set, never an exception."""
    p = Path(path)
    try:
        data = _read(p)
    except MediaError as e:
        return ScanResult(
            path=str(p),
            size=None,
            sha256=None,
            mime=None,
            media_type=None,
            decision=decide(()),
            error=str(e),
        )
    return scan_bytes(data, context, path=str(p), detectors=detectors)


def iter_files(paths: Iterable[str | os.PathLike[str]]) -> Iterator[Path]:
    """Files under ``paths`` (folders recursively, sorted, hidden entries skipped)."""
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if not name.startswith("."):
                        yield Path(root) / name
        else:
            yield p  # a missing file is reported by scan_file, not dropped


def scan_paths(
    paths: Iterable[str | os.PathLike[str]],
    options: ScanOptions,
    *,
    workers: int | None = None,
) -> Iterator[ScanResult]:
    """Scan files and folders over ``workers`` processes (default: all cores); yields as done."""
    files = list(iter_files(paths))
    n = max(1, min(workers or os.cpu_count() or 1, len(files)))
    if n == 1:
        context = options.context()
        detectors = options.signal_types()
        for f in files:
            yield scan_file(f, context, detectors=detectors)
        return
    options.signal_types()  # fail fast on unknown detector names, in this process
    if options.use_store and options.store_url is None:
        # Workers may come from a fork server started under another environment: pass the
        # database explicitly rather than let each worker read PYOSI_DATA_DIR itself.
        from pyosi.storage import database_url

        options = replace(options, store_url=database_url())
    # Never plain fork: a parent that already used c2pa-rs (its async runtime's threads) or
    # OpenCV would hand children locks held by threads that do not exist there, and they hang.
    methods = mp.get_all_start_methods()
    ctx = mp.get_context("forkserver" if "forkserver" in methods else "spawn")
    with cf.ProcessPoolExecutor(
        n, mp_context=ctx, initializer=_init_worker, initargs=(options,)
    ) as pool:
        pending: set[cf.Future[ScanResult]] = set()
        it = iter(files)
        for f in it:
            pending.add(pool.submit(_scan_in_worker, str(f)))
            if len(pending) >= 4 * n:
                done, pending = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
                yield from (d.result() for d in done)
        for fut in cf.as_completed(pending):
            yield fut.result()


_worker: tuple[ScanContext, list[SignalType]] | None = None


def one_thread_per_process() -> None:
    """For a process that is one of a pool, a process per core: OpenCV's own thread pool (a
    thread per core) on top would only oversubscribe the cores."""
    import cv2

    cv2.setNumThreads(1)


def _init_worker(options: ScanOptions) -> None:
    global _worker  # noqa: PLW0603 - per-process state of a pool worker
    one_thread_per_process()
    _worker = (options.context(), options.signal_types())


def _scan_in_worker(path: str) -> ScanResult:
    assert _worker is not None
    context, detectors = _worker
    return scan_file(path, context, detectors=detectors)


def _read(p: Path) -> bytes:
    f, size = open_regular(p)
    with f:
        if size > MAX_FILE_BYTES:
            raise MediaError(f"{p} is {size} bytes; files over {MAX_FILE_BYTES} are skipped")
        try:
            return f.read(MAX_FILE_BYTES + 1)
        except OSError as e:
            raise MediaError(f"cannot read {p}: {e.strerror or e}") from None


def _pillow_mime(subject: Subject) -> str | None:
    fmt = subject.metadata.format
    if fmt is None:
        return None
    from PIL import Image

    return Image.MIME.get(fmt)
