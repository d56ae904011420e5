"""The web UI end to end in a real headless Chromium, driven by Playwright.

A real server (Uvicorn, in a subprocess, with its background worker) runs on a free port over a
data directory seeded with the demo's sample items and one login per role. The browser is
Debian's ``chromium`` (``.ci/run`` installs it), launched with ``executable_path``: Playwright's
own browser download is never used. Without a chromium binary these tests skip, except in CI
(``CI`` set), where they fail instead.

Screenshots of the main pages go to ``$PYOSI_SCREENSHOTS`` when it is set, else to a temporary
directory.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

from pyosi.bench.service.server import free_port
from pyosi.service import demo
from pyosi.service.app import Settings, create_app
from pyosi.service.auth import Role, add_user, set_password
from pyosi.storage import open_database
from pyosi.watermark import WatermarkKey
from tests.service.conftest import PASSWORD, jpeg

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    # Chromium's own connections to Google are refused on this closed network: don't try.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--no-first-run",
    "--no-default-browser-check",
]
EN = "en-US"
KO = "ko-KR"


def _chromium() -> str | None:
    """``$PYOSI_CHROMIUM`` if set (and only that), else Debian's chromium wherever it is."""
    chosen = os.environ.get("PYOSI_CHROMIUM")
    candidates = (
        [chosen]
        if chosen
        else [shutil.which("chromium"), "/usr/bin/chromium", shutil.which("chromium-browser")]
    )
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


# ---- the server ---------------------------------------------------------------------------------


@dataclass
class Server:
    url: str
    data_dir: Path
    log: Path


def _seed(data_dir: Path) -> None:
    """Migrate, make the demo's identity, key and sample items, and one login per role."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYOSI_DATA_DIR", str(data_dir))
        mp.delenv("PYOSI_DATABASE_URL", raising=False)
        mp.delenv("PYOSI_BLOB_DIR", raising=False)
        db = open_database()
        demo.prepare(db)  # migrates; makes "admin" with a random password, replaced here
        set_password(db.engine, demo.ADMIN, PASSWORD, actor="test")
        for role in Role:
            if role is not Role.ADMIN:
                add_user(db.engine, role.value, PASSWORD, role, actor="test")
        db.dispose()
        app = create_app(Settings(run_worker=False))
        service = app.state.service
        assert demo.load_samples(service) == 8
        service.db.dispose()


@pytest.fixture(scope="module")
def chromium() -> str:
    path = _chromium()
    if path is None:
        message = (
            "no chromium binary found (apt-get install chromium, or set PYOSI_CHROMIUM); "
            "the browser tests need Debian's chromium, not Playwright's download"
        )
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser tests: {message}")
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def server(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("browser-service")
    _seed(data_dir)
    port = free_port()
    log = data_dir / "server.log"
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("PYOSI_", "PROMETHEUS_"))
    }  # fmt: skip
    env.update(PYOSI_DATA_DIR=str(data_dir), PYOSI_WORKER="1", PYOSI_WORKERS="1")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "pyosi.service.app:create_app", "--factory",
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the server exited ({proc.returncode}):\n{log.read_text()}")
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the server did not start in 60 s:\n{log.read_text()}")
            time.sleep(0.2)
        yield Server(url, data_dir, log)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Receiver:
    """A webhook endpoint on this machine: remembers what was POSTed to it."""

    url: str
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    got: list[tuple[dict[str, str], bytes]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            got.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield Receiver(f"http://127.0.0.1:{httpd.server_address[1]}/hook", got)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


# ---- the browser --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Browser]:
    pw: Playwright = sync_playwright().start()
    try:
        b = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()
    finally:
        pw.stop()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("PYOSI_SCREENSHOTS")
    if chosen:
        path = Path(chosen)
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp("screenshots")


def shoot(page: Page, shots: Path, name: str) -> None:
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)


@dataclass
class Browsing:
    """Opens pages as a given user and language; collects script errors and CSP violations."""

    browser: Browser
    server: Server
    contexts: list[BrowserContext] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def page(self, user: str | None = None, locale: str = EN) -> Page:
        context = self.browser.new_context(
            locale=locale, base_url=self.server.url, viewport={"width": 1280, "height": 900}
        )
        context.set_default_timeout(10_000)
        self.contexts.append(context)
        page = context.new_page()

        def console(message: Any) -> None:
            text = message.text
            if message.type == "error" and "Failed to load resource" not in text:
                self.problems.append(f"{page.url}: console: {text}")
            if "Content Security Policy" in text or "Content-Security-Policy" in text:
                self.problems.append(f"{page.url}: CSP: {text}")

        page.on("console", console)
        page.on("pageerror", lambda e: self.problems.append(f"{page.url}: script error: {e}"))
        if user is not None:
            login(page, user)
        return page


def login(page: Page, user: str, password: str = PASSWORD) -> None:
    page.goto("/ui/login")
    page.locator("#username").fill(user)
    page.locator("#password").fill(password)
    page.locator("form.stack button[type=submit]").click()
    page.wait_for_url(re.compile(r"/ui/(?!login)"))


@pytest.fixture
def browsing(browser: Browser, server: Server) -> Iterator[Browsing]:
    b = Browsing(browser, server)
    yield b
    for context in b.contexts:
        context.close()
    assert not b.problems, "\n".join(b.problems)


# ---- sessions and languages ---------------------------------------------------------------------


def test_login_errors_then_dashboard_and_logout(browsing: Browsing) -> None:
    page = browsing.page()
    page.goto("/ui/")
    expect(page).to_have_url(re.compile(r"/ui/login\?next=/ui/$"))
    expect(page.locator("#username")).to_be_focused()  # autofocus
    page.locator("#username").fill("admin")
    page.locator("#password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong user name or password")
    expect(page.locator("#username")).to_have_value("admin")
    expect(page.locator("#password")).to_have_value("")

    page.locator("#password").fill(PASSWORD)
    page.locator("#password").press("Enter")
    expect(page).to_have_url(re.compile(r"/ui/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    expect(page.locator(".who")).to_contain_text("admin")

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/ui/login$"))
    page.goto("/ui/queue")
    expect(page).to_have_url(re.compile(r"/ui/login\?next=/ui/queue$"))
    # Logging in again returns to the page asked for.
    page.locator("#username").fill("reviewer")
    page.locator("#password").fill(PASSWORD)
    page.locator("#password").press("Enter")
    expect(page).to_have_url(re.compile(r"/ui/queue$"))


def test_korean_by_default_for_a_korean_browser_and_the_switch_sticks(browsing: Browsing) -> None:
    english = browsing.page(locale=EN)
    english.goto("/ui/login")
    expect(english.locator("html")).to_have_attribute("lang", "en")
    expect(english.get_by_role("heading", level=1)).to_have_text("Log in")

    page = browsing.page(locale=KO)
    page.goto("/ui/login")
    expect(page.locator("html")).to_have_attribute("lang", "ko")
    expect(page.get_by_role("heading", level=1)).to_have_text("로그인")
    login(page, "admin")
    expect(page.get_by_role("heading", level=1)).to_have_text("대시보드")

    page.goto("/ui/queue?status=&verdict=captured")
    switch = page.get_by_role("link", name="English")
    expect(switch).to_have_attribute("lang", "en")
    switch.click()
    expect(page).to_have_url(re.compile(r"/ui/queue\?status=&verdict=captured$"))  # same page
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", level=1)).to_have_text("Review queue")
    page.get_by_role("link", name="Elections").click()  # sticks: the cookie
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", level=1)).to_have_text("Election calendar")
    page.get_by_role("link", name="한국어").click()
    expect(page.locator("html")).to_have_attribute("lang", "ko")
    expect(page.get_by_role("heading", level=1)).to_have_text("선거 일정")


# ---- the review queue and the item page ---------------------------------------------------------


def _apply(page: Page, query: str) -> None:
    """Submit the queue's filters and wait for the page they lead to."""
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r"/ui/queue\?" + re.escape(query) + "$"))


def _queue_names(page: Page) -> list[str]:
    return page.locator("table.queue tbody tr[data-row] td:nth-child(2) a").all_text_contents()


def test_queue_filters(browsing: Browsing, shots: Path) -> None:
    page = browsing.page("reviewer")
    page.get_by_role("link", name="Review queue").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Review queue")
    # The default filter: everything still to review (the demo's election case is escalated).
    expect(page.locator("#f-status")).to_have_value("open")
    assert "candidate-rally.jpg" in _queue_names(page)
    assert "holiday.jpg" not in _queue_names(page)
    shoot(page, shots, "queue-en")

    page.get_by_label("Status").select_option("")
    _apply(page, "status=&verdict=&label=&q=")
    names = _queue_names(page)
    assert len(names) >= 8 and {"holiday.jpg", "camera-capture.jpg"} <= set(names)

    page.get_by_label("Verdict").select_option("captured")
    _apply(page, "status=&verdict=captured&label=&q=")
    expect(page.locator("#f-verdict")).to_have_value("captured")
    assert _queue_names(page) == ["camera-capture.jpg"]

    page.get_by_label("Verdict").select_option("")
    page.get_by_label("Search").fill("lighthouse")
    _apply(page, "status=&verdict=&label=&q=lighthouse")
    assert _queue_names(page) == ["webui-render.jpg"]

    page.get_by_label("Search").fill("")
    page.get_by_label("Election-related only").check()
    _apply(page, "status=&verdict=&label=&q=&election=1")
    assert _queue_names(page) == ["candidate-rally.jpg"]
    expect(page.locator("table.queue tbody")).to_contain_text("ban window")

    page.get_by_label("Election-related only").uncheck()
    page.get_by_label("Search").fill("no such upload anywhere")
    _apply(page, "status=&verdict=&label=&q=no+such+upload+anywhere")
    expect(page.locator(".empty")).to_have_text("No items match")

    page.get_by_label("Search").fill("")
    page.get_by_label("Status").select_option("no-signal")
    _apply(page, "status=no-signal&verdict=&label=&q=")
    badges = page.locator("table.queue tbody tr td:nth-child(5)").all_text_contents()
    assert badges and all(b.strip() == "no signal" for b in badges)


def _focus_left_dialog(page: Page) -> None:
    # Chromium hands focus back from a closed dialog a moment later; keys before that go to it.
    page.wait_for_function(
        "() => !document.getElementById('shortcuts').contains(document.activeElement)"
    )


def test_queue_and_item_keyboard_shortcuts(browsing: Browsing) -> None:
    page = browsing.page("reviewer")
    page.goto("/ui/queue?status=")
    rows = page.locator("table.queue tbody tr[data-row]")
    assert rows.count() >= 3

    page.keyboard.press("?")
    dialog = page.locator("dialog#shortcuts")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading")).to_have_text("Keyboard shortcuts")
    page.keyboard.press("j")  # ignored while the dialog is open
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    _focus_left_dialog(page)
    expect(page.locator("tr.selected")).to_have_count(0)

    page.keyboard.press("/")
    expect(page.locator("#f-q")).to_be_focused()
    page.keyboard.type("jk")  # typing in a field is just typing
    expect(page.locator("#f-q")).to_have_value("jk")
    expect(page.locator("tr.selected")).to_have_count(0)
    page.locator("#f-q").fill("")
    page.locator("h1").click()  # leave the field

    page.keyboard.press("j")
    expect(rows.nth(0)).to_have_class(re.compile(r"\bselected\b"))
    expect(rows.nth(0)).to_have_attribute("aria-current", "true")
    page.keyboard.press("j")
    page.keyboard.press("j")
    expect(rows.nth(2)).to_have_class(re.compile(r"\bselected\b"))
    page.keyboard.press("k")
    second = rows.nth(1)
    expect(second).to_have_class(re.compile(r"\bselected\b"))
    expect(rows.nth(2)).not_to_have_attribute("aria-current", "true")
    expect(second.locator("a")).to_be_focused()
    name = second.locator("a").inner_text()
    href = second.get_attribute("data-href")
    assert href
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(re.escape(href) + "$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(name)

    page.keyboard.press("e")
    expect(page.get_by_role("radio", name="Escalate (e)")).to_be_checked()
    expect(page.locator("#reason")).to_be_focused()
    page.keyboard.type("Looks staged: keyboard review")
    page.keyboard.press("Control+Enter")
    expect(page).to_have_url(re.compile(re.escape(href) + r"\?saved=1$"))
    expect(page.get_by_role("status")).to_have_text("Saved")
    expect(page.locator("h1 .badge.s-escalated")).to_have_text("escalated")
    entry = page.locator("ol.history li[data-action=escalate]").last
    expect(entry).to_contain_text("Looks staged: keyboard review")
    expect(entry).to_contain_text("user:reviewer")

    page.keyboard.press("r")  # relabel shows the new-label fields and focuses the first
    expect(page.locator("#label_ko")).to_be_visible()
    expect(page.locator("#label_ko")).to_be_focused()
    page.locator("h1").click()
    page.keyboard.press("c")
    expect(page.locator("#label_ko")).to_be_hidden()

    page.locator("h1").click()
    page.keyboard.press("u")
    expect(page).to_have_url(re.compile(r"/ui/queue$"))

    # Single-key shortcuts can be turned off (WCAG 2.1.4), from the footer's button.
    page.get_by_role("button", name="Press ? for keyboard shortcuts").click()
    expect(dialog).to_be_visible()
    page.get_by_label("Turn off single-key shortcuts").check()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    _focus_left_dialog(page)
    page.reload()
    page.locator("h1").click()
    page.keyboard.press("j")
    page.keyboard.press("?")
    expect(dialog).to_be_hidden()
    expect(page.locator("tr.selected")).to_have_count(0)


def _open_item(page: Page, name: str) -> None:
    page.goto(f"/ui/queue?status=&q={name}")
    page.get_by_role("link", name=name, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(name)


def test_item_page_shows_the_evidence(browsing: Browsing, shots: Path) -> None:
    page = browsing.page("admin")
    _open_item(page, "reposted-screenshot.jpg")
    preview = page.get_by_role("img", name=re.compile(r"Preview: reposted-screenshot\.jpg"))
    expect(preview).to_be_visible()
    assert preview.evaluate("img => img.complete && img.naturalWidth > 100")
    expect(page.locator("h1 .badge.v-ai-generated")).to_have_text("AI-generated")
    expect(page.locator("ul.labels")).to_contain_text("AI-generated")

    signals = page.locator("table.signals tbody tr")
    watermark = signals.filter(has_text="pyosi-watermark")
    expect(watermark).to_have_count(1)
    expect(watermark).to_contain_text("credentials recovered from watermark")
    expect(watermark).to_contain_text("false-alarm probability")
    details = watermark.locator("td > details")
    expect(details.locator(".tree").first).to_be_hidden()
    details.locator("> summary").click()
    expect(details.locator(".tree").first).to_be_visible()

    section = page.locator("section[aria-labelledby=manifest-h]")
    expect(section).to_contain_text("The file carries no C2PA credentials")
    expect(section.get_by_role("heading", name="Credentials recovered from the watermark"))
    recovered = section.locator(".manifest.recovered")
    expect(recovered).to_contain_text("content_id")
    expect(recovered).to_contain_text("trainedAlgorithmicMedia")
    manifest = recovered.locator("details:has(> summary .k:text-is('manifest'))")
    expect(manifest).to_have_attribute("open", "")
    shoot(page, shots, "item-stripped-en")

    # A signed camera capture: its C2PA manifest as a tree that opens and closes.
    _open_item(page, "camera-capture.jpg")
    tree = page.locator("section[aria-labelledby=manifest-h] > .manifest")
    expect(tree).to_contain_text("state")
    expect(tree).to_contain_text("c2pa.created")
    actions = tree.locator("details:has(> summary .k:text-is('actions'))")
    expect(actions.locator("text=c2pa.created")).to_be_visible()
    actions.locator("> summary").click()
    expect(actions.locator("text=c2pa.created")).to_be_hidden()
    actions.locator("> summary").focus()
    page.keyboard.press("Enter")  # disclosure works from the keyboard too
    expect(actions.locator("text=c2pa.created")).to_be_visible()
    expect(page.locator("table.signals")).to_contain_text("c2pa")
    shoot(page, shots, "item-c2pa-en")


def test_decision_errors_keep_the_form(browsing: Browsing) -> None:
    page = browsing.page("reviewer")
    _open_item(page, "stock-ai.jpg")
    page.get_by_role("radio", name="Relabel (r)").check()
    expect(page.locator("#label_ko")).to_be_visible()
    page.locator("#label_ko").fill("AI 합성")
    page.locator("#reason").fill("wording")
    page.get_by_role("button", name="Record decision").click()
    expect(page.get_by_role("alert")).to_contain_text("Korean and English")
    expect(page.get_by_role("radio", name="Relabel (r)")).to_be_checked()
    expect(page.locator("#label_ko")).to_have_value("AI 합성")
    expect(page.locator("#label_ko")).to_be_visible()
    page.locator("#label_en").fill("AI composite")
    page.get_by_role("button", name="Record decision").click()
    expect(page.get_by_role("status")).to_have_text("Saved")
    expect(page.locator("ol.history li[data-action=relabel]")).to_contain_text("wording")


# ---- dashboard, elections, policy ---------------------------------------------------------------


def test_dashboard_chart(browsing: Browsing, shots: Path) -> None:
    for locale, title in (
        (EN, "Uploads per day by verdict, last 30 days"),
        (KO, "최근 30일 판정별 업로드 수"),
    ):
        page = browsing.page("admin", locale=locale)
        chart = page.get_by_role("img", name=title)
        expect(chart).to_be_visible()
        assert chart.evaluate("e => e.tagName.toLowerCase()") == "svg"
        expect(chart.locator("title").first).to_have_text(title)
        assert chart.locator("rect.bar").count() >= 1
        expect(page.locator("ul.legend li")).to_have_count(4)
        total = int(page.locator("[data-count=total]").inner_text())
        assert total >= 8
        shoot(page, shots, f"dashboard-{locale[:2]}")


def test_elections_calendar(browsing: Browsing, shots: Path) -> None:
    for locale, in_force in ((KO, "진행 중"), (EN, "in force")):
        page = browsing.page("admin", locale=locale)
        page.goto("/ui/elections")
        row = page.locator(f"tr[data-election={demo.DEMO_ELECTION}]")
        expect(row).to_have_class(re.compile(r"\bstate-active\b"))
        expect(row.locator(".badge.state")).to_have_text(in_force)
        shoot(page, shots, f"elections-{locale[:2]}")

    form = page.locator("form[action='/ui/elections']")
    form.get_by_label("Identifier").fill("2032-browser-test")
    form.get_by_label("Election day").fill("2032-05-05")
    form.get_by_label("Name (Korean)").fill("브라우저 시험 선거")
    form.get_by_label("Name (English)").fill("Browser test election")
    form.get_by_label("Kind").select_option("local")
    form.get_by_role("button", name="Add").click()
    added = page.locator("tr[data-election='2032-browser-test']")
    expect(added).to_contain_text("Browser test election")
    expect(added.locator(".badge.state")).to_have_text("upcoming")
    expect(added).to_contain_text("2032-02-05 – 2032-05-05")  # 90 days before, through the day

    # The browser refuses a malformed identifier itself …
    form.get_by_label("Identifier").fill("Not A Slug")
    assert form.get_by_label("Identifier").evaluate("e => !e.checkValidity()")
    # … and the server a duplicate one, keeping what was typed.
    form.get_by_label("Identifier").fill("2032-browser-test")
    form.get_by_label("Election day").fill("2032-06-06")
    form.get_by_label("Name (Korean)").fill("중복")
    form.get_by_label("Name (English)").fill("Duplicate")
    form.get_by_role("button", name="Add").click()
    expect(page.get_by_role("alert")).to_contain_text("already exists")
    expect(form.get_by_label("Name (English)")).to_have_value("Duplicate")
    expect(form.get_by_label("Election day")).to_have_value("2032-06-06")

    page.once("dialog", lambda d: d.accept())
    added.get_by_role("button", name=re.compile("Delete")).click()
    expect(page.locator("tr[data-election='2032-browser-test']")).to_have_count(0)


def test_policy_editor(browsing: Browsing, shots: Path) -> None:
    page = browsing.page("admin")
    page.get_by_role("link", name="Policy").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Policy")
    in_force = int(re.search(r"version (\d+)", page.locator("main").inner_text()).group(1))  # type: ignore[union-attr]
    editor = page.get_by_label("Edit the policy (TOML)")
    text = editor.input_value()
    assert re.search(rf"(?m)^version = {in_force + 1}$", text), "the editor offers the next version"
    shoot(page, shots, "policy-en")

    editor.fill(text.replace('verdict = "ai-generated"', 'verdict = "maybe"', 1))
    page.get_by_role("button", name="Check only").click()
    expect(page.get_by_role("alert")).to_contain_text("self_declared.verdict: unknown value")
    expect(editor).to_have_attribute("aria-invalid", "true")

    editor.fill("version = [")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert")).to_contain_text("not valid TOML")
    expect(editor).to_have_value("version = [")  # the text is kept to fix

    editor.fill(text)
    page.get_by_role("button", name="Check only").click()
    expect(page.get_by_role("status")).to_have_text(f"The policy is valid (version {in_force + 1})")
    page.get_by_label("What changed").fill("browser test: same rules, next version")
    page.get_by_role("button", name="Save").click()
    expect(page).to_have_url(re.compile(r"/ui/policy\?saved=1$"))
    expect(page.get_by_role("status")).to_have_text("Saved")
    expect(page.locator("main")).to_contain_text(f"In force: version {in_force + 1}")
    first = page.locator("table tbody tr").first
    expect(first.locator("td").nth(0)).to_have_text(str(in_force + 1))
    expect(first).to_contain_text("user:admin")
    expect(first).to_contain_text("browser test: same rules, next version")
    expect(editor).to_have_value(re.compile(rf"^version = {in_force + 2}$", re.MULTILINE))


# ---- partners, webhooks, scans, audit -----------------------------------------------------------


def test_partner_keys(browsing: Browsing) -> None:
    page = browsing.page("admin")
    page.get_by_role("link", name="Partner keys").click()
    key = WatermarkKey.generate()
    page.get_by_label("Partner name").fill("Example AI")
    page.get_by_label(re.compile(r"^Key \(")).fill("not a key")
    page.get_by_role("button", name="Add").click()
    expect(page.get_by_role("alert")).to_contain_text("watermark key")

    page.get_by_label("Partner name").fill("Example AI")
    page.get_by_label(re.compile(r"^Key \(")).fill(json.dumps(json.loads(key.to_json()), indent=2))
    page.get_by_role("button", name="Add").click()
    row = page.locator(f"tr[data-key='{key.id}']")
    expect(row).to_contain_text("Example AI")
    assert key.to_json() not in page.content()  # the secret is never shown back

    page.once("dialog", lambda d: d.accept())
    row.get_by_role("button", name="Revoke Example AI").click()
    expect(row.locator(".badge")).to_have_text("revoked")


def test_webhooks_secret_once_and_delivery_log(browsing: Browsing, receiver: Receiver) -> None:
    page = browsing.page("admin")
    page.get_by_role("link", name="Webhooks").click()
    page.get_by_label("URL").fill(receiver.url)
    page.get_by_label("Description").fill("browser test receiver")
    page.get_by_role("button", name="Add").click()
    secret = page.locator("code[data-secret]")
    expect(secret).to_have_text(re.compile(r"^whsec_"))
    value = secret.inner_text()
    expect(page.locator("table").first).to_contain_text(receiver.url)
    page.goto("/ui/webhooks")
    expect(page.locator("code[data-secret]")).to_have_count(0)
    assert value not in page.content()

    # An event: a decision on an item; the worker delivers it, and the log says so.
    _open_item(page, "holiday.jpg")
    page.get_by_role("radio", name="Escalate (e)").check()
    page.locator("#reason").fill("webhook check")
    page.get_by_role("button", name="Record decision").click()
    expect(page.get_by_role("status")).to_have_text("Saved")
    deadline = time.monotonic() + 30
    delivered = page.locator("table.deliveries tr.d-delivered")
    while time.monotonic() < deadline:
        page.goto("/ui/webhooks")
        if delivered.count():
            break
        time.sleep(0.5)
    expect(delivered.first).to_contain_text("item.escalated")
    assert any(json.loads(body).get("type", body) for _, body in receiver.received)

    toggle = page.get_by_role("button", name=f"Disable: {receiver.url}")
    toggle.click()
    expect(page.get_by_role("button", name=f"Enable: {receiver.url}")).to_be_visible()


def test_scan_an_upload(browsing: Browsing, tmp_path: Path) -> None:
    page = browsing.page("admin")
    page.get_by_role("link", name="Scan an upload").click()
    upload = tmp_path / "plain-upload.jpg"
    upload.write_bytes(jpeg())
    page.get_by_label("File").set_input_files(str(upload))
    page.get_by_label("Post text").fill("browser upload")
    page.get_by_role("button", name="Scan").click()
    expect(page).to_have_url(re.compile(r"/ui/items/[0-9a-f]+$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("plain-upload.jpg")
    expect(page.locator("h1 .badge.v-no-signal")).to_have_text("no signal")


# ---- roles --------------------------------------------------------------------------------------


def test_roles_see_only_what_they_may(browsing: Browsing) -> None:
    page = browsing.page("reviewer")
    nav = page.get_by_role("navigation", name="Main menu")
    for allowed in ("Dashboard", "Review queue", "Scan an upload", "Elections", "Policy"):
        expect(nav.get_by_role("link", name=allowed, exact=True)).to_be_visible()
    for admin_only in ("Partner keys", "Webhooks", "Audit log", "Reports"):
        expect(nav.get_by_role("link", name=admin_only)).to_have_count(0)

    page.get_by_role("link", name="Policy").click()
    expect(page.locator("pre.code")).to_contain_text("version =")  # read-only
    expect(page.locator("textarea")).to_have_count(0)
    # A hand-made form with the session's own token still cannot edit the policy.
    page.evaluate(
        """() => {
            const f = document.createElement("form");
            f.method = "post"; f.action = "/ui/policy";
            const csrf = document.querySelector("[name=csrf_token]").value;
            for (const [k, v] of [["text", "version = 999"], ["csrf_token", csrf]]) {
                const i = document.createElement("input");
                i.type = "hidden"; i.name = k; i.value = v; f.appendChild(i);
            }
            document.body.appendChild(f); f.submit();
        }"""
    )
    expect(page.get_by_role("heading", level=1)).to_have_text("Error 403")
    expect(page.get_by_role("alert")).to_contain_text("may not write-policy")
    page.goto("/ui/partners")
    expect(page.get_by_role("heading", level=1)).to_have_text("Error 403")

    auditor = browsing.page("auditor")
    nav = auditor.get_by_role("navigation", name="Main menu")
    nav.get_by_role("link", name="Reports").click()
    expect(auditor.get_by_role("heading", level=1)).to_have_text("Election reports")
    start = auditor.get_by_label("From").input_value()
    end = auditor.get_by_label("To").input_value()
    assert start < end
    with auditor.expect_download() as download:
        auditor.get_by_role("button", name="Download CSV").click()
    assert download.value.suggested_filename.endswith(".csv")
    report = auditor.request.get(f"/v1/reports/elections?from={start}&to={end}&format=json")
    assert report.ok
    items = report.json()["items"]
    assert any(i.get("filename") == "candidate-rally.jpg" for i in items), items
    expect(nav.get_by_role("link", name="Partner keys")).to_have_count(0)
    auditor.goto("/ui/queue?status=")
    expect(auditor.locator("table.queue")).to_be_visible()
    _open_item(auditor, "candidate-rally.jpg")
    expect(auditor.locator("form[data-decide]")).to_have_count(0)  # reads, does not decide


# ---- accessibility ------------------------------------------------------------------------------

#: Runs in the page: what a person with a screen reader or a keyboard would trip over.
A11Y_SCRIPT = """() => {
  const problems = [];
  const visible = (e) => {
    const s = getComputedStyle(e), r = e.getBoundingClientRect();
    return s.visibility !== "hidden" && s.display !== "none" && r.width > 1 && r.height > 1;
  };
  const text = (e) => (e ? (e.textContent || "").trim() : "");
  const name = (e) => {
    if (e.getAttribute("aria-label")) return e.getAttribute("aria-label").trim();
    const by = e.getAttribute("aria-labelledby");
    if (by) return by.split(/\\s+/).map((id) => text(document.getElementById(id))).join(" ").trim();
    if (e.labels && e.labels.length) return Array.from(e.labels).map(text).join(" ").trim();
    if (e.tagName === "IMG") return (e.getAttribute("alt") || "").trim();
    if (e.tagName === "BUTTON" || e.tagName === "A" || e.tagName === "SUMMARY") return text(e);
    return (e.getAttribute("title") || "").trim();
  };
  const describe = (e) => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") +
    (e.name ? "[name=" + e.name + "]" : "") + " '" + text(e).slice(0, 40) + "'";

  if (!/^(ko|en)$/.test(document.documentElement.lang)) problems.push("html has no lang");
  if (!document.title.trim()) problems.push("no title");
  const skip = document.querySelector("a.skip[href='#main']");
  if (!skip || !document.getElementById("main")) problems.push("no skip link to #main");
  if (document.querySelectorAll("h1").length !== 1) problems.push("not exactly one h1");
  const ids = {};
  for (const e of document.querySelectorAll("[id]")) {
    if (ids[e.id]) problems.push("duplicate id " + e.id);
    ids[e.id] = true;
  }
  for (const e of document.querySelectorAll("input, select, textarea")) {
    if (e.type === "hidden" || !visible(e)) continue;
    if (!name(e)) problems.push("no label: " + describe(e));
  }
  for (const e of document.querySelectorAll("button, a[href], summary")) {
    if (visible(e) && !name(e)) problems.push("no accessible name: " + describe(e));
  }
  for (const e of document.querySelectorAll("img")) {
    if (!e.hasAttribute("alt")) problems.push("img without alt: " + e.src);
    else if (!e.alt.trim() && e.getAttribute("role") !== "presentation")
      problems.push("img with empty alt: " + e.src);
  }
  for (const e of document.querySelectorAll("svg[role=img]")) {
    if (!name(e)) problems.push("svg image without a name");
  }
  for (const e of document.querySelectorAll("table")) {
    if (!e.querySelector("th")) problems.push("table without headers");
  }
  return problems;
}"""

#: Contrast (WCAG 2.x relative luminance) of every visible text against what is behind it.
CONTRAST_SCRIPT = """() => {
  const parse = (c) => {
    const m = c.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return null;
    const p = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const over = (top, bottom) => {
    const a = top[3];
    return [0, 1, 2].map((i) => top[i] * a + bottom[i] * (1 - a)).concat([1]);
  };
  const background = (e) => {
    const layers = [];
    for (let n = e; n && n.nodeType === 1; n = n.parentElement) {
      const c = parse(getComputedStyle(n).backgroundColor);
      if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
    }
    let bg = [255, 255, 255, 1];
    for (let i = layers.length - 1; i >= 0; i--) bg = over(layers[i], bg);
    return bg;
  };
  const lum = (c) => {
    const [r, g, b] = c.slice(0, 3).map((v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const ratio = (a, b) => {
    const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
    return (x + 0.05) / (y + 0.05);
  };
  const out = [];
  const seen = new Set();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const e = node.parentElement;
    if (!node.textContent.trim() || !e || seen.has(e) || e.closest("svg, dialog:not([open])"))
      continue;
    seen.add(e);
    const s = getComputedStyle(e), r = e.getBoundingClientRect();
    if (s.visibility === "hidden" || s.display === "none" || r.width <= 1 || r.height <= 1)
      continue;
    const fg = over(parse(s.color), background(e));
    const value = ratio(fg, background(e));
    out.push({ text: node.textContent.trim().slice(0, 30), tag: e.tagName, cls: e.className,
               ratio: Math.round(value * 100) / 100, color: s.color,
               bg: "rgb(" + background(e).slice(0, 3).join(",") + ")" });
  }
  return out;
}"""

#: The focus ring of the focused element: its style and its contrast with what surrounds it.
FOCUS_SCRIPT = """() => {
  const e = document.activeElement;
  if (!e || e === document.body) return null;
  const s = getComputedStyle(e);
  const parse = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = (c) => {
    const [r, g, b] = c.slice(0, 3).map((v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  // What the ring is drawn over: the element found just outside the focused one's box.
  const r = e.getBoundingClientRect();
  const gap = parseFloat(s.outlineOffset) + parseFloat(s.outlineWidth) / 2;
  const points = [[r.right + gap, r.top + r.height / 2], [r.left - gap, r.top + r.height / 2],
                  [r.left + r.width / 2, r.bottom + gap], [r.left + r.width / 2, r.top - gap]];
  let under = e.parentElement;
  for (const [x, y] of points) {
    if (x < 0 || y < 0 || x >= innerWidth || y >= innerHeight) continue;
    const found = document.elementsFromPoint(x, y).find((n) => n !== e && !e.contains(n));
    if (found) { under = found; break; }
  }
  let bg = [255, 255, 255];
  for (let n = under; n; n = n.parentElement) {
    const c = parse(getComputedStyle(n).backgroundColor);
    if (c.length >= 3 && (c.length === 3 || c[3] > 0.5)) { bg = c; break; }
  }
  const ring = parse(s.outlineColor);
  const [x, y] = [lum(ring), lum(bg)].sort((p, q) => q - p);
  return { tag: e.tagName, text: (e.textContent || e.name || "").trim().slice(0, 30),
           style: s.outlineStyle, width: parseFloat(s.outlineWidth),
           ratio: (x + 0.05) / (y + 0.05),
           visible: e.matches(":focus-visible") || e.matches(":focus-within") };
}"""

A11Y_PAGES = [
    "/ui/",
    "/ui/queue?status=",
    "/ui/items/{item}",
    "/ui/scan",
    "/ui/elections",
    "/ui/policy",
    "/ui/reports",
    "/ui/partners",
    "/ui/webhooks",
    "/ui/audit",
]


def test_accessibility_labels_alt_text_lang_skip_link(browsing: Browsing, shots: Path) -> None:
    anonymous = browsing.page(locale=KO)
    anonymous.goto("/ui/login")
    problems = {"/ui/login": anonymous.evaluate(A11Y_SCRIPT)}
    for locale in (EN, KO):
        page = browsing.page("admin", locale=locale)
        _open_item(page, "reposted-screenshot.jpg")
        item = page.url.rsplit("/", 1)[1]
        for path in A11Y_PAGES:
            page.goto(path.format(item=item))
            if locale == KO and path in ("/ui/queue?status=", "/ui/items/{item}", "/ui/policy"):
                shoot(page, shots, f"{path.split('/')[2].split('?')[0]}-ko")
            found = page.evaluate(A11Y_SCRIPT)
            if found:
                problems[f"{locale} {path}"] = found
    problems = {k: v for k, v in problems.items() if v}
    assert not problems, json.dumps(problems, indent=1, ensure_ascii=False)


def test_skip_link_and_visible_focus(browsing: Browsing) -> None:
    page = browsing.page("admin")
    page.goto("/ui/queue")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    box = skip.bounding_box()
    assert box and box["x"] >= 0 and box["y"] >= 0 and box["width"] > 10  # on screen now
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()

    failures = []
    for path in ("/ui/queue", "/ui/elections", "/ui/policy"):
        page.goto(path)
        for _ in range(25):  # header, navigation and into the page
            page.keyboard.press("Tab")
            ring = page.evaluate(FOCUS_SCRIPT)
            if ring is None:
                continue
            if not (
                ring["visible"]
                and ring["style"] != "none"
                and ring["width"] >= 2
                and ring["ratio"] >= 3
            ):
                failures.append((path, ring))
    assert not failures, json.dumps(failures, indent=1)


def test_text_and_button_contrast(browsing: Browsing) -> None:
    low: list[dict[str, Any]] = []
    for locale in (EN, KO):
        page = browsing.page("admin", locale=locale)
        _open_item(page, "candidate-rally.jpg")
        pages = [page.url, *(p for p in A11Y_PAGES if "{" not in p)]
        for path in pages:
            page.goto(path)
            for found in page.evaluate(CONTRAST_SCRIPT):
                if found["ratio"] < 4.5:
                    low.append({"page": path, **found})
    anonymous = browsing.page()
    anonymous.goto("/ui/login?next=/ui/")
    anonymous.get_by_role("button", name="Log in").click()  # the required-field bubble: no page
    anonymous.locator("#username").fill("x")
    anonymous.locator("#password").fill("wrong password")
    anonymous.get_by_role("button", name="Log in").click()
    for found in anonymous.evaluate(CONTRAST_SCRIPT):
        if found["ratio"] < 4.5:
            low.append({"page": "/ui/login", **found})
    assert not low, json.dumps(low[:20], indent=1, ensure_ascii=False)


def test_audit_log_chain_and_entries(browsing: Browsing) -> None:
    page = browsing.page("admin")
    page.goto("/ui/elections")
    form = page.locator("form[action='/ui/elections']")
    form.get_by_label("Identifier").fill("audit-check")
    form.get_by_label("Election day").fill("2033-03-03")
    form.get_by_label("Name (Korean)").fill("감사 확인")
    form.get_by_label("Name (English)").fill("Audit check")
    form.get_by_role("button", name="Add").click()
    expect(page.locator("tr[data-election='audit-check']")).to_have_count(1)

    page.get_by_role("link", name="Audit log").click()
    chain = page.locator("[data-chain]")
    expect(chain).to_have_attribute("data-chain", "ok")
    expect(chain).to_contain_text("Hash chain intact")
    rows = page.locator("table.audit tbody tr")
    first = rows.first
    expect(first).to_contain_text("election.add")
    expect(first).to_contain_text("audit-check")
    expect(first).to_contain_text("user:admin")
    log = page.locator("table.audit tbody").inner_text()
    # What the earlier tests did through the browser is there too.
    for action in ("login", "login.failed", "logout", "policy.update", "decision"):
        assert action in log, action
    first.locator("summary").click()
    expect(first.locator("pre")).to_contain_text('"name_en": "Audit check"')
