"""Server-rendered pages: Jinja templates, the ko/en catalog and the language choice.

Korean is the default for browsers that ask for it (``Accept-Language: ko…``), English otherwise;
the ``pyosi_lang`` cookie, set by the switch in the header, overrides both.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from pyosi.policy.rules import KST

LANG_COOKIE = "pyosi_lang"
LANGUAGES = ("ko", "en")
_HERE = Path(str(resources.files("pyosi.service.ui")))
STATIC_DIR = _HERE / "static"
templates = Jinja2Templates(directory=_HERE / "templates")


@functools.cache
def catalog() -> Mapping[str, Mapping[str, Mapping[str, str]]]:
    """``catalog()[section][key][lang]``."""
    text = resources.files("pyosi.service.ui").joinpath("messages.toml").read_text("utf-8")
    return tomllib.loads(text)


def language(request: Request) -> str:
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in LANGUAGES:
        return chosen
    return negotiate(request.headers.get("accept-language", ""))


def negotiate(accept_language: str) -> str:
    """The best of ko/en for an ``Accept-Language`` header: the highest quality value wins, the
    earlier entry on a tie; English when the browser asks for neither."""
    offered: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")[:32]):
        tag, _, params = part.strip().lower().partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        lang = tag.strip().split("-")[0]
        if lang in LANGUAGES and q > 0:
            offered.append((q, -position, lang))
    return max(offered)[2] if offered else "en"


def translator(lang: str) -> Any:
    def t(key: str, **values: Any) -> str:
        section, _, name = key.partition(".")
        entry = catalog().get(section, {}).get(name)
        text = entry.get(lang, key) if entry else key
        return text.format(**values) if values else text

    return t


def wants_html(request: Request) -> bool:
    return request.url.path == "/" or request.url.path.startswith("/ui")


def _when(value: str | dt.datetime | None, lang: str = "en") -> str:
    """A timestamp in Korean time (the service's users and the election windows are there)."""
    if value is None:
        return ""
    at = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return at.astimezone(KST).strftime("%Y-%m-%d %H:%M KST")


def _pretty(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, default=str)


def _is_mapping(value: Any) -> bool:
    return isinstance(value, Mapping)


def _is_list(value: Any) -> bool:
    return isinstance(value, list | tuple)


def basis_text(basis: str, lang: str) -> str:
    """What a label rests on, in words (labels.toml's [basis]); unknown ids as they are."""
    from pyosi.policy.labels import basis_names

    return basis_names().get(basis, {}).get(lang, basis)


templates.env.filters["when"] = _when
templates.env.filters["basis"] = basis_text
templates.env.filters["pretty"] = _pretty
templates.env.tests["mapping_like"] = _is_mapping
templates.env.tests["list_like"] = _is_list


def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    lang = language(request)
    principal = getattr(request.state, "principal", None)
    base = {
        "request": request,
        "lang": lang,
        "t": translator(lang),
        "principal": principal if principal else None,
        "csrf": principal.csrf_token if principal else "",
        "nav": _nav(principal),
        "path": request.url.path,
        "switch_href": switch_href(request, "en" if lang == "ko" else "ko"),
    }
    return templates.TemplateResponse(request, template, {**base, **context}, status_code=status)


def switch_href(request: Request, lang: str) -> str:
    """The language switch: back to this very page (its query too) in the other language."""
    here = request.url.path
    if request.method == "GET" and request.url.query:
        here += "?" + request.url.query
    return f"/ui/lang/{lang}?next={quote(here, safe='')}"


def _nav(principal: Any) -> list[tuple[str, str]]:
    if not principal:
        return []
    from pyosi.service.auth import Permission

    links = [
        ("/ui/", "nav.dashboard", Permission.READ_ITEMS),
        ("/ui/queue", "nav.queue", Permission.READ_ITEMS),
        ("/ui/scan", "nav.scan", Permission.SCAN),
        ("/ui/elections", "nav.elections", Permission.READ_ELECTIONS),
        ("/ui/policy", "nav.policy", Permission.READ_POLICY),
        ("/ui/reports", "nav.reports", Permission.REPORTS),
        ("/ui/partners", "nav.partners", Permission.MANAGE_PARTNERS),
        ("/ui/webhooks", "nav.webhooks", Permission.MANAGE_WEBHOOKS),
        ("/ui/audit", "nav.audit", Permission.READ_AUDIT),
    ]
    return [(href, key) for href, key, perm in links if principal.can(perm)]


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    return page(request, "error.html", status=status, status_code=status, message=message)


def chart_svg(days: list[dict[str, Any]], t: Any) -> Markup:
    """A stacked bar chart of uploads per day by verdict, as inline SVG (no script needed)."""
    order = ("ai-generated", "ai-edited", "captured", "no-signal")
    width, height, pad_left, pad_bottom = 720, 220, 36, 28
    plot_w, plot_h = width - pad_left - 8, height - pad_bottom - 10
    top = max([sum(d["counts"].values()) for d in days] + [1])
    bar_w = plot_w / max(len(days), 1)
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="chart-title chart-desc" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="chart-title">{_esc(t("dashboard.chart_title"))}</title>',
        f'<desc id="chart-desc">{_esc(t("dashboard.chart_desc"))}</desc>',
        f'<line class="axis" x1="{pad_left}" y1="{10 + plot_h}" x2="{width - 8}" '
        f'y2="{10 + plot_h}"/>',
        f'<text class="tick" x="{pad_left - 6}" y="16" text-anchor="end">{top}</text>',
        f'<text class="tick" x="{pad_left - 6}" y="{10 + plot_h}" text-anchor="end">0</text>',
    ]
    for i, d in enumerate(days):
        x = pad_left + i * bar_w + 1
        y = 10 + plot_h
        total = sum(d["counts"].values())
        for verdict in order:
            n = d["counts"].get(verdict, 0)
            if not n:
                continue
            h = plot_h * n / top
            y -= h
            label = f"{d['date']}: {t('verdict.' + verdict)} {n}"
            parts.append(
                f'<rect class="bar v-{verdict}" x="{x:.1f}" y="{y:.1f}" width="{bar_w - 2:.1f}" '
                f'height="{h:.1f}"><title>{_esc(label)}</title></rect>'
            )
        last = len(days) - 1
        # A tick a week and one on the last day, never two so close that they overlap.
        if i == last or (i % 7 == 0 and last - i >= 4):
            parts.append(
                f'<text class="tick" x="{x + bar_w / 2:.1f}" y="{height - 8}" '
                f'text-anchor="middle">{d["date"][5:]}</text>'
            )
        if total:
            parts.append(f'<text class="sr-only">{_esc(d["date"])}: {total}</text>')
    parts.append("</svg>")
    legend = "".join(
        f'<li><span class="swatch v-{v}" aria-hidden="true"></span>{_esc(t("verdict." + v))}</li>'
        for v in order
    )
    return Markup("".join(parts) + f'<ul class="legend">{legend}</ul>')


def _esc(text: str) -> str:
    return str(Markup.escape(text))
