"""The FastAPI application: ``create_app(settings)``; nothing happens at import time.

Errors become RFC 9457 problem documents in one handler; who the caller is and what they may do
is decided in :meth:`Service.require`; every response carries security headers; request bodies
are cut off at the upload limit while they stream in. Routes live in :mod:`pyosi.service.api`
and :mod:`pyosi.service.ui`; the domain logic they call lives beside them in this package.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import os
import threading
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Engine
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException

from pyosi import __version__
from pyosi.errors import InvalidKeyError, MediaError, PyosiError, UnsupportedMediaError
from pyosi.policy.engine import PolicyError
from pyosi.provenance.store import ManifestStore
from pyosi.scan import ScanResult, one_thread_per_process, scan_bytes
from pyosi.service import metrics
from pyosi.service.auth import AuthError, Permission, Principal, resolve_api_key, resolve_session
from pyosi.service.blobs import BlobStore
from pyosi.service.errors import (
    ConflictError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    RateLimitedError,
)
from pyosi.service.scanning import (
    PoolConfig,
    ScanPool,
    ScanSource,
    ScanUnavailableError,
)
from pyosi.service.secrets import SecretKeyError
from pyosi.storage import Database, open_database

log = logging.getLogger("pyosi.service")

SESSION_COOKIE = "pyosi_session"
CSRF_HEADER = "x-csrf-token"
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DEFAULT_MAX_UPLOAD = 64 << 20
DEFAULT_ASYNC_BYTES = 16 << 20


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip().replace("_", "")
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise PyosiError(f"${name} must be a whole number >= 0, not {raw!r}")
    return value


@dataclass
class Settings:
    """Service settings; :meth:`from_env` reads the ``PYOSI_*`` variables (docs/service.md)."""

    database_url: str | None = None
    blob_dir: Path | None = None
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD
    #: Uploads larger than this are scanned in the background (202 + a job URL).
    async_bytes: int = DEFAULT_ASYNC_BYTES
    #: Files in one batch (POST /v1/batches), archives' members included.
    batch_files: int = 500
    #: Requests per minute per API key or user, and per address on public endpoints. The service
    #: runs several processes; each enforces its share (limit / workers).
    key_rate_per_minute: int = 1200
    public_rate_per_minute: int = 60
    workers: int = 1
    #: Processes that scan this process's uploads (:mod:`pyosi.service.scanning`); 0 scans in
    #: threads of this process instead (tests, and tools that embed the app).
    scan_processes: int = 0
    #: Run the background worker (jobs, webhooks) in a thread of this process.
    run_worker: bool = True
    #: Mark Secure on cookies (behind HTTPS); off for http://localhost.
    secure_cookies: bool = False
    trust: list[Path] = field(default_factory=list)

    @classmethod
    def from_env(cls) -> Settings:
        blob = os.environ.get("PYOSI_BLOB_DIR")
        return cls(
            database_url=os.environ.get("PYOSI_DATABASE_URL") or None,
            blob_dir=Path(blob) if blob else None,
            max_upload_bytes=_env_int("PYOSI_MAX_UPLOAD_BYTES", DEFAULT_MAX_UPLOAD),
            async_bytes=_env_int("PYOSI_ASYNC_BYTES", DEFAULT_ASYNC_BYTES),
            batch_files=max(1, _env_int("PYOSI_BATCH_FILES", 500)),
            key_rate_per_minute=_env_int("PYOSI_KEY_RATE", 1200),
            public_rate_per_minute=_env_int("PYOSI_PUBLIC_RATE", 60),
            workers=max(1, _env_int("PYOSI_WORKERS", 1)),
            scan_processes=_env_int("PYOSI_SCAN_PROCESSES", os.cpu_count() or 1),
            run_worker=os.environ.get("PYOSI_WORKER", "1") != "0",
            secure_cookies=os.environ.get("PYOSI_SECURE_COOKIES", "0") == "1",
        )


class RateLimiter:
    """A sliding one-minute window per caller, in this process."""

    def __init__(self) -> None:
        self._hits: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def check(self, who: str, per_minute: int) -> None:
        if per_minute <= 0:
            return  # 0: unlimited
        now = time.monotonic()
        with self._lock:
            hits = self._hits[who]
            while hits and now - hits[0] > 60:
                hits.popleft()
            if len(hits) >= per_minute:
                retry = max(1, math.ceil(60 - (now - hits[0])))
                raise RateLimitedError(
                    f"more than {per_minute} requests a minute; retry in {retry} s", retry
                )
            hits.append(now)
            if len(self._hits) > 100_000:  # forget idle callers rather than grow without end
                for k in [k for k, v in self._hits.items() if not v or now - v[-1] > 60]:
                    del self._hits[k]


@dataclass
class Service:
    """Everything a request needs, built once per process."""

    settings: Settings
    db: Database
    blobs: BlobStore
    limiter: RateLimiter
    store: ManifestStore
    source: ScanSource
    worker: Any = None
    scans: ScanPool | None = None
    _scan_limiter: tuple[asyncio.AbstractEventLoop, anyio.CapacityLimiter] | None = field(
        default=None, repr=False
    )

    def per_process(self, per_minute: int) -> int:
        return 0 if per_minute <= 0 else max(1, math.ceil(per_minute / self.settings.workers))

    def principal(self, request: Request) -> Principal | None:
        """Who is calling (API key or session cookie), or None; rate-limits known callers."""
        if hasattr(request.state, "principal"):
            cached: Principal | None = request.state.principal
            return cached
        principal: Principal | None = None
        token = _bearer(request)
        if token is not None:
            principal = resolve_api_key(self.reads, token)
            if principal is None:
                raise AuthError("unknown or revoked API key")
        elif cookie := request.cookies.get(SESSION_COOKIE):
            principal = resolve_session(self.db.engine, cookie)
        if principal is not None:
            self.limiter.check(principal.name, self.per_process(self.settings.key_rate_per_minute))
        request.state.principal = principal
        return principal

    def require(
        self, request: Request, permission: Permission, *, csrf: str | None = None
    ) -> Principal:
        """The caller, if they may do ``permission``; browsers must also prove the CSRF token.

        ``csrf`` is the token a form posted; JSON calls from a browser send the
        ``X-CSRF-Token`` header. API keys need neither (no ambient authority to abuse).
        """
        principal = self.principal(request)
        if principal is None:
            raise AuthError(
                "authentication required: send 'Authorization: Bearer <API key>' or log in"
            )
        if principal.csrf_token is not None and request.method in _UNSAFE:
            given = csrf or request.headers.get(CSRF_HEADER)
            if not given or not _same(given, principal.csrf_token):
                raise ForbiddenError("missing or wrong CSRF token; reload the page and try again")
        if not principal.can(permission):
            raise ForbiddenError(f"role {principal.role.value!r} may not {permission.value}")
        return principal

    def limit_public(self, request: Request) -> None:
        client = request.client.host if request.client else "unknown"
        self.limiter.check(f"ip:{client}", self.per_process(self.settings.public_rate_per_minute))

    def scan(self, data: bytes, filename: str) -> ScanResult:
        """Scan now, blocking: in the scan pool if there is one (background jobs, samples)."""
        if self.scans is not None:
            return self.scans.scan_blocking(data, filename)
        return scan_bytes(data, self.source.context(), path=filename)

    async def scan_async(self, data: bytes, filename: str) -> ScanResult:
        """Scan an upload off the event loop: in the scan pool, else in one of this process's
        scan slots (:meth:`scan_limiter`)."""
        if self.scans is not None:
            return await self.scans.scan(data, filename)
        scan = functools.partial(scan_bytes, data, self.source.context(), path=filename)
        return await anyio.to_thread.run_sync(scan, limiter=self.scan_limiter())

    def scan_limiter(self) -> anyio.CapacityLimiter:
        """Without a scan pool: how many uploads this process scans at once in threads, one
        per core, the others waiting their turn in order. Called on the event loop (a limiter
        belongs to one loop). Unbounded, with more scans running than cores each took more CPU
        (here 150-190 ms instead of 120-130 ms), so a queue, once formed, made itself longer.
        """
        loop = asyncio.get_running_loop()
        if self._scan_limiter is None or self._scan_limiter[0] is not loop:
            self._scan_limiter = (loop, anyio.CapacityLimiter(os.cpu_count() or 1))
        return self._scan_limiter[1]

    @property
    def reads(self) -> Engine:
        """The database for what a request only reads (its API key): on SQLite such reads never
        queue for the write lock, which the lookup would otherwise do on the event loop."""
        return self.source.reads


def _same(a: str, b: str) -> bool:
    import hmac

    return hmac.compare_digest(a.encode(), b.encode())


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.headers.get("x-api-key")


_STATUS: list[tuple[type[Exception], int, str]] = [
    (AuthError, 401, "unauthorized"),
    (ForbiddenError, 403, "forbidden"),
    (NotFoundError, 404, "not-found"),
    (ConflictError, 409, "conflict"),
    (RateLimitedError, 429, "rate-limited"),
    (InvalidRequestError, 400, "invalid-request"),
    (PolicyError, 422, "invalid-policy"),
    (UnsupportedMediaError, 415, "unsupported-media"),
    (MediaError, 422, "unreadable-media"),
    (InvalidKeyError, 400, "invalid-key"),
    (ScanUnavailableError, 503, "scan-unavailable"),
    (SecretKeyError, 500, "server-secret"),
    (PyosiError, 400, "bad-request"),
]


def problem(status: int, kind: str, detail: str, **extra: Any) -> JSONResponse:
    """An RFC 9457 problem document."""
    body = {"type": f"https://pyosi.dev/problems/{kind}", "title": kind.replace("-", " "),
            "status": status, "detail": detail, **extra}  # fmt: skip
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status, media_type="application/problem+json", headers=headers)


def status_for(exc: PyosiError) -> tuple[int, str]:
    for cls, status, kind in _STATUS:
        if isinstance(exc, cls):
            return status, kind
    return 400, "bad-request"  # pragma: no cover - PyosiError is last


SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    # Scripts and styles come only from /static: no inline script can run.
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
}


class BodyLimit:
    """Pure ASGI middleware: refuse a request body over ``limit`` bytes, even one sent chunked.

    The Content-Length check answers at once; a body without one is counted as it streams in and
    cut off (413) as soon as it passes the limit, before it is spooled anywhere.
    """

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length", b"")
        if length.isdigit() and int(length) > self.limit:
            await _too_large(self.limit)(scope, receive, send)
            return
        seen = 0
        refused = False

        async def limited_receive() -> MutableMapping[str, Any]:
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message: MutableMapping[str, Any] = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    # Answer now and tell the app the client went away: it stops reading, and
                    # whatever it answers is dropped.
                    refused = True
                    await _too_large(self.limit)(scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: MutableMapping[str, Any]) -> None:
            if not refused:
                await send(message)

        await self.app(scope, limited_receive, guarded_send)


class Headers:
    """Pure ASGI middleware (Starlette's BaseHTTPMiddleware costs a task and a stream per
    request): security headers, ``no-store`` on the API and UI, and the request metrics."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        no_store = scope["path"].startswith(("/v1/", "/ui/"))
        status = 500

        async def with_headers(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                for k, v in SECURITY_HEADERS.items():
                    headers.setdefault(k, v)
                if no_store:
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        try:
            await self.app(scope, receive, with_headers)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            metrics.observe(scope["method"], path, status, time.perf_counter() - started)


def _too_large(limit: int) -> JSONResponse:
    return problem(413, "too-large", f"request bodies are limited to {limit} bytes")


def create_app(settings: Settings | None = None, *, check_schema: bool = True) -> FastAPI:
    """Build the application; refuses a database whose schema is not current."""
    settings = settings or Settings.from_env()
    # Scans already run in parallel: a process per core, or threads (Service.scan_limiter).
    one_thread_per_process()
    db = open_database(settings.database_url)
    if check_schema:
        db.check_current()
    from pyosi.provenance.credentials import trust_anchors

    store = ManifestStore(database=db)  # one connection pool per process
    service = Service(
        settings=settings,
        db=db,
        blobs=BlobStore(settings.blob_dir),
        limiter=RateLimiter(),
        store=store,
        source=ScanSource(db, trust_anchors(settings.trust)),
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if settings.scan_processes > 0:
            pool_config = PoolConfig(db.url, service.source.anchors)
            service.scans = ScanPool(settings.scan_processes, pool_config).start()
        if settings.run_worker:
            from pyosi.service.worker import Worker

            service.worker = Worker(service).start()
        yield
        if service.worker is not None:
            service.worker.stop()
        if service.scans is not None:
            service.scans.close()
        db.dispose()

    app = FastAPI(
        title="pyosi",
        version=__version__,
        description=(
            "Label AI-generated media: scans, review, durable credentials, policy, elections, "
            "reports, webhooks and audit. Authenticate with `Authorization: Bearer <API key>`."
        ),
        lifespan=lifespan,
    )
    app.state.service = service

    @app.exception_handler(PyosiError)
    async def _pyosi_error(request: Request, exc: PyosiError) -> Response:
        status, kind = status_for(exc)
        if status >= 500:
            log.error("%s: %s", kind, exc)
        extra: dict[str, Any] = {}
        headers = {}
        if isinstance(exc, RateLimitedError):
            headers["Retry-After"] = str(exc.retry_after)
        elif isinstance(exc, ScanUnavailableError):
            headers["Retry-After"] = "1"  # a new pool is starting
        from pyosi.service.ui import wants_html

        if wants_html(request):
            from pyosi.service.ui import error_page

            return error_page(request, status, str(exc))
        response = problem(status, kind, str(exc), **extra)
        response.headers.update(headers)
        return response

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"loc": ".".join(str(p) for p in e["loc"]), "msg": e["msg"]} for e in exc.errors()
        ]
        from pyosi.service.ui import error_page, wants_html

        if wants_html(request):
            detail = "; ".join(f"{e['loc']}: {e['msg']}" for e in errors)
            return error_page(
                request, 422, f"the form does not match what this page takes: {detail}"
            )
        return problem(422, "invalid-request", "the request does not match the API", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        from pyosi.service.ui import error_page, wants_html

        if wants_html(request):
            return error_page(request, exc.status_code, str(exc.detail))
        return problem(exc.status_code, "http-error", str(exc.detail))

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error", exc_info=exc)
        message = "internal error; the server log has the details"
        from pyosi.service.ui import error_page, wants_html

        if wants_html(request):
            return error_page(request, 500, message)
        return problem(500, "internal-error", message)

    from fastapi.staticfiles import StaticFiles

    from pyosi.service import api, ui

    app.include_router(api.router)
    app.include_router(ui.router)
    app.add_exception_handler(ui.LoginRequiredError, ui.login_redirect)
    app.mount("/static", StaticFiles(directory=ui.STATIC_DIR), name="static")
    app.add_middleware(Headers)
    app.add_middleware(BodyLimit, limit=settings.max_upload_bytes + 65536)
    return app
