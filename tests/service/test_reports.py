"""Election reports for an election authority: JSON and CSV evidence."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

from pyosi.policy.rules import kst_today
from pyosi.service import audit
from pyosi.service.auth import Role
from pyosi.service.policies import save_election
from tests.service.conftest import Env, jpeg


def _setup(env: Env) -> tuple[dict[str, Any], dict[str, Any]]:
    day = kst_today() + dt.timedelta(days=20)
    save_election(
        env.service.db.engine,
        {
            "slug": "r-test",
            "date": day,
            "name_ko": "보궐",
            "name_en": "By-election",
            "kind": "by-election",
        },
        actor="test",
    )
    flagged = env.scan(
        jpeg(), "=HYPERLINK(1).jpg", declared_ai=True, election_related=True,
        uploader_id="@evil", post_text="vote!",
    )  # fmt: skip
    env.scan(jpeg(), "unrelated.jpg", declared_ai=True)
    env.client.post(
        f"/v1/items/{flagged['id']}/decisions",
        json={"action": "request-takedown", "reason": "Art. 82-8, D-20"},
        headers=env.tokens[Role.REVIEWER],
    )
    return flagged, env.client.get("/v1/reports/elections", headers=env.tokens[Role.AUDITOR]).json()


def test_json_report_carries_the_evidence(env: Env) -> None:
    flagged, report = _setup(env)
    assert report["schema"] == "pyosi.election-report/1"
    assert report["totals"]["items"] == 1 and report["totals"]["takedown_requested"] == 1
    row = report["items"][0]
    assert row["item_id"] == flagged["id"] and row["sha256"] == flagged["sha256"]
    assert row["in_election_window"] and row["election"] == "By-election"
    assert row["status"] == "takedown-requested" and row["verdict"] == "ai-generated"
    assert row["rests_on"] == ["self-declared"]
    assert row["decisions"][-1]["reason"] == "Art. 82-8, D-20"
    assert row["decisions"][-1]["policy_version"] == 1
    assert "escalate" in row["actions"] and row["received_at"].endswith("+00:00")
    entry = next(iter(audit.entries(env.service.db.engine)))
    assert entry.action == "report.export" and entry.actor.startswith("key:")


def test_csv_report_is_spreadsheet_safe(env: Env) -> None:
    flagged, _ = _setup(env)
    r = env.client.get(
        "/v1/reports/elections", params={"format": "csv"}, headers=env.tokens[Role.AUDITOR]
    )
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    text = r.content.decode("utf-8")
    assert text.startswith("\ufeff")  # a BOM so spreadsheets read Hangul
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert len(rows) == 1 and rows[0]["sha256"] == flagged["sha256"]
    assert rows[0]["filename"].startswith("'=")  # never runs as a formula
    assert rows[0]["uploader_id"] == "'@evil"
    assert "request-takedown" in rows[0]["decisions"]
    via_accept = env.client.get(
        "/v1/reports/elections", headers={**env.tokens[Role.ADMIN], "Accept": "text/csv"}
    )
    assert via_accept.headers["content-type"].startswith("text/csv")


def test_periods_are_validated(env: Env) -> None:
    h = env.tokens[Role.AUDITOR]
    backwards = env.client.get(
        "/v1/reports/elections", params={"from": "2026-05-01", "to": "2026-04-01"}, headers=h
    )
    assert backwards.status_code == 400
    too_long = env.client.get(
        "/v1/reports/elections", params={"from": "2020-01-01", "to": "2026-01-01"}, headers=h
    )
    assert too_long.status_code == 400
    past = env.client.get(
        "/v1/reports/elections", params={"from": "2020-01-01", "to": "2020-03-01"}, headers=h
    ).json()
    assert past["totals"]["items"] == 0 and past["period"]["from"] == "2020-01-01"
