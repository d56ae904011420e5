"""The library's own rate, then the whole benchmark run."""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pyosi.bench.scan import EXPECTED_VERDICTS, build_corpus
from pyosi.bench.service.client import (
    Cycle,
    closed_loop,
    load_uploads,
    open_loop,
    summarise,
    upload,
)
from pyosi.bench.service.model import (
    RATE_TARGET,
    LibraryRun,
    Phase,
    Progress,
    ServiceBenchConfig,
    ServiceBenchError,
    ServiceBenchReport,
    _round,
)
from pyosi.bench.service.server import (
    Installation,
    Server,
    _own_and_children_cpu,
    check_database_url,
    install,
    scratch_postgres,
)
from pyosi.errors import OutputError
from pyosi.storage import safe_url

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
        wrong += r.verdict.value != EXPECTED_VERDICTS.get(manifest.get(Path(r.path).name, ""))
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
            say(f"scratch database on {safe_url(config.database_url)}")
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

        server = Server(installation, scan_processes=config.workers)
        say(f"starting pyosi serve --scan-processes {config.workers} on port {server.port} …")
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
        database = safe_url(url)

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
