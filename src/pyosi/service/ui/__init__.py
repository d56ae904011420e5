"""The web UI: server-rendered pages (Jinja), ko/en, no front-end build step.

Static files (one stylesheet, one small script for keyboard shortcuts) are served from
``/static``; the Content-Security-Policy allows no inline script.
"""

from __future__ import annotations

from pyosi.service.ui.render import STATIC_DIR, error_page, wants_html
from pyosi.service.ui.routes import LoginRequiredError, login_redirect, router

__all__ = [
    "STATIC_DIR",
    "LoginRequiredError",
    "error_page",
    "login_redirect",
    "router",
    "wants_html",
]
