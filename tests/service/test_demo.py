"""``pyosi serve --demo`` (``make run``): an admin login and sample items of every kind."""

from __future__ import annotations

from pyosi.service import demo
from pyosi.service.auth import Role, login
from pyosi.storage import Database
from tests.service.conftest import Env


def test_demo_data_shows_the_whole_flow(db: Database, env: Env) -> None:
    first = demo.prepare(db)
    assert login(db.engine, first.username, first.password).role is Role.ADMIN
    second = demo.prepare(db)  # a new password every start; the old one stops working
    assert second.password != first.password
    assert login(db.engine, "admin", second.password)
    assert demo.load_samples(env.service) == 8
    assert demo.load_samples(env.service) == 0  # only once
    items = env.client.get("/v1/items", headers=env.tokens[Role.ADMIN]).json()["items"]
    by_name = {i["filename"]: i for i in items}
    assert by_name["generated-marked.jpg"]["verdict"] == "ai-generated"
    assert by_name["reposted-screenshot.jpg"]["credentials_recovered"]
    assert by_name["camera-capture.jpg"]["verdict"] == "captured"
    assert by_name["webui-render.jpg"]["verdict"] == "ai-generated"
    assert by_name["stock-ai.jpg"]["verdict"] == "ai-generated"
    assert by_name["holiday.jpg"]["verdict"] == "no-signal"
    assert by_name["declared.jpg"]["labels"][0]["rests_on"] == ["self-declared"]
    rally = by_name["candidate-rally.jpg"]
    assert rally["status"] == "escalated" and rally["in_election_window"]
