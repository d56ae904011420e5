"""The web UI's pages: thin shells over the same library functions as the API.

Every form carries the session's CSRF token; every page checks the role like the API does; a
visitor without a session is sent to the login page and back.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hmac
import secrets
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from pyosi.errors import PyosiError
from pyosi.policy.rules import ELECTION_KINDS, kst_today
from pyosi.service import audit, jobs, webhooks
from pyosi.service.api._deps import service
from pyosi.service.api.items import read_uploads, require_content, submit_batch, submit_upload
from pyosi.service.api.ops import set_session_cookie
from pyosi.service.app import SESSION_COOKIE
from pyosi.service.auth import AuthError, Permission, Principal, end_session, start_session
from pyosi.service.batches import is_archive
from pyosi.service.errors import InvalidRequestError
from pyosi.service.items import (
    DecisionAction,
    ItemStatus,
    UploadContext,
    add_decision,
    count_by_status,
    counts_by_day,
    get_item,
    list_items,
)
from pyosi.service.partners import (
    add_partner_key,
    list_partner_keys,
    parse_key,
    revoke_partner_key,
)
from pyosi.service.policies import (
    current_policy,
    current_version,
    delete_election,
    list_elections,
    policy_history,
    put_policy,
    save_election,
    validate_policy,
)
from pyosi.service.ui.render import LANG_COOKIE, LANGUAGES, chart_svg, page, translator
from pyosi.storage import reading

router = APIRouter(include_in_schema=False)
LOGIN_COOKIE = "pyosi_login"
_VERDICTS = ("ai-generated", "ai-edited", "captured", "no-signal")
_PREVIEWABLE = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})


class LoginRequiredError(Exception):
    """No session: the handler sends the browser to the login page."""

    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


def login_redirect(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequiredError)
    return RedirectResponse(f"/ui/login?next={quote(exc.next_path)}", status_code=303)


def _guard(request: Request, permission: Permission, csrf: str | None = None) -> Principal:
    svc = service(request)
    if svc.principal(request) is None:
        target = request.url.path if request.method == "GET" else "/ui/"
        if request.url.query and request.method == "GET":
            target += "?" + request.url.query
        raise LoginRequiredError(target)
    return svc.require(request, permission, csrf=csrf)


def _back(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never an open redirect to another host.

    Browsers read ``/\\host`` like ``//host`` and drop tabs and newlines from URLs, so a path
    with a backslash or a control character is refused too, not just ``//host`` and ``scheme:``.
    """
    if (
        not target
        or len(target) > 2000
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(ord(c) < 0x20 or ord(c) == 0x7F for c in target)
    ):
        return "/ui/"
    parts = urlsplit(target)
    return target if not parts.netloc and not parts.scheme else "/ui/"


# ---- sessions and language ----------------------------------------------------------------------


@router.get("/")
def root() -> RedirectResponse:
    return _back("/ui/")


def _login_page(
    request: Request, *, next_path: str, error: str | None, status: int = 200, username: str = ""
) -> HTMLResponse:
    # Login CSRF: the form posts back a token that only a page from this site could have read
    # (double submit: the same value in a SameSite=Strict cookie scoped to the login path).
    token = secrets.token_urlsafe(24)
    response = page(
        request, "login.html", status=status, next=_safe_next(next_path), error=error,
        username=username, login_token=token,
    )  # fmt: skip
    response.set_cookie(
        LOGIN_COOKIE, token, max_age=3600, httponly=True, samesite="strict", path="/ui/login",
        secure=service(request).settings.secure_cookies,
    )  # fmt: skip
    return response


@router.get("/ui/login")
def login_form(request: Request, next: str = "/ui/") -> HTMLResponse:
    return _login_page(request, next_path=next, error=None)


@router.post("/ui/login")
def login_submit(
    request: Request,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1000)],
    next: Annotated[str, Form(max_length=2000)] = "/ui/",
    login_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    svc = service(request)
    svc.limit_public(request)
    t = translator(_lang(request))
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not login_token or not expected or not hmac.compare_digest(login_token, expected):
        return _login_page(
            request, next_path=next, error=t("login.expired"), status=403, username=username
        )
    try:
        session = start_session(svc.db.engine, username, password)
    except AuthError:
        return _login_page(
            request, next_path=next, error=t("login.failed"), status=401, username=username
        )
    response = _back(_safe_next(next))
    set_session_cookie(svc, response, session)
    response.delete_cookie(LOGIN_COOKIE, path="/ui/login")
    return response


@router.post("/ui/logout")
def logout(request: Request, csrf_token: Annotated[str, Form()] = "") -> Response:
    svc = service(request)
    principal = svc.principal(request)
    if principal is not None:
        svc.require(request, Permission.READ_ELECTIONS, csrf=csrf_token)  # any role; checks CSRF
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            end_session(svc.db.engine, token)
    response = _back("/ui/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/ui/lang/{lang}")
def set_language(request: Request, lang: str, next: str = "/ui/") -> Response:
    response = _back(_safe_next(next))
    if lang in LANGUAGES:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax", path="/")
    return response


def _lang(request: Request) -> str:
    from pyosi.service.ui.render import language

    return language(request)


# ---- dashboard, queue, items --------------------------------------------------------------------


@router.get("/ui/", response_model=None)
def dashboard(request: Request) -> HTMLResponse | RedirectResponse:
    principal = _guard(request, Permission.READ_ELECTIONS)  # every role: the landing page
    if not principal.can(Permission.READ_ITEMS):
        # A role without items (a generator) lands on the first page it may see, not a 403.
        return _back("/ui/elections")
    engine = service(request).db.engine
    counts = count_by_status(engine)
    policy = current_policy(engine)
    now = dt.datetime.now(dt.UTC)
    days = policy.spec.window_days
    active = [e for e in policy.elections if e.in_window(now, days)]
    upcoming = [e for e in policy.elections if e.local_date(now) < e.window(days)[0]]
    t = translator(_lang(request))
    return page(
        request,
        "dashboard.html",
        counts=counts,
        total=sum(counts.values()),
        open=counts.get("needs-review", 0) + counts.get("escalated", 0),
        escalated=counts.get("escalated", 0),
        chart=chart_svg(counts_by_day(engine, days=30, now=now), t),
        active=[(e, e.window(days), (e.date - e.local_date(now)).days) for e in active],
        upcoming=upcoming[:1],
        window_days=days,
        statuses=[s.value for s in ItemStatus],
    )


@router.get("/ui/queue")
def queue(
    request: Request,
    status: str = "open",
    verdict: str = "",
    label: str = "",
    q: str = "",
    election: str = "",
    cursor: str = "",
) -> HTMLResponse:
    _guard(request, Permission.READ_ITEMS)
    statuses = [s.value for s in ItemStatus]
    if status not in ("open", "", *statuses):
        raise InvalidRequestError(f"unknown status {status!r}")
    result = list_items(
        service(request).db.engine,
        status=status or None,
        verdict=verdict or None,
        label=label or None,
        q=q[:200] or None,
        election=True if election == "1" else None,
        cursor=cursor or None,
        limit=50,
    )
    filters = {"status": status, "verdict": verdict, "label": label, "q": q, "election": election}
    return page(
        request,
        "queue.html",
        items=result.items,
        next_cursor=result.next_cursor,
        filters=filters,
        query={k: v for k, v in filters.items() if v},
        statuses=statuses,
        verdicts=_VERDICTS,
        labels=sorted(current_policy(service(request).db.engine).spec.labels),
        first_page=not cursor,
    )


@router.get("/ui/items/{item_id}")
def item_page(request: Request, item_id: str, saved: str = "") -> HTMLResponse:
    principal = _guard(request, Permission.READ_ITEMS)
    return _item(request, principal, item_id, saved=bool(saved))


def _item(
    request: Request,
    principal: Principal,
    item_id: str,
    *,
    saved: bool = False,
    error: str | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    item = get_item(service(request).db.engine, item_id)
    return page(
        request,
        "item.html",
        status=status,
        item=item,
        doc=item.to_json(),
        can_decide=principal.can(Permission.DECIDE),
        actions=[a.value for a in DecisionAction],
        previewable=item.scan.get("mime") in _PREVIEWABLE,
        saved=saved,
        error=error,
        form=form or {},
    )


@router.post("/ui/items/{item_id}/decisions")
def item_decide(
    request: Request,
    item_id: str,
    action: Annotated[str, Form(max_length=64)] = "",
    reason: Annotated[str, Form(max_length=5000)] = "",
    label_ko: Annotated[str, Form(max_length=200)] = "",
    label_en: Annotated[str, Form(max_length=200)] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    principal = _guard(request, Permission.DECIDE, csrf=csrf_token)
    engine = service(request).db.engine
    form = {"action": action, "reason": reason, "label_ko": label_ko, "label_en": label_en}
    try:
        chosen = DecisionAction(action)
    except ValueError:
        t = translator(_lang(request))
        return _item(request, principal, item_id, error=t("item.choose"), form=form, status=400)
    try:
        label = {"ko": label_ko, "en": label_en} if chosen is DecisionAction.RELABEL else None
        add_decision(engine, item_id, chosen, reason, actor=principal.name, label=label)
    except InvalidRequestError as e:
        return _item(request, principal, item_id, error=str(e), form=form, status=400)
    return _back(f"/ui/items/{item_id}?saved=1")


@router.get("/ui/scan")
def scan_form(request: Request) -> HTMLResponse:
    _guard(request, Permission.SCAN)
    return page(request, "scan.html", error=None, job=None)


@router.post("/ui/scan")
async def scan_submit(
    request: Request,
    file: Annotated[list[UploadFile], File()],
    post_text: Annotated[str, Form(max_length=20000)] = "",
    uploader_id: Annotated[str, Form(max_length=128)] = "",
    declared_ai: Annotated[str, Form()] = "",
    election_related: Annotated[str, Form()] = "",
    realistic: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    principal = _guard(request, Permission.SCAN, csrf=csrf_token)
    svc = service(request)
    context = UploadContext(
        post_text=post_text or None,
        uploader_id=uploader_id or None,
        declared_ai=declared_ai == "1" or None,
        election_related=election_related == "1" or None,
        realistic=realistic == "1" or None,
        language=_lang(request),
    )
    try:
        uploads = await read_uploads(svc, file)
        if len(uploads) > 1 or is_archive(uploads[0][1]):  # one job, an item per media file
            job_id = await submit_batch(svc, principal, uploads, context)
            return page(request, "scan.html", error=None, job=jobs.get_job(svc.db.engine, job_id))
        name, data = uploads[0]
        data = require_content(data)
        context = dataclasses.replace(context, filename=name)
        background = len(data) > svc.settings.async_bytes
        kind, value = await submit_upload(svc, principal, data, context, background=background)
    except PyosiError as e:
        return page(request, "scan.html", status=400, error=str(e), job=None)
    if kind == "job":
        return page(request, "scan.html", error=None, job=jobs.get_job(svc.db.engine, value))
    return _back(f"/ui/items/{value.id}")


# ---- elections and policy ------------------------------------------------------------------------


@router.get("/ui/elections")
def elections_page(request: Request) -> HTMLResponse:
    principal = _guard(request, Permission.READ_ELECTIONS)
    return _elections(request, principal, error=None)


def _elections(
    request: Request,
    principal: Principal,
    *,
    error: str | None,
    status: int = 200,
    form: dict[str, str] | None = None,
) -> HTMLResponse:
    engine = service(request).db.engine
    days = current_policy(engine).spec.window_days
    now = dt.datetime.now(dt.UTC)
    rows = []
    for e in list_elections(engine):
        start, end = e.election.window(days)
        today = e.election.local_date(now)
        state = "active" if start <= today <= end else ("past" if today > end else "upcoming")
        rows.append({"row": e, "start": start, "end": end, "state": state})
    return page(
        request,
        "elections.html",
        status=status,
        rows=rows,
        kinds=ELECTION_KINDS,
        can_edit=principal.can(Permission.WRITE_ELECTIONS),
        error=error,
        window_days=days,
        form=form or {},
    )


@router.post("/ui/elections")
def elections_add(
    request: Request,
    slug: Annotated[str, Form(max_length=200)] = "",
    date: Annotated[str, Form(max_length=200)] = "",
    name_ko: Annotated[str, Form(max_length=1000)] = "",
    name_en: Annotated[str, Form(max_length=1000)] = "",
    kind: Annotated[str, Form(max_length=200)] = "",
    note: Annotated[str, Form(max_length=5000)] = "",
    verify: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    principal = _guard(request, Permission.WRITE_ELECTIONS, csrf=csrf_token)
    form = {"slug": slug, "date": date, "name_ko": name_ko, "name_en": name_en, "kind": kind,
            "note": note, "verify": verify}  # fmt: skip
    fields: dict[str, Any] = {**form, "verify": verify == "1"}
    try:
        save_election(service(request).db.engine, fields, actor=principal.name)
    except PyosiError as e:
        return _elections(request, principal, error=str(e), status=400, form=form)
    return _back("/ui/elections")


@router.post("/ui/elections/{election_id}/delete")
def elections_delete(
    request: Request, election_id: int, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    principal = _guard(request, Permission.WRITE_ELECTIONS, csrf=csrf_token)
    delete_election(service(request).db.engine, election_id, actor=principal.name)
    return _back("/ui/elections")


@router.get("/ui/policy")
def policy_page(request: Request, saved: str = "") -> HTMLResponse:
    principal = _guard(request, Permission.READ_POLICY)
    engine = service(request).db.engine
    with reading(engine) as conn:
        version = current_version(conn)
    return _policy(request, principal, text=_bumped(version.text, version.version), error=None,
                   saved=bool(saved))  # fmt: skip


def _bumped(text: str, version: int) -> str:
    # The editor starts from the text in force with the next version number filled in.
    import re

    return re.sub(r"(?m)^version\s*=\s*\d+", f"version = {version + 1}", text, count=1)


def _policy(
    request: Request,
    principal: Principal,
    *,
    text: str,
    error: str | None,
    saved: bool = False,
    valid: str | None = None,
    comment: str = "",
    status: int = 200,
) -> HTMLResponse:
    engine = service(request).db.engine
    with reading(engine) as conn:
        in_force = current_version(conn)
    return page(
        request,
        "policy.html",
        status=status,
        text=text,
        in_force=in_force,
        history=policy_history(engine),
        can_edit=principal.can(Permission.WRITE_POLICY),
        error=error,
        saved=saved,
        valid=valid,
        comment=comment,
    )


@router.post("/ui/policy")
def policy_save(
    request: Request,
    text: Annotated[str, Form(max_length=500_000)],
    comment: Annotated[str, Form(max_length=2000)] = "",
    check_only: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    principal = _guard(request, Permission.WRITE_POLICY, csrf=csrf_token)
    engine = service(request).db.engine
    text = text.replace("\r\n", "\n")
    try:
        if check_only:
            policy = validate_policy(text)
            t = translator(_lang(request))
            return _policy(request, principal, text=text, error=None, comment=comment,
                           valid=f"{t('policy.valid')} (version {policy.version})")  # fmt: skip
        put_policy(engine, text, author=principal.name, comment=comment or None)
    except PyosiError as e:
        return _policy(request, principal, text=text, error=str(e), comment=comment, status=422)
    return _back("/ui/policy?saved=1")


# ---- partners, webhooks, audit, reports ---------------------------------------------------------


@router.get("/ui/partners")
def partners_page(request: Request) -> HTMLResponse:
    _guard(request, Permission.MANAGE_PARTNERS)
    return _partners(request, error=None)


def _partners(request: Request, *, error: str | None, status: int = 200) -> HTMLResponse:
    keys = list_partner_keys(service(request).db.engine)
    return page(request, "partners.html", status=status, keys=keys, error=error)


@router.post("/ui/partners")
def partners_add(
    request: Request,
    name: Annotated[str, Form(max_length=128)] = "",
    key: Annotated[str, Form(max_length=4000)] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    principal = _guard(request, Permission.MANAGE_PARTNERS, csrf=csrf_token)
    try:
        add_partner_key(service(request).db.engine, name, parse_key(key), actor=principal.name)
    except PyosiError as e:
        return _partners(request, error=str(e), status=400)
    return _back("/ui/partners")


@router.post("/ui/partners/{key_id}/revoke")
def partners_revoke(
    request: Request, key_id: str, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    principal = _guard(request, Permission.MANAGE_PARTNERS, csrf=csrf_token)
    revoke_partner_key(service(request).db.engine, key_id, actor=principal.name)
    return _back("/ui/partners")


@router.get("/ui/webhooks")
def webhooks_page(request: Request) -> HTMLResponse:
    _guard(request, Permission.MANAGE_WEBHOOKS)
    return _webhooks(request, error=None, secret=None)


def _webhooks(
    request: Request, *, error: str | None, secret: str | None, status: int = 200
) -> HTMLResponse:
    engine = service(request).db.engine
    return page(
        request,
        "webhooks.html",
        status=status,
        hooks=webhooks.list_webhooks(engine),
        deliveries=webhooks.list_deliveries(engine, limit=100),
        events=webhooks.EVENTS,
        error=error,
        secret=secret,
    )


@router.post("/ui/webhooks")
async def webhooks_add(request: Request) -> Response:
    form = await request.form()
    csrf = str(form.get("csrf_token", ""))
    principal = _guard(request, Permission.MANAGE_WEBHOOKS, csrf=csrf)
    events = [str(e) for e in form.getlist("events")]
    try:
        _hook, secret = webhooks.add_webhook(
            service(request).db.engine,
            str(form.get("url", "")).strip(),
            events,
            actor=principal.name,
            description=str(form.get("description", ""))[:500],
        )
    except PyosiError as e:
        return _webhooks(request, error=str(e), secret=None, status=400)
    return _webhooks(request, error=None, secret=secret)


@router.post("/ui/webhooks/{webhook_id}/active")
def webhooks_toggle(
    request: Request,
    webhook_id: int,
    active: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    principal = _guard(request, Permission.MANAGE_WEBHOOKS, csrf=csrf_token)
    webhooks.set_active(service(request).db.engine, webhook_id, active == "1", actor=principal.name)
    return _back("/ui/webhooks")


@router.post("/ui/webhooks/deliveries/{delivery_id}/retry")
def webhooks_retry(
    request: Request, delivery_id: int, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    principal = _guard(request, Permission.MANAGE_WEBHOOKS, csrf=csrf_token)
    webhooks.retry_delivery(service(request).db.engine, delivery_id, actor=principal.name)
    return _back("/ui/webhooks")


@router.get("/ui/audit")
def audit_page(request: Request, before: int | None = None) -> HTMLResponse:
    _guard(request, Permission.READ_AUDIT)
    engine = service(request).db.engine
    rows = audit.entries(engine, limit=100, before_id=before)
    return page(
        request,
        "audit.html",
        entries=rows,
        chain=audit.verify(engine),
        older=rows[-1].id if len(rows) == 100 else None,
    )


@router.get("/ui/reports")
def reports_page(request: Request) -> HTMLResponse:
    _guard(request, Permission.REPORTS)
    today = kst_today()
    return page(
        request,
        "reports.html",
        start=(today - dt.timedelta(days=89)).isoformat(),
        end=today.isoformat(),
    )
