"""``pyosi serve`` (the service, Uvicorn, several processes) and ``pyosi worker``."""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from typing import Annotated

import typer
from rich.markup import escape

from pyosi.cli._common import stderr, stdout
from pyosi.errors import PyosiError


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("worker")(worker)


def _uvicorn() -> object:
    try:
        import uvicorn
    except ImportError:
        raise PyosiError("the service needs its extra: pip install 'pyosi[service]'") from None
    return uvicorn


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="HTTP processes. One serves a machine's uploads: the scans run in the scan "
            "processes.",
        ),
    ] = 1,
    scan_processes: Annotated[
        int,
        typer.Option(
            min=0,
            help="Processes that scan uploads, shared out among the HTTP processes; 0 scans in "
            "threads of the HTTP processes. Default: one per core.",
        ),
    ] = os.cpu_count() or 1,
    demo: Annotated[
        bool,
        typer.Option(
            "--demo",
            help="Migrate the embedded database, make an admin login (printed) and load sample "
            "items first: what `make run` does.",
        ),
    ] = False,
) -> None:
    """Serve the API (OpenAPI at /docs) and the web UI (/ui/) on $PYOSI_DATABASE_URL or the
    data directory's SQLite.

    The database must be migrated first (`pyosi db upgrade`); the service refuses to start on an
    out-of-date schema rather than change it by itself (--demo migrates).
    """
    uvicorn = _uvicorn()
    # Several HTTP processes: their request metrics add up in one scrape through
    # prometheus_client's multiprocess mode. It is chosen when prometheus_client is first
    # imported, so before the app is; one process keeps its counters in memory.
    metrics_dir = None
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        metrics_dir = tempfile.mkdtemp(prefix="pyosi-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    from pyosi.service.app import Settings, create_app
    from pyosi.storage import open_database

    login = None
    if demo:
        from pyosi.service import demo as demo_data

        db = open_database()
        login = demo_data.prepare(db)
        db.dispose()
    # Fail here, once, with the clear message, rather than in every worker.
    probe = create_app(Settings.from_env())
    service = probe.state.service
    added = 0
    if demo:
        from pyosi.service import demo as demo_data

        stderr().print("loading sample items …")
        added = demo_data.load_samples(service)
    service.db.dispose()
    url = f"http://{host if host not in ('0.0.0.0', '::') else 'localhost'}:{port}"
    out = stdout()
    out.print(f"pyosi service on [bold]{url}/ui/[/]  (API docs at {url}/docs)")
    out.print(f"database: {escape(service.db.safe_url)}")
    if login is not None:
        secret = escape(login.password)
        out.print(f"log in as [bold]{login.username}[/] with password [bold]{secret}[/]")
        if added:
            out.print(f"{added} sample items loaded")
    out.print("Ctrl-C stops the service")
    # For the HTTP processes: each enforces its share of the rate limits, and has its own scan
    # pool of scan_processes / workers processes (rounded up).
    os.environ["PYOSI_WORKERS"] = str(workers)
    os.environ["PYOSI_SCAN_PROCESSES"] = str(math.ceil(scan_processes / workers))
    try:
        uvicorn.run(  # type: ignore[attr-defined]
            "pyosi.service.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="warning",
        )
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def worker() -> None:
    """Run a background worker (jobs, webhook deliveries) on its own, e.g. on another machine
    against the same PostgreSQL database. Every service process also runs one by default."""
    from pyosi.service.app import Settings, create_app
    from pyosi.service.worker import Worker

    settings = Settings.from_env()
    settings.run_worker = False
    app = create_app(settings)
    stderr().print("pyosi worker running; Ctrl-C stops it")
    try:
        Worker(app.state.service).run_forever()
    except KeyboardInterrupt:
        pass
    finally:
        app.state.service.db.dispose()
