"""Reports for election authorities."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from pyosi.policy.rules import kst_today
from pyosi.service.api._deps import service
from pyosi.service.auth import Permission
from pyosi.service.reports import Period, election_report, election_report_csv

router = APIRouter(tags=["reports"])


@router.get(
    "/v1/reports/elections",
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def elections_report(
    request: Request,
    from_: Annotated[dt.date | None, Query(alias="from")] = None,
    to: dt.date | None = None,
    format: Annotated[Literal["json", "csv"] | None, Query()] = None,
) -> Any:
    """Election-related items received from ``from`` through ``to`` (Korean calendar days,
    default: the last 90), with file hashes, signals, labels, decisions and timestamps.

    JSON by default; CSV with ``?format=csv`` or ``Accept: text/csv``.
    """
    svc = service(request)
    principal = svc.require(request, Permission.REPORTS)
    period = Period.parse(from_, to, today=kst_today())
    as_csv = format == "csv" or (format is None and "text/csv" in request.headers.get("accept", ""))
    if as_csv:
        text = await run_in_threadpool(
            election_report_csv, svc.db.engine, period, actor=principal.name
        )
        name = f"pyosi-election-report-{period.start}-{period.end}.csv"
        return Response(
            text.encode("utf-8"),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return await run_in_threadpool(election_report, svc.db.engine, period, actor=principal.name)
