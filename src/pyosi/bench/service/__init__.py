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
   warmed up with a few uploads per scan process.
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

from pyosi.bench.service.model import JSON_NAME, SCHEMA, ServiceBenchConfig
from pyosi.bench.service.output import print_report
from pyosi.bench.service.run import run_service_bench
from pyosi.bench.service.server import Installation, Server, check_database_url
from pyosi.bench.service.wire import multipart, request, with_comment

__all__ = [
    "JSON_NAME",
    "SCHEMA",
    "Installation",
    "Server",
    "ServiceBenchConfig",
    "check_database_url",
    "multipart",
    "print_report",
    "request",
    "run_service_bench",
    "with_comment",
]
