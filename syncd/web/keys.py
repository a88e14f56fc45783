"""The values kept on one request, under typed RequestKeys (the app's are in syncd.appkeys).

Here, apart from the app's keys, so that the HTTP kit (problems, the client's
address, the access log) reads them without importing every service the app
keys type. `principal(request)` reads the one a protected route always has.
"""

from __future__ import annotations

import uuid

from aiohttp import web

from syncd.auth.principal import Principal

REQUEST_ID = web.RequestKey("request_id", str)
PROBLEM_CODE = web.RequestKey("problem_code", str)  # the answer's, for the access log
TOKEN_TENANT = web.RequestKey("token_tenant_id", uuid.UUID)  # set by the auth layer
CLIENT_IP = web.RequestKey("client_ip", str)  # see syncd.web.client_ip
PRINCIPAL = web.RequestKey("principal", Principal)  # set by the auth layer


def principal(request: web.Request) -> Principal:
    """The request's principal; only call from a route that is not public."""
    found: Principal | None = request.get(PRINCIPAL)
    if found is None:
        raise RuntimeError("no principal: the route is public or auth did not run")
    return found
