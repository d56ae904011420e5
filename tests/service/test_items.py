"""Uploads through the API: every detector, the policy in force, the review flow, jobs."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select

from pyosi.policy.rules import kst_today
from pyosi.service import audit, jobs
from pyosi.service.auth import Role
from pyosi.service.policies import save_election
from pyosi.service.worker import work_once
from pyosi.storage.schema import blobs, deliveries
from tests.conftest import mark_like_the_cli
from tests.service.conftest import Env, jpeg


def _marked(photo_png: Path, tmp_path: Path, env: Env) -> tuple[bytes, bytes, str]:
    """A pyosi-marked JPEG and a metadata-stripped copy; the manifest goes into the store."""
    out = tmp_path / "gen.jpg"
    content_id = mark_like_the_cli(photo_png, out, model="m", store=env.service.store)
    stripped = io.BytesIO()
    Image.open(out).convert("RGB").save(stripped, "JPEG", quality=85)
    return out.read_bytes(), stripped.getvalue(), content_id.hex()


def _election_in(env: Env, days: int) -> None:
    day = kst_today() + dt.timedelta(days=days)
    save_election(
        env.service.db.engine,
        {
            "slug": f"test-{days}",
            "date": day,
            "name_ko": "시험 선거",
            "name_en": "Test election",
            "kind": "by-election",
        },
        actor="test",
    )


def test_plain_upload_has_no_label(env: Env) -> None:
    item = env.scan(jpeg(), "plain.jpg")
    assert item["verdict"] == "no-signal" and item["status"] == "no-signal"
    assert item["labels"] == [] and item["actions"] == []
    assert item["policy_version"] == 1
    assert any("never proves" in r for r in item["reasons"])


def test_self_declared_upload_is_labelled_on_that_alone(env: Env) -> None:
    item = env.scan(jpeg(), declared_ai=True, post_text="hello")
    assert item["verdict"] == "ai-generated" and item["status"] == "labeled"
    ids = [lab["id"] for lab in item["labels"]]
    assert "kr-ai-generated" in ids and "eu-ai-generated" in ids
    assert all(lab["rests_on"] == ["self-declared"] for lab in item["labels"])
    assert item["context"]["post_text"] == "hello"


def test_marked_file_and_stripped_copy(env: Env, photo_png: Path, tmp_path: Path) -> None:
    marked, stripped, cid = _marked(photo_png, tmp_path, env)
    a = env.scan(marked, "gen.jpg")
    assert a["verdict"] == "ai-generated" and a["credentials"]["state"]
    assert "c2pa" in a["labels"][0]["rests_on"]
    b = env.scan(stripped, "stripped.jpg")
    assert b["verdict"] == "ai-generated" and b["credentials"] is None
    assert b["credentials_recovered"]["content_id"] == cid
    assert b["labels"][0]["rests_on"] == ["recovered"]
    public = env.client.get(f"/v1/credentials/{cid}")
    assert public.status_code == 200 and public.json()["manifest"]["active_manifest"]
    assert env.client.get("/v1/credentials/zz").status_code == 400
    assert env.client.get("/v1/credentials/0000000000000000").status_code == 404
    file = env.client.get(f"/v1/items/{b['id']}/file", headers=env.tokens[Role.REVIEWER])
    assert file.content == stripped and file.headers["content-type"] == "image/jpeg"
    assert "sandbox" in file.headers["content-security-policy"]


def test_realistic_deepfake_needs_a_visible_label(env: Env) -> None:
    item = env.scan(jpeg(), declared_ai=True, realistic=True)
    assert "require-visible-label" in item["actions"]
    kr = next(lab for lab in item["labels"] if lab["kind"] == "korea-ai-basic-act")
    assert kr["visible_required"]


def test_election_deepfake_inside_the_window_is_escalated(env: Env) -> None:
    _election_in(env, 30)
    item = env.scan(jpeg(), declared_ai=True, post_text="후보 유세 사진입니다")
    assert item["election_related"] and item["in_election_window"]
    assert item["status"] == "escalated"
    assert {"escalate", "takedown-candidate", "election-report"} <= set(item["actions"])
    assert item["election"]["election"]["name_en"] == "Test election"
    assert item["election_evidence"]["candidates"] or item["election_evidence"]["keywords"]
    queue = env.client.get(
        "/v1/items", params={"status": "open"}, headers=env.tokens[Role.REVIEWER]
    ).json()["items"]
    assert [i["id"] for i in queue] == [item["id"]]


def test_election_deepfake_outside_the_window_needs_the_nec_label(env: Env) -> None:
    _election_in(env, 200)
    item = env.scan(jpeg(), declared_ai=True, election_related=True)
    assert item["election_related"] and not item["in_election_window"]
    assert "nec-virtual-information" in [lab["id"] for lab in item["labels"]]
    assert item["status"] == "labeled"


def test_non_ai_election_post_is_not_escalated(env: Env) -> None:
    _election_in(env, 30)
    item = env.scan(jpeg(), election_related=True)
    assert item["election_related"] and item["status"] == "no-signal"


def test_review_flow_decisions_audit_and_events(env: Env) -> None:
    env.client.post(
        "/v1/webhooks",
        json={"url": "http://127.0.0.1:9/hook", "events": ["item.escalated", "takedown.requested"]},
        headers=env.tokens[Role.ADMIN],
    )
    item = env.scan(jpeg(), declared_ai=True)
    url = f"/v1/items/{item['id']}/decisions"
    h = env.tokens[Role.REVIEWER]
    r = env.client.post(
        url, json={"action": "escalate", "reason": "looks like a candidate"}, headers=h
    )
    assert r.status_code == 201 and r.json()["status"] == "escalated"
    d = r.json()["decisions"][0]
    assert d["actor"].startswith("key:") and d["policy_version"] == 1
    r = env.client.post(url, json={"action": "request-takedown", "reason": "NEC"}, headers=h)
    assert r.json()["status"] == "takedown-requested"
    no_label = env.client.post(url, json={"action": "relabel", "reason": "x"}, headers=h)
    assert no_label.status_code == 400 and "Korean and English" in no_label.json()["detail"]
    relabel = env.client.post(
        url,
        json={
            "action": "relabel",
            "reason": "satire",
            "label": {"ko": "AI 풍자", "en": "AI satire"},
        },
        headers=h,
    ).json()
    assert relabel["labels"][0]["en"] == "AI satire" and relabel["labels"][0]["rests_on"] == [
        "reviewer"
    ]
    engine = env.service.db.engine
    actions = [e.action for e in audit.entries(engine)][:3]
    assert actions == ["decision.relabel", "decision.request-takedown", "decision.escalate"]
    assert audit.verify(engine).ok
    with engine.connect() as conn:
        events = [r.event for r in conn.execute(select(deliveries.c.event))]
    assert events == ["item.escalated", "takedown.requested"]  # not item.labeled: not subscribed


def test_pagination_filters_and_search(env: Env) -> None:
    for i in range(5):
        env.scan(jpeg((i * 40, 10, 10)), f"f{i}.jpg", post_text=f"post number {i}")
    declared = env.scan(jpeg(), "declared.jpg", declared_ai=True, uploader_id="u-7")
    h = env.tokens[Role.AUDITOR]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = env.client.get("/v1/items", params=params, headers=h).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 6

    def ids(**params: str) -> list[str]:
        return [
            i["id"] for i in env.client.get("/v1/items", params=params, headers=h).json()["items"]
        ]

    assert ids(verdict="ai-generated") == [declared["id"]]
    assert ids(label="kr-ai-generated") == [declared["id"]]
    assert ids(q="u-7") == [declared["id"]]
    assert ids(q=declared["sha256"]) == [declared["id"]]
    assert len(ids(q="number")) == 5
    assert ids(q="100%") == []  # LIKE wildcards are escaped
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    assert ids(since=future) == []


def test_hostile_and_truncated_uploads(env: Env, png_header_only) -> None:
    h = env.tokens[Role.INGEST]

    def post(name: str, data: bytes) -> dict[str, Any]:
        r = env.client.post("/v1/scans", files={"file": (name, data, "image/jpeg")}, headers=h)
        assert r.status_code == 201, r.text  # stored with its errors: evidence is kept
        return r.json()  # type: ignore[no-any-return]

    truncated = post("t.jpg", jpeg(size=(640, 480))[:300])
    assert truncated["verdict"] == "no-signal" and truncated["errors"]
    bomb = post("b.png", png_header_only(100_000, 100_000))
    decode = [e for e in bomb["errors"] if e["detector"] == "decode"]
    assert decode and "pixels" in decode[0]["message"]
    pdf = post("photo.jpg", b"%PDF-1.7 not an image")  # the name and MIME type lie
    assert pdf["media_type"] == "document" and pdf["mime"] == "application/pdf"


def test_large_uploads_go_to_a_background_job(make_env, photo_png: Path) -> None:
    env = make_env(async_bytes=1000)
    data = photo_png.read_bytes()
    r = env.client.post(
        "/v1/scans", files={"file": ("big.png", data, "image/png")}, headers=env.tokens[Role.INGEST]
    )
    assert r.status_code == 202 and r.headers["location"].startswith("/v1/jobs/")
    job = env.client.get(r.headers["location"], headers=env.tokens[Role.INGEST]).json()
    assert job["status"] == "queued"
    with env.service.db.engine.connect() as conn:  # the upload is stored before the answer
        assert conn.execute(select(blobs.c.sha256)).scalar_one()
    assert work_once(env.service, sender=lambda *_: 200) >= 1
    done = env.client.get(r.headers["location"], headers=env.tokens[Role.INGEST]).json()
    assert done["status"] == "done" and done["item_url"].startswith("/v1/items/")
    item = env.client.get(done["item_url"], headers=env.tokens[Role.INGEST]).json()
    assert item["filename"] == "big.png" and item["verdict"] == "no-signal"
    prefer = env.client.post(
        "/v1/scans",
        files={"file": ("s.jpg", jpeg(), "image/jpeg")},
        headers={**env.tokens[Role.INGEST], "Prefer": "respond-async"},
    )
    assert prefer.status_code == 202


def test_a_job_whose_worker_died_runs_again_and_makes_one_item(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = env.client.post(
        "/v1/scans",
        files={"file": ("s.jpg", jpeg(), "image/jpeg")},
        headers={**env.tokens[Role.INGEST], "Prefer": "respond-async"},
    )
    job_id = r.json()["id"]
    engine = env.service.db.engine
    claimed = jobs.claim(engine)  # a worker takes the job ... and dies
    assert claimed is not None and claimed.id == job_id
    assert jobs.claim(engine) is None  # leased: nobody else takes it meanwhile
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=jobs.LEASE_SECONDS + 1)
    again = jobs.claim(engine, now=later)
    assert again is not None and again.id == job_id and again.attempts == 2
    from pyosi.service.worker import run_job

    run_job(env.service, again)
    run_job(env.service, again)  # a duplicate run finds the same item
    done = jobs.get_job(engine, job_id)
    assert done.status == "done"
    items = env.client.get("/v1/items", headers=env.tokens[Role.ADMIN]).json()["items"]
    assert [i["id"] for i in items] == [done.result["item_id"]]  # type: ignore[index]


def test_a_job_for_bytes_that_are_not_media_fails_clearly(env: Env) -> None:
    from pyosi.service.worker import run_job

    with env.service.db.engine.begin() as conn:
        sha = env.service.blobs.put(conn, b"plain text, not media", None)
        job_id = jobs.enqueue(
            conn, "scan", {"sha256": sha, "context": {}, "item_id": "abc"}, created_by="t"
        )
    job = jobs.claim(env.service.db.engine)
    assert job is not None
    run_job(env.service, job)
    failed = jobs.get_job(env.service.db.engine, job_id)
    assert failed.status == "failed" and "not a media file" in (failed.error or "")
    assert jobs.claim(env.service.db.engine) is None  # not retried: it would fail again


def test_dashboard_days_are_korean_calendar_days(env: Env) -> None:
    from pyosi.service.items import counts_by_day

    item = env.scan(jpeg())
    at = dt.datetime.fromisoformat(item["created_at"])
    days = counts_by_day(env.service.db.engine, days=2, now=at)
    kst_day = at.astimezone(dt.timezone(dt.timedelta(hours=9))).date().isoformat()
    assert days[-1] == {"date": kst_day, "counts": {"no-signal": 1}}
