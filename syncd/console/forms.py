"""How a console route declares itself, and how it reads a form.

`@page(permission)` is a console page or form handler: the permission the API
route for the same thing needs, the console session cookie as credentials, and
left out of the OpenAPI document. `read_form` checks the CSRF token before it
hands back a single field of the form, bounded in length.
"""

from __future__ import annotations

import posixpath
import urllib.parse
from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web
from multidict import MultiDictProxy

from syncd.auth.permissions import Permission, credentials, public, requires
from syncd.console import csrf
from syncd.console.session import session_claims
from syncd.i18n import Msg
from syncd.openapi import not_api
from syncd.web.problems import ValidationFailed

F = TypeVar("F", bound=Callable[..., Any])
MAX_FIELD = 20_000  # the longest value a form may carry (a task's description)


def page(permission: Permission) -> Callable[[F], F]:
    def mark(handler: F) -> F:
        return not_api(credentials(session_claims)(requires(permission)(handler)))

    return mark


def public_page(handler: F) -> F:
    return not_api(public(handler))


class Form:
    """A posted form whose CSRF token was checked."""

    def __init__(self, data: MultiDictProxy[Any]) -> None:
        self.data = data

    def get(self, name: str, max_length: int = 200) -> str | None:
        value = self.data.get(name)
        if value is None or not isinstance(value, str):
            return None
        if len(value) > max_length:
            raise ValidationFailed(
                Msg("{name} is longer than {limit} characters", name=name, limit=max_length),
                errors=[{"field": name, "code": "too_long", "message": str(max_length)}],
            )
        return value

    def all(self, name: str, max_length: int = 200) -> list[str]:
        values = [v for v in self.data.getall(name, []) if isinstance(v, str)]
        if any(len(v) > max_length for v in values):
            raise ValidationFailed(
                Msg("{name} is longer than {limit} characters", name=name, limit=max_length),
                errors=[{"field": name, "code": "too_long", "message": str(max_length)}],
            )
        return values


async def read_form(request: web.Request) -> Form:
    data = await request.post()
    token = data.get(csrf.CSRF_FIELD)
    csrf.check(request, token if isinstance(token, str) else None)
    return Form(data)


def local_next(value: str | None, default: str = "/console/") -> str:
    """A console path to go back to; anything else (another site, `//host`, `..` out
    of /console, a control character) gives `default`."""
    if not value or any(ord(char) < 0x21 or char == "\\" for char in value):
        return default
    parts = urllib.parse.urlsplit(value)
    if parts.scheme or parts.netloc or value.startswith("//"):
        return default
    path = posixpath.normpath(urllib.parse.unquote(parts.path))
    if path != "/console" and not path.startswith("/console/"):
        return default
    return value


def with_notice(location: str, notice: str) -> str:
    """`location` with `?notice=` (a fixed key the page translates) added."""
    parts = urllib.parse.urlsplit(location)
    query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query) if k != "notice"]
    query.append(("notice", notice))
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))
