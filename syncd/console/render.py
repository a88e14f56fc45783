"""Rendering a console page: templates, language, navigation, security headers.

Templates (syncd/console/templates/) are jinja2 through aiohttp-jinja2, with
autoescaping on for every `.html`: a value from a device is always text, never
markup (a task titled `<script>` shows those characters). Each page gets the
request's language and clock (syncd.console.i18n), the signed-in person, the
navigation their role may open, and the CSRF token of its forms.

Console answers carry their own Content-Security-Policy: scripts, styles and
images from syncd itself only, no inline script or style, forms posting only
to syncd, no framing. `Cache-Control: no-store` keeps admin data out of caches.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web

from syncd.auth.permissions import Permission, role_allows
from syncd.auth.principal import Principal
from syncd.console import csrf
from syncd.console.i18n import Speech, page_locale
from syncd.console.session import LANGUAGE_COOKIE
from syncd.web.keys import PRINCIPAL
from syncd.web.tenant import RESOLVED_TENANT

STATIC_DIR = Path(__file__).resolve().parent / "static"
CONSOLE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
PAGE_HEADERS = {"Content-Security-Policy": CONSOLE_CSP, "Cache-Control": "no-store"}

# The navigation: where, its label (a console.po msgid), the permission it needs.
NAV: tuple[tuple[str, str, Permission], ...] = (
    ("/console/inbox", "Conflict inbox", Permission.CONFLICTS_MANAGE),
    ("/console/devices", "Devices", Permission.CONFLICTS_MANAGE),
    ("/console/rejections", "Rejected changes", Permission.CONFLICTS_MANAGE),
    ("/console/jobs", "Jobs", Permission.JOBS_MANAGE),
    ("/console/audit", "Audit log", Permission.AUDIT_READ),
    ("/console/tasks", "Tasks board", Permission.TASKS_MANAGE),
)


def setup(app: web.Application) -> None:
    environment = aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("syncd.console", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",)),
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["show"] = show


def show(value: Any) -> str:
    """A value as text: strings as they are, anything else as JSON (escaped on output)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def speech(request: web.Request) -> Speech:
    who: Principal | None = request.get(PRINCIPAL)
    tenant = request.get(RESOLVED_TENANT)
    locale = page_locale(
        request.cookies.get(LANGUAGE_COOKIE),
        who.locale if who is not None else None,
        tenant.locale if tenant is not None else None,
        request.headers.get("Accept-Language"),
    )
    return Speech(locale, tenant.time_zone if tenant is not None else "UTC")


@functools.cache
def asset_version(name: str) -> str:
    """A short digest of a static file, so its URL changes when it does (long caching)."""
    return hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:12]


def asset(name: str) -> str:
    return f"/console/static/{name}?v={asset_version(name)}"


def navigation(request: web.Request, who: Principal | None) -> list[dict[str, Any]]:
    if who is None:
        return []
    return [
        {"href": href, "label": label, "current": request.path.startswith(href)}
        for href, label, permission in NAV
        if role_allows(who.role, permission)
    ]


def render(
    request: web.Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
) -> web.Response:
    """The page `template` as the request's person sees it, with the console's headers."""
    who: Principal | None = request.get(PRINCIPAL)
    page_speech = speech(request)
    values: dict[str, Any] = {
        **page_speech.context(),
        "who": who,
        "tenant": request.get(RESOLVED_TENANT),
        "nav": navigation(request, who),
        "csrf_token": csrf.token(request),
        "csrf_field": csrf.CSRF_FIELD,
        "asset": asset,
        "path_qs": request.path_qs,
    }
    values.update(context or {})
    response = aiohttp_jinja2.render_template(template, request, values, status=status)
    finish(request, response, page_speech.locale)
    return response


def finish(request: web.Request, response: web.StreamResponse, locale: str | None = None) -> None:
    """The console's headers (and the CSRF cookie, when this request made its secret)."""
    response.headers.update(PAGE_HEADERS)
    if locale is not None:
        response.headers["Content-Language"] = locale
    csrf.remember(request, response)


def see_other(request: web.Request, location: str) -> web.Response:
    """Post/redirect/get: 303 to `location` (a console path)."""
    response = web.Response(status=303, headers={"Location": location})
    finish(request, response)
    return response
