"""A cookie-keeping client of the console's pages, for integration tests.

The console's cookies are `Secure` outside dev; aiohttp's cookie jar will not
send a Secure cookie over plain http, so this helper keeps the cookies itself
(what a browser does on 127.0.0.1) and never follows redirects, so that tests
see each 303.
"""

from __future__ import annotations

import html
import re
from http.cookies import SimpleCookie
from typing import Any

from tests.support.factories import PASSWORD, Account

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(page: str) -> str:
    found = CSRF.search(page)
    assert found is not None, page[:2000]
    return html.unescape(found.group(1))


class Console:
    """One browser's view of the console: its cookies, and the last page's CSRF token."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.cookies: dict[str, str] = {}
        self.set_cookies: list[str] = []
        self.token = ""

    def _absorb(self, response: Any) -> None:
        for header in response.headers.getall("Set-Cookie", []):
            self.set_cookies.append(header)
            parsed: SimpleCookie = SimpleCookie()
            parsed.load(header)
            for name, morsel in parsed.items():
                if morsel["max-age"] == "0" or morsel.value == "":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = dict(extra or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return headers

    async def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[Any, str]:
        response = await self.client.get(
            path, headers=self._headers(headers), allow_redirects=False
        )
        self._absorb(response)
        text = await response.text()
        if 'name="csrf_token"' in text:
            self.token = csrf_of(text)
        return response, text

    async def post(
        self, path: str, data: dict[str, Any] | list[tuple[str, str]], token: bool = True
    ) -> tuple[Any, str]:
        fields = list(data.items()) if isinstance(data, dict) else list(data)
        if token:
            fields.append(("csrf_token", self.token))
        response = await self.client.post(
            path, data=fields, headers=self._headers(), allow_redirects=False
        )
        self._absorb(response)
        return response, await response.text()

    async def sign_in(self, account: Account, password: str = PASSWORD) -> Any:
        await self.get("/console/login")
        response, text = await self.post(
            "/console/login",
            {"tenant": account.tenant.slug, "email": account.email, "password": password},
        )
        assert response.status == 303, text[:2000]
        return response
