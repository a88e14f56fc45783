"""The admin console: server-rendered pages under /console/ for admins and staff.

The conflict inbox (live), devices, rejected changes, jobs, the audit log and
the tasks board, in English and Arabic. Each page calls the same service as
the REST route for the same thing, under the same permission, and is signed
in with a session cookie bound to an API sign-in (syncd.console.session).
Every form carries a CSRF token (syncd.console.csrf). docs/console.md is the
guide; `setup(app)` is all the app factory calls.

    session.py  the cookie          render.py   templates, language, headers
    csrf.py     form tokens         errors.py   problems as pages, sign-in redirects
    i18n.py     language and clock  forms.py    route marks, form reading
    auth_pages  sign in and out     inbox.py    the inbox     live.py  its events
    devices, rejections, jobs, audit, tasks: one page each; assets.py: CSS and JS
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from syncd import appkeys
from syncd.console import (
    assets,
    audit,
    auth_pages,
    devices,
    inbox,
    jobs,
    live,
    rejections,
    render,
    tasks,
)
from syncd.console.errors import console_errors

__all__ = ["console_errors", "setup"]


async def _streams(app: web.Application) -> AsyncIterator[None]:
    app[live.STREAMS] = live.ConsoleStreams(app[appkeys.HUB])
    yield
    app[live.STREAMS].close_all()


def setup(app: web.Application) -> None:
    """Templates, the live streams' registry, and every console route."""
    render.setup(app)
    app.cleanup_ctx.append(_streams)
    app.on_shutdown.append(live.close_streams)
    for feature in (auth_pages, inbox, live, devices, rejections, jobs, audit, tasks, assets):
        app.router.add_routes(feature.routes)
