"""Shared pieces of the route modules."""

from __future__ import annotations

from fastapi import Request

from pyosi.service.app import Service


def service(request: Request) -> Service:
    svc: Service = request.app.state.service
    return svc
