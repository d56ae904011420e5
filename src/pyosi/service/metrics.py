"""Prometheus metrics: request counts and latencies per route, plus state read from the database.

``pyosi serve`` runs several processes; it points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh
directory so every process's counters add up in one scrape. The gauges (items by status and
verdict, queued jobs, pending webhook deliveries) are read from the database at scrape time, so
they are the same whichever process answers.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select

from pyosi.storage import reading
from pyosi.storage.schema import deliveries, items, jobs

REQUESTS = Counter("pyosi_http_requests", "HTTP requests answered.", ["method", "route", "status"])
LATENCY = Histogram(
    "pyosi_http_request_seconds",
    "Time to answer an HTTP request.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
SCANS = Counter("pyosi_scans", "Uploads scanned, by verdict.", ["verdict"])


def observe(method: str, route: str, status: int, seconds: float) -> None:
    REQUESTS.labels(method, route, str(status)).inc()
    LATENCY.labels(method, route).observe(seconds)


class _DatabaseCollector(Collector):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        by_item = GaugeMetricFamily(
            "pyosi_items", "Items stored, by status and verdict.", labels=["status", "verdict"]
        )
        by_job = GaugeMetricFamily("pyosi_jobs", "Background jobs, by status.", labels=["status"])
        by_delivery = GaugeMetricFamily(
            "pyosi_webhook_deliveries", "Webhook deliveries, by status.", labels=["status"]
        )
        with reading(self.engine) as conn:
            for status, verdict, n in conn.execute(
                select(items.c.status, items.c.verdict, func.count()).group_by(
                    items.c.status, items.c.verdict
                )
            ):
                by_item.add_metric([status, verdict], n)
            for status, n in conn.execute(
                select(jobs.c.status, func.count()).group_by(jobs.c.status)
            ):
                by_job.add_metric([status], n)
            for status, n in conn.execute(
                select(deliveries.c.status, func.count()).group_by(deliveries.c.status)
            ):
                by_delivery.add_metric([status], n)
        yield from (by_item, by_job, by_delivery)


def render(engine: Engine) -> tuple[bytes, str]:
    """The scrape body and its content type."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    db = CollectorRegistry()
    db.register(_DatabaseCollector(engine))
    return body + generate_latest(db), CONTENT_TYPE_LATEST
