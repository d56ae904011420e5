"""The FastAPI application: ``create_app(settings)``; nothing happens at import time.

Errors become RFC 9457 problem documents in one handler; authentication and permissions are one
dependency; every response carries security headers. Routes live in :mod:`pyosi.service.api`.
"""

from __future__ import annotations

import os
import threading
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from pyosi import __version__
from pyosi.errors import MediaError, PyosiError
from pyosi.provenance.store import ManifestStore
from pyosi.service.auth import AuthError, Permission, Principal, resolve_api_key
from pyosi.service.blobs import BlobStore
from pyosi.service.items import InvalidRequestError, NotFoundError
from pyosi.storage import Database, open_database

MAX_UPLOAD_ENV = "PYOSI_MAX_UPLOAD_BYTES"
_CSP = "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'"
DEFAULT_MAX_UPLOAD = 64 << 20


class ForbiddenError(PyosiError):
    """Authenticated, but the role may not do this."""


class RateLimitedError(PyosiError):
    """Too many requests from one key or address."""


@dataclass
class Settings:
    """Service settings, from ``PYOSI_*`` environment variables by default."""

    database_url: str | None = None
    blob_dir: Path | None = None
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD
    #: Requests per minute for each API key, and for each address on public endpoints.
    key_rate_per_minute: int = 600
    public_rate_per_minute: int = 60
    trust: list[Path] = field(default_factory=list)

    @classmethod
    def from_env(cls) -> Settings:
        blob = os.environ.get("PYOSI_BLOB_DIR")
        return cls(
            database_url=os.environ.get("PYOSI_DATABASE_URL"),
            blob_dir=Path(blob) if blob else None,
            max_upload_bytes=int(os.environ.get(MAX_UPLOAD_ENV, DEFAULT_MAX_UPLOAD)),
        )


class RateLimiter:
    """A sliding one-minute window per caller; in-process (each worker counts its own share)."""

    def __init__(self) -> None:
        self._hits: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def check(self, who: str, per_minute: int) -> None:
        now = time.monotonic()
        with self._lock:
            hits = self._hits[who]
            while hits and now - hits[0] > 60:
                hits.popleft()
            if len(hits) >= per_minute:
                raise RateLimitedError(f"more than {per_minute} requests a minute; slow down")
            hits.append(now)


@dataclass
class Service:
    """Everything a request needs, built once per application."""

    settings: Settings
    db: Database
    blobs: BlobStore
    limiter: RateLimiter
    store: ManifestStore

    def authenticate(self, request: Request) -> Principal:
        token = _bearer(request)
        if token is None:
            raise AuthError("authentication required: send 'Authorization: Bearer <API key>'")
        principal = resolve_api_key(self.db.engine, token)
        if principal is None:
            raise AuthError("unknown or revoked API key")
        self.limiter.check(principal.name, self.settings.key_rate_per_minute)
        return principal

    def require(self, request: Request, permission: Permission) -> Principal:
        principal = self.authenticate(request)
        if not principal.can(permission):
            raise ForbiddenError(f"role {principal.role.value!r} may not {permission.value}")
        return principal


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.headers.get("x-api-key")


_STATUS: list[tuple[type[Exception], int, str]] = [
    (AuthError, 401, "unauthorized"),
    (ForbiddenError, 403, "forbidden"),
    (NotFoundError, 404, "not-found"),
    (RateLimitedError, 429, "rate-limited"),
    (InvalidRequestError, 400, "invalid-request"),
    (MediaError, 422, "unreadable-media"),
    (PyosiError, 400, "bad-request"),
]


def problem(status: int, kind: str, detail: str, **extra: Any) -> JSONResponse:
    """An RFC 9457 problem document."""
    body = {"type": f"https://pyosi.dev/problems/{kind}", "title": kind.replace("-", " "),
            "status": status, "detail": detail, **extra}  # fmt: skip
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status, media_type="application/problem+json", headers=headers)


def create_app(settings: Settings | None = None, *, check_schema: bool = True) -> FastAPI:
    """Build the application; refuses a database whose schema is not current."""
    settings = settings or Settings.from_env()
    db = open_database(settings.database_url)
    if check_schema:
        db.check_current()
    store = ManifestStore(db.url, upgrade=False)
    service = Service(settings, db, BlobStore(settings.blob_dir), RateLimiter(), store)
    app = FastAPI(
        title="pyosi",
        version=__version__,
        description="Label AI-generated media: scans, review, credentials, audit.",
    )
    app.state.service = service

    @app.exception_handler(PyosiError)
    async def _pyosi_error(_request: Request, exc: PyosiError) -> JSONResponse:
        for cls, status, kind in _STATUS:
            if isinstance(exc, cls):
                return problem(status, kind, str(exc))
        return problem(400, "bad-request", str(exc))  # pragma: no cover - PyosiError is last

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": ".".join(str(p) for p in e["loc"]), "msg": e["msg"]} for e in exc.errors()
        ]
        return problem(422, "invalid-request", "the request does not match the API", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, "http-error", str(exc.detail))

    @app.middleware("http")
    async def _headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > settings.max_upload_bytes + 65536:
            return problem(
                413, "too-large", f"uploads are limited to {settings.max_upload_bytes} bytes"
            )
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
        )
        return response

    from pyosi.service import api

    app.include_router(api.router)
    return app
