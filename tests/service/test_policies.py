"""The versioned policy and the election calendar, through the API."""

from __future__ import annotations

import re

from pyosi.service import audit
from pyosi.service.auth import Role
from pyosi.service.policies import shipped_text
from tests.service.conftest import Env, jpeg


def _bump(text: str, version: int) -> str:
    return re.sub(r"(?m)^version\s*=\s*\d+", f"version = {version}", text, count=1)


def test_shipped_policy_is_in_force_until_edited(env: Env) -> None:
    r = env.client.get("/v1/policy", headers=env.tokens[Role.AUDITOR]).json()
    assert r["version"] == 1 and r["author"] == "shipped default" and r["created_at"] is None
    assert "election-ban-window" in r["rules"] and r["window_days"] == 90
    toml = env.client.get("/v1/policy?format=toml", headers=env.tokens[Role.REVIEWER])
    assert (
        toml.headers["content-type"].startswith("application/toml") and toml.text == shipped_text()
    )


def test_a_new_version_applies_to_new_items_and_decisions(env: Env) -> None:
    before = env.scan(jpeg(), declared_ai=True)
    text = _bump(shipped_text(), 2).replace('ko = "AI 생성"', 'ko = "인공지능 생성"', 1)
    h = env.tokens[Role.ADMIN]
    r = env.client.put("/v1/policy", json={"text": text, "comment": "wording"}, headers=h)
    assert r.status_code == 200 and r.json()["version"] == 2
    after = env.scan(jpeg(), declared_ai=True)
    assert before["policy_version"] == 1 and after["policy_version"] == 2
    kr = [lab for lab in after["labels"] if lab["id"] == "kr-ai-generated"]
    assert kr[0]["ko"] == "인공지능 생성"
    d = env.client.post(
        f"/v1/items/{before['id']}/decisions",
        json={"action": "confirm", "reason": "ok"},
        headers=env.tokens[Role.REVIEWER],
    ).json()
    assert d["decisions"][-1]["policy_version"] == 2  # the version in force when decided
    versions = env.client.get("/v1/policy/versions", headers=h).json()["versions"]
    assert [v["version"] for v in versions] == [2]
    assert env.client.get("/v1/policy/versions/2", headers=h).json()["text"] == text
    entry = next(e for e in audit.entries(env.service.db.engine) if e.action == "policy.update")
    assert entry.details["to"] == 2 and entry.details["comment"] == "wording"


def test_invalid_policies_are_explained_and_not_stored(env: Env) -> None:
    h = env.tokens[Role.ADMIN]
    broken = env.client.put("/v1/policy", json={"text": "version = [1"}, headers=h)
    assert broken.status_code == 422 and "not valid TOML" in broken.json()["detail"]
    bad_rule = _bump(shipped_text(), 2).replace(
        'then.actions = ["label"]', 'then.actions = ["zap"]', 1
    )
    schema = env.client.put("/v1/policy", json={"text": bad_rule}, headers=h)
    assert schema.status_code == 422 and "zap" in schema.json()["detail"]
    assert "rules[" in schema.json()["detail"]  # names the path of the problem
    same = env.client.put("/v1/policy", json={"text": shipped_text()}, headers=h)
    assert same.status_code == 409 and "version = 2" in same.json()["detail"]
    check = env.client.post("/v1/policy/validate", json={"text": bad_rule}, headers=h)
    assert check.status_code == 422
    ok = env.client.post("/v1/policy/validate", json={"text": shipped_text()}, headers=h)
    assert ok.json()["valid"] is True
    assert env.client.get("/v1/policy", headers=h).json()["version"] == 1


def test_election_calendar_crud_and_windows(env: Env) -> None:
    h = env.tokens[Role.ADMIN]
    listed = env.client.get("/v1/elections", headers=env.tokens[Role.INGEST]).json()
    slugs = [e["slug"] for e in listed["elections"]]
    assert "2028-national-assembly" in slugs  # seeded from the shipped calendar
    na = next(e for e in listed["elections"] if e["slug"] == "2028-national-assembly")
    assert na["window"] == {"start": "2028-01-13", "end": "2028-04-12"}
    body = {"slug": "2029-test", "date": "2029-06-03", "name_ko": "시험", "name_en": "Test",
            "kind": "local", "note": "n"}  # fmt: skip
    created = env.client.post("/v1/elections", json=body, headers=h)
    assert created.status_code == 201 and created.json()["window"]["start"] == "2029-03-05"
    eid = created.json()["id"]
    dup = env.client.post("/v1/elections", json=body, headers=h)
    assert dup.status_code == 409
    bad = env.client.post("/v1/elections", json={**body, "slug": "x2", "kind": "mayor"}, headers=h)
    assert bad.status_code == 422 and "kind" in bad.json()["detail"]
    moved = env.client.put(f"/v1/elections/{eid}", json={**body, "date": "2029-06-10"}, headers=h)
    assert moved.json()["date"] == "2029-06-10"
    assert env.client.delete(f"/v1/elections/{eid}", headers=h).status_code == 204
    assert env.client.get(f"/v1/elections/{eid}", headers=h).status_code == 404
    actions = [e.action for e in audit.entries(env.service.db.engine)][:3]
    assert actions == ["election.delete", "election.update", "election.add"]


def test_an_election_without_a_note(env: Env) -> None:
    body = {"slug": "no-note", "date": "2031-01-01", "name_ko": "가", "name_en": "a",
            "kind": "local"}  # fmt: skip
    r = env.client.post("/v1/elections", json=body, headers=env.tokens[Role.ADMIN])
    assert r.status_code == 201 and r.json()["note"] == ""
