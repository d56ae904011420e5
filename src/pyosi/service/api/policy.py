"""The policy in force (versioned) and the election calendar."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response
from pydantic import BaseModel, Field

from pyosi.policy.rules import ELECTION_KINDS
from pyosi.service.api._deps import service
from pyosi.service.auth import Permission
from pyosi.service.policies import (
    current_policy,
    current_version,
    delete_election,
    get_election,
    list_elections,
    policy_history,
    policy_version,
    put_policy,
    save_election,
    validate_policy,
)
from pyosi.storage import reading

router = APIRouter(tags=["policy"])

_TOML = {"content": {"application/toml": {"schema": {"type": "string"}}}}


@router.get("/v1/policy", responses={200: _TOML})
def policy_show(request: Request, format: str = "json") -> Any:
    """The policy in force: its version, author and TOML text (``?format=toml`` for the text)."""
    svc = service(request)
    svc.require(request, Permission.READ_POLICY)
    with reading(svc.db.engine) as conn:
        version = current_version(conn)
    if format == "toml":
        return Response(version.text, media_type="application/toml; charset=utf-8")
    policy = current_policy(svc.db.engine)
    return {
        **version.to_json(),
        "name": policy.spec.name,
        "window_days": policy.spec.window_days,
        "rules": [r.id for r in policy.spec.rules],
        "labels": sorted(policy.spec.labels),
    }


class PolicyIn(BaseModel):
    text: str = Field(min_length=1, max_length=500_000, description="The policy as TOML.")
    comment: str | None = Field(default=None, max_length=2000)


@router.put("/v1/policy")
def policy_put(
    request: Request,
    body: Annotated[PolicyIn, Body()],
) -> dict[str, Any]:
    """Replace the policy; it must validate and carry a higher ``version`` (422 or 409 say why)."""
    svc = service(request)
    principal = svc.require(request, Permission.WRITE_POLICY)
    version = put_policy(svc.db.engine, body.text, author=principal.name, comment=body.comment)
    return policy_version(svc.db.engine, version).to_json()


@router.post("/v1/policy/validate")
def policy_validate(request: Request, body: Annotated[PolicyIn, Body()]) -> dict[str, Any]:
    """Check a policy text without storing it."""
    svc = service(request)
    svc.require(request, Permission.READ_POLICY)
    policy = validate_policy(body.text)
    return {"valid": True, "version": policy.version, "rules": [r.id for r in policy.spec.rules]}


@router.get("/v1/policy/versions")
def policy_versions(request: Request) -> dict[str, Any]:
    svc = service(request)
    svc.require(request, Permission.READ_POLICY)
    return {"versions": [v.to_json(with_text=False) for v in policy_history(svc.db.engine)]}


@router.get("/v1/policy/versions/{version}")
def policy_version_show(request: Request, version: int) -> dict[str, Any]:
    svc = service(request)
    svc.require(request, Permission.READ_POLICY)
    return policy_version(svc.db.engine, version).to_json()


class ElectionIn(BaseModel):
    slug: str = Field(min_length=1, max_length=64, examples=["2028-national-assembly"])
    date: dt.date
    name_ko: str = Field(min_length=1, max_length=200)
    name_en: str = Field(min_length=1, max_length=200)
    kind: str = Field(description=f"One of {', '.join(ELECTION_KINDS)}.")
    verify: bool = False
    note: str = Field(default="", max_length=2000)


def _window(request: Request) -> int:
    return current_policy(service(request).db.engine).spec.window_days


@router.get("/v1/elections", tags=["elections"])
def elections_index(request: Request) -> dict[str, Any]:
    """The calendar, with each election's Art. 82-8 window and whether today is inside it."""
    svc = service(request)
    svc.require(request, Permission.READ_ELECTIONS)
    days = _window(request)
    now = dt.datetime.now(dt.UTC)
    return {
        "window_days": days,
        "elections": [
            {**e.to_json(days), "active": e.election.in_window(now, days)}
            for e in list_elections(svc.db.engine)
        ],
    }


@router.post("/v1/elections", tags=["elections"], status_code=201)
def elections_add(request: Request, body: ElectionIn) -> dict[str, Any]:
    svc = service(request)
    principal = svc.require(request, Permission.WRITE_ELECTIONS)
    e = save_election(svc.db.engine, body.model_dump(), actor=principal.name)
    return e.to_json(_window(request))


@router.get("/v1/elections/{election_id}", tags=["elections"])
def elections_show(request: Request, election_id: int) -> dict[str, Any]:
    svc = service(request)
    svc.require(request, Permission.READ_ELECTIONS)
    return get_election(svc.db.engine, election_id).to_json(_window(request))


@router.put("/v1/elections/{election_id}", tags=["elections"])
def elections_update(request: Request, election_id: int, body: ElectionIn) -> dict[str, Any]:
    svc = service(request)
    principal = svc.require(request, Permission.WRITE_ELECTIONS)
    e = save_election(
        svc.db.engine, body.model_dump(), actor=principal.name, election_id=election_id
    )
    return e.to_json(_window(request))


@router.delete("/v1/elections/{election_id}", tags=["elections"], status_code=204)
def elections_delete(request: Request, election_id: int) -> Response:
    svc = service(request)
    principal = svc.require(request, Permission.WRITE_ELECTIONS)
    delete_election(svc.db.engine, election_id, actor=principal.name)
    return Response(status_code=204)
