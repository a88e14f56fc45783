"""What the console answers when something goes wrong: a page, not problem+json.

This middleware sits inside `problems` and outside `policy`, and acts on
`/console` paths only. A person who is not signed in, or whose session ended
(logout, deactivation, a password change, expiry), is sent to the sign-in
page and brought back afterwards. Every other problem becomes an error page
in the person's language with the problem's status, title, detail, `code` and
request id -- the same problem the API would answer, rendered for a person.
Scripts asking for a fragment or an event stream get the problem as
application/problem+json instead (their page reloads). An unexpected error is
logged with its traceback, which never reaches the page.
"""

from __future__ import annotations

import asyncio
import urllib.parse

import structlog
from aiohttp import web

from syncd.console.render import finish, render, speech
from syncd.console.session import end_session
from syncd.web.keys import REQUEST_ID
from syncd.web.middlewares import Handler
from syncd.web.problems import InternalError, Problem, Unauthorized
from syncd.web.responses import from_http_exception, problem_response

log = structlog.get_logger("syncd.console")

PREFIX = "/console"
FRAGMENT_HEADER = "X-Console-Fragment"


def is_console(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def wants_fragment(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    return FRAGMENT_HEADER in request.headers or "text/event-stream" in accept


def sign_in_location(request: web.Request) -> str:
    if request.method != "GET" or request.path.startswith(PREFIX + "/login"):
        return PREFIX + "/login"
    return PREFIX + "/login?" + urllib.parse.urlencode({"next": request.path_qs})


def error_page(request: web.Request, problem: Problem) -> web.Response:
    locale = speech(request).locale
    if wants_fragment(request):  # a script's request: the problem as the API answers it
        response = problem_response(problem, request, locale)
        finish(request, response)
        return response
    body = problem.body(request.path, request.get(REQUEST_ID), locale)
    response = render(request, "error.html", {"problem": body}, status=problem.status)
    for name, value in problem.headers.items():
        if name.lower() != "www-authenticate":
            response.headers[name] = value
    return response


@web.middleware
async def console_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not is_console(request.path):
        return await handler(request)
    try:
        return await handler(request)
    except Unauthorized as problem:
        if wants_fragment(request):
            return error_page(request, problem)
        response = web.Response(status=303, headers={"Location": sign_in_location(request)})
        end_session(response)
        finish(request, response)
        return response
    except Problem as problem:
        return error_page(request, problem)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_page(request, from_http_exception(exc))
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception:
        log.exception("console page failed", method=request.method, path=request.path)
        return error_page(request, InternalError("the server failed; quote the request id"))
