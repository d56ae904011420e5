"""``pyosi serve``: run the service (Uvicorn, several workers) on the configured database."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from pyosi.cli._common import stderr
from pyosi.errors import PyosiError


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, help="Worker processes. Default: one per core.")
    ] = os.cpu_count() or 1,
) -> None:
    """Serve the API (OpenAPI at /docs) on $PYOSI_DATABASE_URL or the data directory's SQLite.

    The database must be migrated first (`pyosi db upgrade`); the service refuses to start on an
    out-of-date schema rather than change it by itself.
    """
    try:
        import uvicorn
    except ImportError:
        raise PyosiError("the service needs its extra: pip install 'pyosi[service]'") from None
    from pyosi.service.app import create_app

    # Fail here, once, with the clear message, rather than in every worker.
    create_app().state.service.db.dispose()
    stderr().print(f"pyosi service on http://{host}:{port}/ (API docs at /docs)")
    uvicorn.run(
        "pyosi.service.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
    )
