"""The web UI in process (no browser): logins, CSRF on every form, redirects, roles, languages and
the ko/en catalog. The end-to-end tests in a real Chromium are in ``test_browser.py``."""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from pyosi.policy.rules import ELECTION_KINDS
from pyosi.service.auth import PERMISSIONS, Permission, Role
from pyosi.service.items import DecisionAction, ItemStatus
from pyosi.service.partners import list_partner_keys
from pyosi.service.policies import list_elections
from pyosi.service.ui import router
from pyosi.service.ui.render import catalog, negotiate
from pyosi.service.ui.routes import _safe_next
from pyosi.watermark import WatermarkKey
from tests.service.conftest import PASSWORD, Env, jpeg

UI = Path(str(resources.files("pyosi.service.ui")))

_ELECTION = {"date": "2030-01-01", "name_ko": "가", "name_en": "a", "kind": "local"}

#: Every page, and what its viewer needs. ``{item}`` is filled with a real item id.
PAGES: list[tuple[str, Permission]] = [
    ("/ui/", Permission.READ_ITEMS),
    ("/ui/queue", Permission.READ_ITEMS),
    ("/ui/queue?status=&verdict=no-signal&q=a&election=1", Permission.READ_ITEMS),
    ("/ui/items/{item}", Permission.READ_ITEMS),
    ("/ui/scan", Permission.SCAN),
    ("/ui/elections", Permission.READ_ELECTIONS),
    ("/ui/policy", Permission.READ_POLICY),
    ("/ui/reports", Permission.REPORTS),
    ("/ui/partners", Permission.MANAGE_PARTNERS),
    ("/ui/webhooks", Permission.MANAGE_WEBHOOKS),
    ("/ui/audit", Permission.READ_AUDIT),
]


def _login(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Log in through the form; returns the session's CSRF token."""
    form = client.get("/ui/login")
    token = _field(form.text, "login_token")
    r = client.post(
        "/ui/login",
        data={"username": username, "password": password, "login_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    page = client.get("/ui/elections")  # every role may see it
    assert page.status_code == 200
    return _field(page.text, "csrf_token")


def _field(html: str, name: str) -> str:
    m = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert m, f"no {name} field"
    return m.group(1)


def _client(env: Env) -> TestClient:
    """A fresh browser-like client on the same app (its own cookie jar)."""
    client = TestClient(env.client.app)
    client.__enter__()
    return client


@pytest.fixture
def item_id(env: Env) -> str:
    return str(env.scan(jpeg())["id"])


# ---- sessions, redirects, CSRF ------------------------------------------------------------------


def test_pages_send_visitors_without_a_session_to_the_login_page(env: Env, item_id: str) -> None:
    for template, _ in PAGES:
        path = template.format(item=item_id)
        r = env.client.get(path, follow_redirects=False)
        assert r.status_code == 303, path
        location = r.headers["location"]
        assert location.startswith("/ui/login?next=")
        assert unquote(location.split("next=", 1)[1]) == path
    # A form posted without a session goes to the login page too, and back to the dashboard.
    r = env.client.post("/ui/policy", data={"text": "x"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/ui/login?next=/ui/"
    assert env.client.get("/", follow_redirects=False).headers["location"] == "/ui/"


def test_login_logout_and_the_login_form_token(env: Env, users: dict[Role, str]) -> None:
    client = env.client
    page = client.get("/ui/login?next=/ui/audit")
    assert page.status_code == 200 and 'name="next" value="/ui/audit"' in page.text
    token = _field(page.text, "login_token")

    wrong = client.post(
        "/ui/login", data={"username": "admin", "password": "nope" * 3, "login_token": token}
    )
    assert wrong.status_code == 401 and "Wrong user name or password" in wrong.text
    assert 'value="admin"' in wrong.text  # the user name is kept, the password is not

    # Without the token the form came with (login CSRF), even the right password is refused.
    for bad in ("", "forged"):
        r = client.post(
            "/ui/login", data={"username": "admin", "password": PASSWORD, "login_token": bad}
        )
        assert r.status_code == 403 and "expired" in r.text
        assert "pyosi_session" not in r.cookies

    token = _field(client.get("/ui/login").text, "login_token")
    ok = client.post(
        "/ui/login",
        data={"username": "admin", "password": PASSWORD, "login_token": token, "next": "/ui/audit"},
        follow_redirects=False,
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/ui/audit"
    cookie = ok.headers["set-cookie"]
    assert "pyosi_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    csrf = _field(client.get("/ui/").text, "csrf_token")

    assert client.post("/ui/logout", data={"csrf_token": "wrong"}).status_code == 403
    out = client.post("/ui/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/ui/login"
    assert client.get("/ui/", follow_redirects=False).status_code == 303  # session gone


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/ui/queue?status=open&q=x", "/ui/queue?status=open&q=x"),
        ("/ui/items/abc", "/ui/items/abc"),
        ("", "/ui/"),
        (None, "/ui/"),
        ("https://evil.example/", "/ui/"),
        ("//evil.example/", "/ui/"),
        ("///evil.example/", "/ui/"),
        ("/\\evil.example/", "/ui/"),
        ("\\/evil.example/", "/ui/"),
        ("/\t/evil.example/", "/ui/"),
        ("/\n/evil.example/", "/ui/"),
        ("javascript:alert(1)", "/ui/"),
        ("ui/relative", "/ui/"),
    ],
)
def test_next_never_leaves_the_site(target: str | None, expected: str) -> None:
    assert _safe_next(target) == expected


def test_login_and_language_redirects_stay_on_the_site(env: Env, users: dict[Role, str]) -> None:
    for evil in ("https://evil.example/x", "//evil.example/x", "/\\evil.example/x"):
        r = env.client.get("/ui/lang/en", params={"next": evil}, follow_redirects=False)
        assert r.headers["location"] == "/ui/", evil
        client = _client(env)
        token = _field(client.get("/ui/login").text, "login_token")
        r = client.post(
            "/ui/login",
            data={"username": "admin", "password": PASSWORD, "login_token": token, "next": evil},
            follow_redirects=False,
        )
        assert r.status_code == 303 and r.headers["location"] == "/ui/", evil
        client.__exit__(None, None, None)


def _forms(env: Env, item_id: str) -> list[tuple[str, dict[str, Any]]]:
    """Every POST form of the UI with valid fields (ids that need not exist: CSRF comes first)."""
    key = WatermarkKey.generate().to_json()
    return [
        ("/ui/logout", {}),
        (f"/ui/items/{item_id}/decisions", {"data": {"action": "dismiss", "reason": "r"}}),
        ("/ui/scan", {"files": {"file": ("a.jpg", jpeg(), "image/jpeg")}}),
        ("/ui/elections", {"data": {**_ELECTION, "slug": "x-1"}}),
        ("/ui/elections/999/delete", {}),
        ("/ui/policy", {"data": {"text": "version = 99", "check_only": "1"}}),
        ("/ui/partners", {"data": {"name": "p", "key": key}}),
        ("/ui/partners/none/revoke", {}),
        ("/ui/webhooks", {"data": {"url": "https://example.org/h", "events": ["item.labeled"]}}),
        ("/ui/webhooks/999/active", {"data": {"active": "0"}}),
        ("/ui/webhooks/deliveries/999/retry", {}),
    ]


def test_every_post_form_needs_the_csrf_token(
    env: Env, users: dict[Role, str], item_id: str
) -> None:
    forms = _forms(env, item_id)
    posted = {
        route.path
        for route in router.routes
        if isinstance(route, APIRoute) and "POST" in (route.methods or ())
    }
    listed = {re.sub(r"/(999|none|[0-9a-f]{16})(?=/)", "/{x}", p) for p, _ in forms}
    normalised = {re.sub(r"\{[a-z_]+\}", "{x}", p) for p in posted}
    assert normalised - listed == {"/ui/login"}  # the login form has its own token (above)

    csrf = _login(env.client, "admin")
    for path, kwargs in forms:
        data = dict(kwargs.get("data", {}))
        for bad in (None, "", "wrong-token"):
            sent = {**data, "csrf_token": bad} if bad is not None else data
            r = env.client.post(path, **{**kwargs, "data": sent}, follow_redirects=False)
            assert r.status_code == 403, (path, bad, r.status_code)
            assert "CSRF" in r.text and r.headers["content-type"].startswith("text/html")
        if path == "/ui/logout":
            continue
        r = env.client.post(
            path, **{**kwargs, "data": {**data, "csrf_token": csrf}}, follow_redirects=False
        )
        assert r.status_code not in (401, 403), (path, r.status_code, r.text[:300])
    # A token is the session's own: another session's token does not do.
    other = _client(env)
    other_csrf = _login(other, "reviewer")
    assert other_csrf != csrf
    r = env.client.post(
        f"/ui/items/{item_id}/decisions",
        data={"action": "dismiss", "reason": "r", "csrf_token": other_csrf},
    )
    assert r.status_code == 403
    other.__exit__(None, None, None)


def test_every_page_renders_for_the_roles_allowed(
    env: Env, users: dict[Role, str], item_id: str
) -> None:
    for role in Role:
        client = _client(env)
        _login(client, users[role])
        home = client.get("/ui/")
        assert home.status_code == 200, role
        for template, permission in PAGES:
            path = template.format(item=item_id)
            r = client.get(path)
            allowed = role in PERMISSIONS[permission]
            if path == "/ui/" and not allowed:  # the landing page sends it on instead
                assert r.history and r.url.path == "/ui/elections"
                continue
            assert r.status_code == (200 if allowed else 403), (role, path, r.status_code)
            assert r.headers["content-type"].startswith("text/html")
            assert '<html lang="en">' in r.text
            if not allowed:
                assert "may not" in r.text
            nav = re.search(r"<nav aria-label[^>]*>(.*?)</nav>", r.text, re.S)
            assert nav is not None
            links = set(re.findall(r'href="([^"]+)"', nav.group(1)))
            for page_path, page_permission in PAGES:
                if "?" in page_path or "{" in page_path:
                    continue
                shown = page_path in links
                assert shown == (role in PERMISSIONS[page_permission]), (role, page_path)
        client.__exit__(None, None, None)


def test_a_role_without_items_lands_on_a_page_it_may_see(env: Env, users: dict[Role, str]) -> None:
    _login(env.client, users[Role.GENERATOR])
    r = env.client.get("/ui/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/ui/elections"


def test_pages_carry_no_inline_script_or_style(env: Env, users: dict[Role, str], item_id: str):
    _login(env.client, "admin")
    for path, _ in [*PAGES, ("/ui/login", Permission.READ_ELECTIONS)]:
        r = env.client.get(path.format(item=item_id))
        assert r.status_code == 200, path
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "style-src 'self'" in csp
        assert r.headers["cache-control"] == "no-store"
        html = r.text
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path
        assert not re.search(r"\sstyle=", html), path
        assert not re.search(r"\son[a-z]+=", html), path
        assert "<style" not in html, path


# ---- the item page's decision form --------------------------------------------------------------


def test_decisions_through_the_form(env: Env, users: dict[Role, str], item_id: str) -> None:
    csrf = _login(env.client, "reviewer")
    url = f"/ui/items/{item_id}/decisions"
    none = env.client.post(url, data={"reason": "why", "csrf_token": csrf})
    assert none.status_code == 400 and "Choose a decision" in none.text
    assert ">why</textarea>" in none.text  # what was typed is kept
    relabel = env.client.post(
        url, data={"action": "relabel", "reason": "r", "label_ko": "가", "csrf_token": csrf}
    )
    assert relabel.status_code == 400 and "Korean and English" in relabel.text
    assert 'value="relabel" data-key="r" required checked' in relabel.text
    blank = env.client.post(url, data={"action": "escalate", "reason": " ", "csrf_token": csrf})
    assert blank.status_code == 400 and "needs a reason" in blank.text
    ok = env.client.post(
        url,
        data={"action": "escalate", "reason": "looks staged", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert ok.status_code == 303 and ok.headers["location"] == f"/ui/items/{item_id}?saved=1"
    page = env.client.get(ok.headers["location"]).text
    assert 'data-action="escalate"' in page and "looks staged" in page
    assert "user:reviewer" in page and 'role="status"' in page


def test_elections_form_adds_without_a_note_and_keeps_input_on_errors(
    env: Env, users: dict[Role, str]
) -> None:
    csrf = _login(env.client, "admin")
    fields = {
        **_ELECTION,
        "slug": "2031-test",
        "name_en": "Test election",
        "note": "",
        "csrf_token": csrf,
    }
    r = env.client.post("/ui/elections", data=fields, follow_redirects=False)
    assert r.status_code == 303, r.text[:500]
    added = [e for e in list_elections(env.service.db.engine) if e.election.id == "2031-test"]
    assert added and added[0].election.note == ""
    again = env.client.post("/ui/elections", data=fields)
    assert again.status_code == 400 and "already exists" in again.text
    assert 'value="Test election"' in again.text and 'value="local" selected' in again.text
    bad = env.client.post("/ui/elections", data={**fields, "slug": "Bad Slug"})
    assert bad.status_code == 400 and "slug" in bad.text


def test_partner_keys_and_webhooks_through_the_forms(env: Env, users: dict[Role, str]) -> None:
    csrf = _login(env.client, "admin")
    key = WatermarkKey.generate()
    r = env.client.post(
        "/ui/partners",
        data={"name": "Example AI", "key": key.to_json(), "csrf_token": csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = env.client.get("/ui/partners").text
    assert key.id in page and "Example AI" in page
    bad = env.client.post("/ui/partners", data={"name": "x", "key": "zz", "csrf_token": csrf})
    assert bad.status_code == 400 and "watermark key" in bad.text
    env.client.post(f"/ui/partners/{key.id}/revoke", data={"csrf_token": csrf})
    (stored,) = list_partner_keys(env.service.db.engine)
    assert stored.revoked_at is not None

    hook = env.client.post(
        "/ui/webhooks",
        data={"url": "https://example.org/h", "events": ["item.labeled"], "csrf_token": csrf},
    )
    assert hook.status_code == 200
    secret = re.search(r"<code data-secret>(whsec_[^<]+)</code>", hook.text)
    assert secret is not None
    assert secret.group(1) not in env.client.get("/ui/webhooks").text  # shown once
    nothing = env.client.post("/ui/webhooks", data={"url": "ftp://x", "csrf_token": csrf})
    assert nothing.status_code == 400


def test_policy_editor_checks_and_saves(env: Env, users: dict[Role, str]) -> None:
    csrf = _login(env.client, "admin")
    page = env.client.get("/ui/policy").text
    text = re.search(r'<textarea id="policy-text"[^>]*>(.*?)</textarea>', page, re.S)
    assert text is not None
    import html

    bumped = html.unescape(text.group(1))
    version = int(re.search(r"(?m)^version = (\d+)", bumped).group(1))  # type: ignore[union-attr]
    check = env.client.post(
        "/ui/policy", data={"text": bumped, "check_only": "1", "csrf_token": csrf}
    )
    assert check.status_code == 200 and "The policy is valid" in check.text
    broken = env.client.post("/ui/policy", data={"text": "version = [", "csrf_token": csrf})
    assert broken.status_code == 422 and 'aria-invalid="true"' in broken.text
    saved = env.client.post(
        "/ui/policy",
        data={"text": bumped, "comment": "test", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    again = env.client.post("/ui/policy", data={"text": bumped, "csrf_token": csrf})
    assert again.status_code == 422 and f"version = {version + 1}" in again.text


# ---- languages ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "lang"),
    [
        ("ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7", "ko"),
        ("ko", "ko"),
        ("en-US,en;q=0.9", "en"),
        ("fr-FR, ko;q=0.5", "ko"),
        ("en;q=0.2, ko;q=0.8", "ko"),
        ("ko;q=0, en", "en"),
        ("fr, de", "en"),
        ("", "en"),
        ("*", "en"),
        ("ko;q=abc, en;q=0.1", "en"),
    ],
)
def test_language_from_the_browser(header: str, lang: str) -> None:
    assert negotiate(header) == lang


def test_korean_by_default_for_korean_browsers_and_the_switch_sticks(
    env: Env, users: dict[Role, str]
) -> None:
    ko = env.client.get("/ui/login", headers={"Accept-Language": "ko-KR,ko;q=0.9"})
    assert '<html lang="ko">' in ko.text and "로그인" in ko.text
    en = env.client.get("/ui/login", headers={"Accept-Language": "en-US"})
    assert '<html lang="en">' in en.text and "Log in" in en.text

    _login(env.client, "admin")
    korean = {"Accept-Language": "ko-KR"}
    page = env.client.get("/ui/queue?status=&verdict=captured", headers=korean).text
    switch = re.search(r'<a class="lang" href="([^"]+)"', page)
    assert switch is not None
    href = switch.group(1).replace("&amp;", "&")
    assert href == "/ui/lang/en?next=%2Fui%2Fqueue%3Fstatus%3D%26verdict%3Dcaptured"
    r = env.client.get(href, headers=korean, follow_redirects=False)
    assert r.headers["location"] == "/ui/queue?status=&verdict=captured"
    assert "pyosi_lang=en" in r.headers["set-cookie"]
    after = env.client.get("/ui/", headers=korean).text
    assert '<html lang="en">' in after  # the cookie beats the browser's language
    env.client.get("/ui/lang/xx", follow_redirects=False)  # unknown: ignored
    assert '<html lang="en">' in env.client.get("/ui/", headers=korean).text
    env.client.get("/ui/lang/ko")
    assert '<html lang="ko">' in env.client.get("/ui/").text


# ---- the catalog --------------------------------------------------------------------------------


def _sources() -> list[Path]:
    return [*sorted((UI / "templates").glob("*.html")), UI / "routes.py", UI / "render.py"]


def test_catalog_has_both_languages_for_every_key() -> None:
    raw = tomllib.loads((UI / "messages.toml").read_text("utf-8"))
    assert raw == catalog()
    for section, entries in raw.items():
        for key, entry in entries.items():
            assert set(entry) == {"ko", "en"}, f"{section}.{key}"
            assert all(isinstance(v, str) and v.strip() for v in entry.values()), f"{section}.{key}"


def test_every_key_the_ui_uses_is_in_the_catalog() -> None:
    used: set[str] = set()
    prefixes: set[str] = set()
    for path in _sources():
        text = path.read_text("utf-8")
        used |= set(re.findall(r"""\bt\(\s*["']([a-z_-]+\.[a-z0-9_-]+)["']""", text))
        prefixes |= set(re.findall(r"""\bt\(\s*["']([a-z_-]+)\.["']\s*\+""", text))
    # Keys in the navigation table.
    used |= set(re.findall(r'"(nav\.[a-z]+)"', (UI / "render.py").read_text("utf-8")))
    assert len(used) > 100
    cat = catalog()
    missing = sorted(k for k in used if k.partition(".")[2] not in cat.get(k.partition(".")[0], {}))
    assert not missing, missing

    # Keys made from data: every value the data can take has its words.
    dynamic: dict[str, set[str]] = {
        "status": {s.value for s in ItemStatus},
        "verdict": {"ai-generated", "ai-edited", "captured", "no-signal"},
        "actions": {a.value for a in DecisionAction},
        "decision": {a.value for a in DecisionAction},
        "kind": set(ELECTION_KINDS),
        "elections": {"active", "upcoming", "past"},
    }
    assert prefixes <= set(dynamic), prefixes - set(dynamic)
    for section, values in dynamic.items():
        assert values <= set(cat[section]), (section, values - set(cat[section]))


def test_unused_catalog_entries_are_few() -> None:
    """Keys nobody uses rot: at most a handful (kept for the API or upcoming pages)."""
    text = "\n".join(p.read_text("utf-8") for p in _sources())
    dynamic_sections = {"status", "verdict", "actions", "decision", "kind"}
    unused = [
        f"{section}.{key}"
        for section, entries in catalog().items()
        if section not in dynamic_sections
        for key in entries
        if f"{section}.{key}" not in text
        and not (section == "elections" and key in {"active", "upcoming", "past"})
    ]
    assert len(unused) <= 10, unused


def test_scan_page_sends_several_files_as_one_batch(env: Env, users: dict[Role, str]) -> None:
    csrf = _login(env.client, "ingest")
    one = env.client.post(
        "/ui/scan",
        files={"file": ("a.jpg", jpeg(), "image/jpeg")},
        data={"csrf_token": csrf},
        follow_redirects=False,
    )
    assert one.status_code == 303 and one.headers["location"].startswith("/ui/items/")
    several = env.client.post(
        "/ui/scan",
        files=[("file", (f"{i}.jpg", jpeg((i, 9, 9)), "image/jpeg")) for i in range(3)],
        data={"csrf_token": csrf, "election_related": "1"},
    )
    assert several.status_code == 200 and "/v1/jobs/" in several.text
    from pyosi.service.worker import work_once

    assert work_once(env.service, sender=lambda *_: 200) >= 1
    job_id = re.search(r"/v1/jobs/([0-9a-f]+)", several.text)
    assert job_id is not None
    done = env.client.get(f"/v1/jobs/{job_id.group(1)}").json()
    assert done["status"] == "done" and len(done["result"]["items"]) == 3
