"""Evidence for an election authority: election-related items in a period, as JSON or CSV.

Each row carries what an authority needs to act and to check later: when the item arrived, the
file's SHA-256 (the bytes are kept in the blob store), the verdict and what it rests on, the
labels and actions the policy gave and under which version, whether the item fell inside an
Art. 82-8 ban window, and every reviewer decision with its time, actor and reason. Exporting a
report is audited.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, RowMapping, select

from pyosi import __version__
from pyosi.policy.rules import kst_day_start
from pyosi.service import audit
from pyosi.service.errors import InvalidRequestError
from pyosi.storage import reading, utc
from pyosi.storage.schema import decisions, items

SCHEMA = "pyosi.election-report/1"
MAX_DAYS = 400
CSV_COLUMNS = (
    "item_id",
    "received_at",
    "sha256",
    "filename",
    "media_type",
    "verdict",
    "rests_on",
    "signals",
    "labels",
    "actions",
    "status",
    "in_election_window",
    "election",
    "election_date",
    "election_evidence",
    "uploader_id",
    "policy_version",
    "decisions",
)


@dataclass(frozen=True)
class Period:
    start: dt.date
    end: dt.date  # inclusive

    @classmethod
    def parse(cls, start: dt.date | None, end: dt.date | None, *, today: dt.date) -> Period:
        end = end or today
        start = start or end - dt.timedelta(days=89)
        if start > end:
            raise InvalidRequestError("from must not be after to")
        if (end - start).days >= MAX_DAYS:
            raise InvalidRequestError(f"a report covers at most {MAX_DAYS} days")
        return cls(start, end)

    @property
    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        # Days are Korean calendar days, like the election windows.
        return kst_day_start(self.start), kst_day_start(self.end + dt.timedelta(days=1))


def election_rows(engine: Engine, period: Period) -> Iterator[dict[str, Any]]:
    """Election-related items received in the period, oldest first, with their decisions."""
    lo, hi = period.bounds
    with reading(engine) as conn:
        rows = list(
            conn.execute(
                select(items)
                .where(
                    items.c.election_related.is_(True),
                    items.c.created_at >= lo,
                    items.c.created_at < hi,
                )
                .order_by(items.c.created_at, items.c.id)
            ).mappings()
        )
        history: dict[str, list[dict[str, Any]]] = {}
        ids = [r["id"] for r in rows]
        for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
            for d in conn.execute(
                select(decisions).where(decisions.c.item_id.in_(chunk)).order_by(decisions.c.id)
            ).mappings():
                history.setdefault(d["item_id"], []).append(
                    {
                        "at": utc(d["created_at"]).isoformat(),
                        "actor": d["actor"],
                        "action": d["action"],
                        "reason": d["reason"],
                        "policy_version": d["policy_version"],
                    }
                )
    for r in rows:
        yield _row(r, history.get(r["id"], []))


def _row(r: RowMapping, history: list[dict[str, Any]]) -> dict[str, Any]:
    outcome, scan = r["outcome"] or {}, r["scan"] or {}
    labels = outcome.get("labels", [])
    election = outcome.get("election") or {}
    e = election.get("election") or {}
    signals = [
        {
            "detector": s.get("detector"),
            "verdict": s.get("verdict"),
            "basis": s.get("basis"),
            "confidence": s.get("confidence"),
            "evidence": s.get("evidence"),
        }
        for s in scan.get("signals", [])
        if s.get("verdict") not in (None, "none")
    ]
    rests_on = sorted({b for lab in labels for b in lab.get("rests_on", [])})
    return {
        "item_id": r["id"],
        "received_at": utc(r["created_at"]).isoformat(),
        "sha256": r["blob_sha256"],
        "filename": r["filename"],
        "media_type": r["media_type"],
        "verdict": r["verdict"],
        "rests_on": rests_on,
        "signals": signals,
        "labels": [
            {"id": lab.get("id"), "ko": lab.get("ko"), "en": lab.get("en")} for lab in labels
        ],
        "actions": outcome.get("actions", []),
        "status": r["status"],
        "in_election_window": bool(r["in_election_window"]),
        "election": e.get("name_en"),
        "election_date": e.get("date"),
        "election_evidence": outcome.get("election_evidence"),
        "uploader_id": r["uploader_id"],
        "policy_version": r["policy_version"],
        "decisions": history,
    }


def election_report(engine: Engine, period: Period, *, actor: str) -> dict[str, Any]:
    """The whole report as one JSON document (and an audit entry saying who exported it)."""
    rows = list(election_rows(engine, period))
    _audit(engine, actor, period, "json", len(rows))
    return {
        "schema": SCHEMA,
        "generated_at": dt.datetime.now(dt.UTC).isoformat(),
        "generator": f"pyosi/{__version__}",
        "period": {"from": period.start.isoformat(), "to": period.end.isoformat()},
        "totals": {
            "items": len(rows),
            "in_election_window": sum(1 for r in rows if r["in_election_window"]),
            "by_verdict": dict(Counter(r["verdict"] for r in rows)),
            "by_status": dict(Counter(r["status"] for r in rows)),
            "takedown_requested": sum(1 for r in rows if r["status"] == "takedown-requested"),
        },
        "items": rows,
    }


def election_report_csv(engine: Engine, period: Period, *, actor: str) -> str:
    """The report as CSV (UTF-8 with BOM so spreadsheet programs read Hangul correctly)."""
    rows = list(election_rows(engine, period))
    _audit(engine, actor, period, "csv", len(rows))
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for r in rows:
        flat = {
            **{k: r[k] for k in CSV_COLUMNS},
            "rests_on": ";".join(r["rests_on"]),
            "signals": "; ".join(f"{s['detector']}:{s['verdict']}" for s in r["signals"]),
            "labels": "; ".join(f"{lab['ko']} / {lab['en']}" for lab in r["labels"]),
            "actions": ";".join(r["actions"]),
            "election_evidence": _evidence(r["election_evidence"]),
            "decisions": " | ".join(
                f"{d['at']} {d['actor']} {d['action']}: {d['reason']}" for d in r["decisions"]
            ),
        }
        writer.writerow({k: _cell(v) if isinstance(v, str) else v for k, v in flat.items()})
    return out.getvalue()


def _evidence(ev: Mapping[str, Any] | None) -> str:
    if not ev:
        return ""
    parts = ["flagged by uploader"] if ev.get("flagged") else []
    parts += [f"keyword {k}" for k in ev.get("keywords", [])]
    parts += [f"candidate {c}" for c in ev.get("candidates", [])]
    return "; ".join(parts)


def _cell(value: str) -> str:
    # Spreadsheet formula injection: a cell starting with = + - @ would run as a formula.
    if value and value[0] in "=+-@\t\r":
        return "'" + value
    return value


def _audit(engine: Engine, actor: str, period: Period, fmt: str, n: int) -> None:
    with engine.begin() as conn:
        audit.append(
            conn,
            actor=actor,
            action="report.export",
            subject=f"elections {period.start}..{period.end}",
            details={"format": fmt, "items": n},
        )
