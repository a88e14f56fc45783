"""The values kept on one request, under typed RequestKeys (the app's are in syncd.appkeys).

Here, apart from the app's keys, so that the HTTP kit (problems, the client's
address, the access log) reads them without importing every service the app
keys type.
"""

from __future__ import annotations

import uuid

from aiohttp import web

REQUEST_ID = web.RequestKey("request_id", str)
PROBLEM_CODE = web.RequestKey("problem_code", str)  # the answer's, for the access log
TOKEN_TENANT = web.RequestKey("token_tenant_id", uuid.UUID)  # set by the auth layer
CLIENT_IP = web.RequestKey("client_ip", str)  # see syncd.web.client_ip
