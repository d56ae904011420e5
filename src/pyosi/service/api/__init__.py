"""``/v1`` routes, one module per concern; each parses, checks the role and calls the library."""

from __future__ import annotations

from fastapi import APIRouter

from pyosi.service.api import admin, items, marks, ops, policy, reports

router = APIRouter()
for module in (ops, items, marks, policy, reports, admin):
    router.include_router(module.router)

__all__ = ["router"]
