"""The load: uploads over HTTP from this process, closed and open loop."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pyosi.bench.scan import EXPECTED_VERDICTS
from pyosi.bench.service.model import Phase, Sample, Upload
from pyosi.bench.service.wire import request

# -- the client --------------------------------------------------------------------------------


def load_uploads(files_dir: Path, manifest: dict[str, str]) -> list[Upload]:
    return [
        Upload(name, kind, EXPECTED_VERDICTS[kind], (files_dir / name).read_bytes())
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
