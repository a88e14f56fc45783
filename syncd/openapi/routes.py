"""GET /openapi.json and GET /docs: the generated document and Swagger UI, no CDN.

Swagger UI's files come from the `swagger-ui-py` package and are served by
syncd itself under /docs/static/; the page is static HTML whose script points
SwaggerUIBundle at /openapi.json, fetched by the browser (the server never
calls itself). The document is generated once, on its first request, from the
route table (frozen by then) and kept as bytes.

Access: open in development and test. With SYNCD_ENV=production both /docs and
/openapi.json need a bearer token with the `api:docs` permission (admins). A
browser sends no bearer token when it opens /docs, so in production read the
document with a token (`curl -H 'Authorization: Bearer ...' .../openapi.json`)
or print it offline with `syncd openapi > openapi.json`. The Swagger UI assets
under /docs/static/ are public everywhere: they are the same for every syncd.
"""

from __future__ import annotations

import functools
import importlib.util
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from syncd import appkeys
from syncd.auth.permissions import Permission, public, requires
from syncd.i18n import Msg
from syncd.openapi import Binary, describe
from syncd.openapi.document import build_document
from syncd.web.problems import NotFound

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

ASSET_PREFIX = "/docs/static/"
INIT_SCRIPT = "syncd-docs.js"
SWAGGER_ASSETS = {
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "application/javascript",
    "index.css": "text/css",
    "favicon-32x32.png": "image/png",
    "favicon-16x16.png": "image/png",
}
Asset = Literal[
    "swagger-ui.css",
    "swagger-ui-bundle.js",
    "index.css",
    "favicon-32x32.png",
    "favicon-16x16.png",
    "syncd-docs.js",
]

PAGE = f"""<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>syncd API</title>
    <link rel="stylesheet" href="{ASSET_PREFIX}swagger-ui.css">
    <link rel="stylesheet" href="{ASSET_PREFIX}index.css">
    <link rel="icon" type="image/png" href="{ASSET_PREFIX}favicon-32x32.png" sizes="32x32">
    <link rel="icon" type="image/png" href="{ASSET_PREFIX}favicon-16x16.png" sizes="16x16">
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="{ASSET_PREFIX}swagger-ui-bundle.js"></script>
    <script src="{ASSET_PREFIX}{INIT_SCRIPT}"></script>
  </body>
</html>
"""

INIT_JS = """"use strict";
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
"""

# The page loads only what syncd serves; "Try it out" calls only this origin.
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


class OpenAPIDocument(BaseModel):
    """The OpenAPI 3.1 document of this server."""

    model_config = ConfigDict(extra="allow")

    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]
    components: dict[str, Any]


class AssetPath(BaseModel):
    name: Asset


class DocumentCache:
    """The document as JSON bytes, generated on first use."""

    def __init__(self) -> None:
        self._body: bytes | None = None

    def body(self, app: web.Application) -> bytes:
        if self._body is None:
            self._body = json.dumps(build_document(app), ensure_ascii=False).encode()
        return self._body


OPENAPI = web.AppKey("openapi", DocumentCache)


@describe(summary="The OpenAPI document", responses={200: OpenAPIDocument}, tags=["docs"])
async def openapi_json(request: web.Request) -> web.Response:
    """This document, generated from the server's route table."""
    body = request.app[OPENAPI].body(request.app)
    return web.Response(
        body=body, content_type="application/json", headers={"Cache-Control": "no-cache"}
    )


@describe(
    summary="API documentation (Swagger UI)",
    responses={200: Binary(("text/html",), "The Swagger UI page")},
    tags=["docs"],
)
async def docs(_request: web.Request) -> web.Response:
    """Swagger UI over /openapi.json; its assets are served by syncd, no CDN."""
    return web.Response(
        text=PAGE,
        content_type="text/html",
        headers={"Content-Security-Policy": DOCS_CSP, "Cache-Control": "no-cache"},
    )


@public
@describe(
    summary="A Swagger UI asset",
    path=AssetPath,
    responses={
        200: Binary(("application/javascript", "text/css", "image/png"), "The file (cached a day)")
    },
    problems=[NotFound],
    tags=["docs"],
)
async def asset(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    cache = {"Cache-Control": "public, max-age=86400"}
    if name == INIT_SCRIPT:
        return web.Response(text=INIT_JS, content_type="application/javascript", headers=cache)
    if name not in SWAGGER_ASSETS:
        raise NotFound(Msg("no asset {name}", name=repr(name)))
    headers = {**cache, "Content-Type": SWAGGER_ASSETS[name]}
    return web.FileResponse(swagger_ui_dir() / name, headers=headers)


@functools.cache
def swagger_ui_dir() -> Path:
    """Swagger UI's static files as the swagger-ui-py package ships them (not imported)."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the swagger-ui-py package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


def _guarded(handler: Handler, permission: Permission) -> Handler:
    """A per-app copy of `handler` carrying `permission` (it differs in production)."""

    @functools.wraps(handler)
    async def guarded(request: web.Request) -> web.StreamResponse:
        return await handler(request)

    return requires(permission)(guarded)


def setup(app: web.Application) -> None:
    production = app[appkeys.SETTINGS].is_production
    permission = Permission.API_DOCS if production else Permission.PUBLIC
    swagger_ui_dir()  # a missing package fails here, at start, not on the first page view
    app[OPENAPI] = DocumentCache()
    app.router.add_get("/openapi.json", _guarded(openapi_json, permission), name="openapi")
    app.router.add_get("/docs", _guarded(docs, permission), name="docs")
    app.router.add_get(ASSET_PREFIX + "{name}", asset, name="docs_asset")
