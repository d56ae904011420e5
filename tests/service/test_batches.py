"""Batches: loose files and ZIP archives in one request, scanned in the background."""

from __future__ import annotations

import dataclasses
import io
import zipfile
from typing import Any

import pytest

from pyosi.service import jobs
from pyosi.service.auth import Role
from pyosi.service.batches import Limits, expand
from pyosi.service.errors import InvalidRequestError
from pyosi.service.worker import run_job, work_once
from tests.service.conftest import Env, jpeg


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            if name.endswith("/"):
                zf.writestr(zipfile.ZipInfo(name), b"")
            else:
                zf.writestr(name, data)
    return buf.getvalue()


def _post(env: Env, files: list[tuple[str, bytes]], **form: Any) -> Any:
    return env.client.post(
        "/v1/batches",
        files=[("files", (name, data, "application/octet-stream")) for name, data in files],
        data=form,
        headers=env.tokens[Role.INGEST],
    )


def test_a_batch_of_files_and_an_archive_makes_an_item_per_media_file(env: Env) -> None:
    archive = _zip({
        "monitor/": b"",
        "monitor/a.jpg": jpeg((10, 20, 30)),
        "monitor/deep/b.jpg": jpeg((200, 10, 10)),
        "monitor/notes.txt": b"collected 2027-12-01",
        "__MACOSX/monitor/._a.jpg": b"resource fork",
    })  # fmt: skip
    r = _post(env, [("x.jpg", jpeg()), ("week1.zip", archive)], post_text="후보 유세 영상")
    assert r.status_code == 202, r.text
    assert r.headers["location"] == r.json()["url"] and r.json()["kind"] == "batch"
    assert work_once(env.service, sender=lambda *_: 200) >= 1
    done = env.client.get(r.headers["location"], headers=env.tokens[Role.INGEST]).json()
    assert done["status"] == "done", done
    result = done["result"]
    names = sorted(i["filename"] for i in result["items"])
    assert names == ["week1.zip/monitor/a.jpg", "week1.zip/monitor/deep/b.jpg", "x.jpg"]
    assert [e["filename"] for e in result["errors"]] == ["week1.zip/monitor/notes.txt"]
    assert "not a media file" in result["errors"][0]["error"]
    for entry in result["items"]:
        item = env.client.get(f"/v1/items/{entry['item_id']}", headers=env.tokens[Role.ADMIN])
        assert item.json()["context"]["post_text"] == "후보 유세 영상"
        assert item.json()["filename"] == entry["filename"]


def test_a_batch_job_run_again_makes_no_second_item(env: Env) -> None:
    r = _post(env, [("a.jpg", jpeg()), ("b.jpg", jpeg((1, 2, 3)))])
    job = jobs.claim(env.service.db.engine)
    assert job is not None and job.id == r.json()["id"]
    run_job(env.service, job)
    run_job(env.service, job)  # as after a worker that died before it said so
    items = env.client.get("/v1/items", headers=env.tokens[Role.ADMIN]).json()["items"]
    assert len(items) == 2


def test_bad_archives_and_files_are_reported_not_fatal(env: Env) -> None:
    r = _post(
        env, [("broken.zip", b"PK\x03\x04 not really"), ("empty.jpg", b""), ("ok.jpg", jpeg())]
    )
    assert r.status_code == 202, r.text
    work_once(env.service, sender=lambda *_: 200)
    result = jobs.get_job(env.service.db.engine, r.json()["id"]).result
    assert result is not None
    assert [i["filename"] for i in result["items"]] == ["ok.jpg"]
    errors = {e["filename"]: e["error"] for e in result["errors"]}
    assert "unreadable ZIP archive" in errors["broken.zip"] and "empty" in errors["empty.jpg"]


def test_budgets_count_the_bytes_actually_unpacked() -> None:
    bomb = _zip({"big.jpg": b"\0" * 5_000_000})  # 5 MB of zeros: a few kB packed
    assert len(bomb) < 20_000
    limits = Limits(max_files=10, max_file_bytes=1_000_000, max_total_bytes=4_000_000)
    [member] = expand([("bomb.zip", bomb)], limits)
    assert member.data is None and "larger than 1000000 bytes" in (member.error or "")
    many = _zip({f"{i}.jpg": jpeg() for i in range(11)})
    with pytest.raises(InvalidRequestError, match="at most 10 files"):
        expand([("many.zip", many)], limits)
    with pytest.raises(InvalidRequestError, match="at most 4000000 bytes"):
        expand([(f"{i}.jpg", b"\xff\xd8\xff" + b"\0" * 900_000) for i in range(5)], limits)
    with pytest.raises(InvalidRequestError, match="no files"):
        expand([("empty.zip", _zip({"folder/": b""}))], limits)


def test_a_batch_needs_the_scan_permission(env: Env) -> None:
    for role in (Role.AUDITOR, Role.GENERATOR):
        r = env.client.post(
            "/v1/batches",
            files=[("files", ("a.jpg", jpeg(), "image/jpeg"))],
            headers=env.tokens[role],
        )
        assert r.status_code == 403, role


def test_a_long_batch_keeps_its_lease_and_a_stale_run_cannot(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    import datetime as dt

    from pyosi.service import batches

    _post(env, [("a.jpg", jpeg()), ("b.jpg", jpeg((1, 2, 3)))])
    engine = env.service.db.engine
    job = jobs.claim(engine)
    assert job is not None
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=jobs.LEASE_SECONDS - 1)
    assert jobs.renew(engine, job, now=later)  # still ours: the lease moves on
    assert jobs.claim(engine, now=later + dt.timedelta(seconds=2)) is None
    # A run whose lease another worker has since claimed (attempts moved on) renews nothing.
    stale = dataclasses.replace(job, attempts=job.attempts - 1)
    assert not jobs.renew(engine, stale)
    monkeypatch.setattr(batches, "RENEW_SECONDS", 0.0)  # renew before every file
    renewals: list[str] = []
    real_renew = jobs.renew

    def counting_renew(e: Any, j: jobs.Job) -> bool:
        renewals.append(j.id)
        return real_renew(e, j)

    monkeypatch.setattr(jobs, "renew", counting_renew)
    run_job(env.service, job)
    assert renewals == [job.id, job.id]
    assert jobs.get_job(engine, job.id).status == "done"
