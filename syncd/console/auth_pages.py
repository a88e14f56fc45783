"""Signing in and out of the console, the language switch, and the way in (`/`).

GET  /                    public         303 to /console/
GET  /console/            authenticated  the first page the role may open
GET  /console/login       public         the sign-in form
POST /console/login       public         sign in (the API's login: throttle, audit)
POST /console/logout      authenticated  end this sign-in's session (its token family)
POST /console/language    public         English or Arabic, kept in a cookie
"""

from __future__ import annotations

from aiohttp import web

from syncd import appkeys
from syncd.auth.errors import InvalidCredentials, LoginThrottled
from syncd.auth.permissions import Permission, role_allows
from syncd.console import csrf
from syncd.console.forms import local_next, page, public_page, read_form, with_notice
from syncd.console.render import NAV, render, see_other, speech
from syncd.console.session import (
    LANGUAGE_COOKIE,
    LANGUAGE_MAX_AGE_S,
    end_session,
    set_cookie,
    start_session,
)
from syncd.i18n import LOCALES, Msg
from syncd.web import keys
from syncd.web.keys import principal
from syncd.web.origin import origin_of
from syncd.web.problems import Problem, TenantNotFound
from syncd.web.tenant import find_tenant, named_tenant

routes = web.RouteTableDef()


@routes.get("/")
@public_page
async def root(request: web.Request) -> web.Response:
    """The server's front door leads to the console."""
    return see_other(request, "/console/")


@routes.get("/console/")
@page(Permission.AUTHENTICATED)
async def home(request: web.Request) -> web.Response:
    who = principal(request)
    for href, _label, permission in NAV:
        if role_allows(who.role, permission):
            return see_other(request, href)
    return render(request, "home.html")


def _login_page(
    request: web.Request,
    *,
    tenant: str,
    email: str = "",
    next_path: str = "",
    problem: Problem | None = None,
) -> web.Response:
    shown = None
    if problem is not None:
        shown = problem.body(request.path, request.get(keys.REQUEST_ID), speech(request).locale)
    response = render(
        request,
        "login.html",
        {
            "tenant_slug": tenant,
            "email": email,
            "next": next_path,
            "problem": shown,
            "notice": request.query.get("notice"),
        },
        status=problem.status if problem is not None else 200,
    )
    if problem is not None:
        for name, value in problem.headers.items():
            if name.lower() != "www-authenticate":
                response.headers[name] = value
    return response


@routes.get("/console/login")
@public_page
async def login_form(request: web.Request) -> web.Response:
    return _login_page(
        request,
        tenant=request.query.get("tenant", named_tenant(request) or "")[:63],
        next_path=local_next(request.query.get("next"), ""),
    )


@routes.post("/console/login")
@public_page
async def login(request: web.Request) -> web.Response:
    form = await read_form(request)
    slug = (form.get("tenant", 63) or "").strip().lower()
    email = (form.get("email", 254) or "").strip()
    password = form.get("password", 1024) or ""
    next_path = local_next(form.get("next", 2000))
    tenant = await find_tenant(request, slug) if slug else None
    if tenant is None:
        unknown = TenantNotFound(Msg("no active tenant {tenant}", tenant=slug or "-"))
        return _login_page(request, tenant=slug, email=email, next_path=next_path, problem=unknown)
    try:
        pair = await request.app[appkeys.AUTH].login(origin_of(request), tenant, email, password)
    except (InvalidCredentials, LoginThrottled) as refused:
        return _login_page(request, tenant=slug, email=email, next_path=next_path, problem=refused)
    csrf.renew(request)
    response = see_other(request, next_path)
    start_session(response, request.app[appkeys.SETTINGS], tenant, pair)
    return response


@routes.post("/console/logout")
@page(Permission.AUTHENTICATED)
async def logout(request: web.Request) -> web.Response:
    await read_form(request)
    await request.app[appkeys.AUTH].logout(origin_of(request), principal(request))
    response = see_other(request, with_notice("/console/login", "signed_out"))
    end_session(response)
    return response


@routes.post("/console/language")
@public_page
async def language(request: web.Request) -> web.Response:
    form = await read_form(request)
    chosen = form.get("lang", 8)
    response = see_other(request, local_next(form.get("next", 2000)))
    if chosen in LOCALES:
        set_cookie(
            response, request.app[appkeys.SETTINGS], LANGUAGE_COOKIE, chosen, LANGUAGE_MAX_AGE_S
        )
    return response
