"""Operations and sessions: ``/healthz``, ``/metrics``, ``/v1/me``, ``/v1/session``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from pyosi import __version__
from pyosi.service import metrics
from pyosi.service.api._deps import service
from pyosi.service.app import SESSION_COOKIE, Service
from pyosi.service.auth import SESSION_HOURS, AuthError, Session, end_session, start_session

router = APIRouter()


@router.get("/healthz", tags=["operations"])
def healthz(request: Request) -> dict[str, str]:
    """Liveness and database reachability (and a current schema)."""
    service(request).db.check_current()
    return {"status": "ok", "version": __version__}


@router.get("/metrics", tags=["operations"])
def metrics_endpoint(request: Request) -> Response:
    """Prometheus metrics: requests and latencies per route, items, jobs, deliveries."""
    body, content_type = metrics.render(service(request).db.engine)
    return Response(body, media_type=content_type)


@router.get("/v1/me", tags=["session"])
def me(request: Request) -> dict[str, Any]:
    """Who the credentials belong to, and their role."""
    principal = service(request).principal(request)
    if principal is None:
        raise AuthError("not logged in")
    return {"name": principal.name, "role": principal.role.value}


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1000)


def set_session_cookie(svc: Service, response: Response, session: Session) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        session.token,
        max_age=SESSION_HOURS * 3600,
        httponly=True,
        samesite="strict",
        secure=svc.settings.secure_cookies,
        path="/",
    )


@router.post("/v1/session", tags=["session"])
def login(request: Request, body: LoginIn) -> JSONResponse:
    """Log in: sets the session cookie; send ``csrf_token`` as ``X-CSRF-Token`` on writes."""
    svc = service(request)
    svc.limit_public(request)  # slows password guessing per address
    session = start_session(svc.db.engine, body.username, body.password)
    response = JSONResponse(
        {
            "name": session.principal.name,
            "role": session.principal.role.value,
            "csrf_token": session.principal.csrf_token,
            "expires_at": session.expires_at.isoformat(),
        }
    )
    set_session_cookie(svc, response, session)
    return response


@router.delete("/v1/session", tags=["session"], status_code=204)
def logout(request: Request) -> Response:
    svc = service(request)
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        end_session(svc.db.engine, token)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
