"""Webhooks: signed deliveries to a real HTTP receiver, retries with back-off, the log."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from pyosi.service import webhooks
from pyosi.service.auth import Role
from pyosi.service.errors import InvalidRequestError
from pyosi.service.worker import work_once
from tests.service.conftest import Env, jpeg


class _Receiver(http.server.BaseHTTPRequestHandler):
    got: list[tuple[dict[str, str], bytes]]
    status: list[int]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        self.got.append((dict(self.headers), body))
        code = self.status.pop(0) if self.status else 204
        self.send_response(code)
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]], list[int]]]:
    got: list[tuple[dict[str, str], bytes]] = []
    status: list[int] = []
    handler = type("H", (_Receiver,), {"got": got, "status": status})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", got, status
    server.shutdown()
    server.server_close()


@pytest.fixture
def send() -> Iterator[webhooks.HttpSender]:
    sender = webhooks.HttpSender()
    yield sender
    sender.close()


def test_signature_round_trip_and_tampering() -> None:
    header = webhooks.sign("whsec_x", 1_700_000_000, b'{"a":1}')
    assert webhooks.verify_signature("whsec_x", header, b'{"a":1}', now=1_700_000_100)
    assert not webhooks.verify_signature("whsec_x", header, b'{"a":2}', now=1_700_000_100)
    assert not webhooks.verify_signature("whsec_y", header, b'{"a":1}', now=1_700_000_100)
    assert not webhooks.verify_signature("whsec_x", header, b'{"a":1}', now=1_700_001_000)  # stale
    assert not webhooks.verify_signature("whsec_x", "garbage", b"", now=0)


def test_events_are_delivered_signed(env: Env, receiver, send) -> None:
    url, got, _ = receiver
    created = env.client.post(
        "/v1/webhooks",
        json={"url": url, "events": ["item.labeled", "item.escalated"], "description": "NEC"},
        headers=env.tokens[Role.ADMIN],
    ).json()
    secret = created["secret"]
    assert secret.startswith("whsec_")
    listed = env.client.get("/v1/webhooks", headers=env.tokens[Role.ADMIN]).json()
    assert "secret" not in json.dumps(listed)  # shown once, never again
    item = env.scan(jpeg(), declared_ai=True)
    sent = work_once(env.service, send)
    assert sent >= 1 and len(got) == 1
    headers, body = got[0]
    assert headers["X-Pyosi-Event"] == "item.labeled"
    assert webhooks.verify_signature(secret, headers["X-Pyosi-Signature"], body)
    event = json.loads(body)
    assert event["type"] == "item.labeled" and event["data"]["id"] == item["id"]
    assert event["id"] == headers["X-Pyosi-Delivery"]
    assert "post_text" not in event["data"]  # events carry summaries, not users' posts
    log = env.client.get("/v1/webhooks/deliveries", headers=env.tokens[Role.ADMIN]).json()
    assert log["deliveries"][0]["status"] == "delivered"
    assert log["deliveries"][0]["last_status_code"] == 204


def test_failures_are_retried_with_back_off_then_given_up(env: Env, receiver, send) -> None:
    url, got, status = receiver
    status.extend([500, 503])
    env.client.post(
        "/v1/webhooks",
        json={"url": url, "events": ["item.labeled"]},
        headers=env.tokens[Role.ADMIN],
    )
    env.scan(jpeg(), declared_ai=True)
    engine = env.service.db.engine
    assert webhooks.deliver_due(engine, send) == 1
    d = webhooks.list_deliveries(engine)[0]
    assert d.status == "pending" and d.attempts == 1 and d.last_error == "HTTP 500"
    assert d.next_attempt_at is not None
    assert webhooks.deliver_due(engine, send) == 0  # not due yet: back-off
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=webhooks.BASE_DELAY * 1.2)
    assert webhooks.deliver_due(engine, send, now=soon) == 1
    assert webhooks.list_deliveries(engine)[0].last_error == "HTTP 503"
    later = soon + dt.timedelta(seconds=webhooks.BASE_DELAY * 2.5)
    assert webhooks.deliver_due(engine, send, now=later) == 1
    d = webhooks.list_deliveries(engine)[0]
    assert d.status == "delivered" and d.attempts == 3 and len(got) == 3
    ids = {h["X-Pyosi-Delivery"] for h, _ in got}
    assert len(ids) == 1  # the same event id on every retry: receivers deduplicate on it


def test_unreachable_receiver_fails_after_max_attempts_and_can_be_retried(env: Env) -> None:
    env.client.post(
        "/v1/webhooks",
        json={"url": "http://127.0.0.1:9/nothing", "events": ["item.labeled"]},
        headers=env.tokens[Role.ADMIN],
    )
    env.scan(jpeg(), declared_ai=True)
    engine = env.service.db.engine
    calls: list[str] = []

    def refuse(url: str, body: bytes, headers: object) -> int:
        calls.append(url)
        raise ConnectionRefusedError("connection refused")

    when = dt.datetime.now(dt.UTC)
    for _ in range(webhooks.MAX_ATTEMPTS):
        webhooks.deliver_due(engine, refuse, now=when)
        when += dt.timedelta(seconds=webhooks.MAX_DELAY * 1.2)
    d = webhooks.list_deliveries(engine)[0]
    assert d.status == "failed" and d.attempts == webhooks.MAX_ATTEMPTS
    assert "ConnectionRefusedError" in (d.last_error or "")
    assert len(calls) == webhooks.MAX_ATTEMPTS
    r = env.client.post(f"/v1/webhooks/deliveries/{d.id}/retry", headers=env.tokens[Role.ADMIN])
    assert r.status_code == 202
    assert webhooks.list_deliveries(engine)[0].status == "pending"


def test_backoff_grows_and_is_capped() -> None:
    delays = [webhooks.backoff(n) for n in range(1, 12)]
    assert delays[0] < delays[1] < delays[2]
    assert max(delays) <= webhooks.MAX_DELAY * 1.1


def test_disabled_webhooks_get_no_events_and_bad_urls_are_refused(env: Env) -> None:
    h = env.tokens[Role.ADMIN]
    hook = env.client.post(
        "/v1/webhooks", json={"url": "https://example.org/h", "events": ["item.labeled"]}, headers=h
    ).json()
    off = env.client.patch(f"/v1/webhooks/{hook['id']}", json={"active": False}, headers=h)
    assert off.json()["active"] is False
    env.scan(jpeg(), declared_ai=True)
    assert webhooks.list_deliveries(env.service.db.engine) == []
    for url in ["ftp://example.org/x", "https://user:pw@example.org/", "/relative"]:
        r = env.client.post(
            "/v1/webhooks", json={"url": url, "events": ["item.labeled"]}, headers=h
        )
        assert r.status_code == 400, url
    unknown = env.client.post(
        "/v1/webhooks", json={"url": "https://example.org", "events": ["nope"]}, headers=h
    )
    assert unknown.status_code == 400 and "item.labeled" in unknown.json()["detail"]


def test_metadata_and_link_local_targets_are_refused(env: Env) -> None:
    h = env.tokens[Role.ADMIN]
    for url in ["http://169.254.169.254/latest/meta-data", "http://[fe80::1]/x", "http://0.0.0.0/"]:
        r = env.client.post(
            "/v1/webhooks", json={"url": url, "events": ["item.labeled"]}, headers=h
        )
        assert r.status_code == 400 and "link-local" in r.json()["detail"], url
    with pytest.raises(InvalidRequestError, match="link-local"):
        webhooks.check_target("http://169.254.169.254/")
    webhooks.check_target("http://127.0.0.1:9/")  # a receiver on this host or network is fine
