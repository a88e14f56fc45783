"""CSRF protection of every console form: a per-browser secret and a signed token.

The first console page a browser opens sets `syncd_console_csrf`, a random
HttpOnly, SameSite=Strict cookie. Each form carries `csrf_token`, an HMAC of
that secret (and, once signed in, of the session's token id) under a key
derived from JWT_ACCESS_SECRET. A POST whose token is missing or does not
match is refused (403 `csrf_failed`) before anything else is read or done.
Signing in replaces the secret, so a token made before sign-in is dead after.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from aiohttp import web

from syncd import appkeys
from syncd.console.session import SESSION_COOKIE, set_cookie
from syncd.i18n import Msg
from syncd.web.problems import Forbidden

CSRF_COOKIE = "syncd_console_csrf"
CSRF_FIELD = "csrf_token"
_SECRET = web.RequestKey("console_csrf_secret", str)


class CsrfFailed(Forbidden):
    code = "csrf_failed"
    title = "The form's security token is missing or wrong"


def _key(request: web.Request) -> bytes:
    secret = request.app[appkeys.SETTINGS].jwt_access_secret.encode()
    return hmac.new(secret, b"syncd-console-csrf", hashlib.sha256).digest()


def browser_secret(request: web.Request) -> str:
    """This browser's CSRF secret: its cookie, or a new one `remember` will set."""
    found = request.get(_SECRET) or request.cookies.get(CSRF_COOKIE, "")
    if len(found) < 32:
        found = secrets.token_urlsafe(32)
    request[_SECRET] = found
    return found


def renew(request: web.Request) -> None:
    """Start a new secret (at sign-in): tokens of the old one stop working."""
    request[_SECRET] = secrets.token_urlsafe(32)


def remember(request: web.Request, response: web.StreamResponse) -> None:
    """Set the secret's cookie when this request made or renewed it."""
    made = request.get(_SECRET)
    if made is not None and made != request.cookies.get(CSRF_COOKIE):
        set_cookie(response, request.app[appkeys.SETTINGS], CSRF_COOKIE, made)


def token(request: web.Request, session: str | None = None) -> str:
    """The token forms of this page carry."""
    bound = session if session is not None else request.cookies.get(SESSION_COOKIE, "")
    message = f"{browser_secret(request)}|{_session_id(bound)}".encode()
    digest = hmac.new(_key(request), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def check(request: web.Request, submitted: str | None) -> None:
    """Refuse the form unless it carries this browser's (and session's) token."""
    secret = request.cookies.get(CSRF_COOKIE, "")
    if not submitted or len(secret) < 32:
        raise CsrfFailed(Msg("the form came without its security token; reload the page"))
    request[_SECRET] = secret
    if not hmac.compare_digest(submitted.encode(), token(request).encode()):
        raise CsrfFailed(Msg("the form's security token is not this session's; reload the page"))


def _session_id(session_cookie: str) -> str:
    """A digest of the session cookie (the token binds to the sign-in, not only the browser)."""
    if not session_cookie:
        return ""
    return hashlib.sha256(session_cookie.encode()).hexdigest()[:32]
