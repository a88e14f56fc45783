"""The console's own stylesheet and script, served by syncd (no CDN, no build step).

GET /console/static/{name}   public; cached a year (the page links `?v=<digest>`)
"""

from __future__ import annotations

from typing import Literal

from aiohttp import web

from syncd.console.forms import public_page
from syncd.console.render import STATIC_DIR
from syncd.i18n import Msg
from syncd.web.problems import NotFound

routes = web.RouteTableDef()

ASSETS = {"console.css": "text/css", "console.js": "application/javascript"}
AssetName = Literal["console.css", "console.js"]


@routes.get("/console/static/{name}")
@public_page
async def asset(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in ASSETS:
        raise NotFound(Msg("no asset {name}", name=repr(name)))
    headers = {
        "Content-Type": ASSETS[name] + "; charset=utf-8",
        "Cache-Control": "public, max-age=31536000, immutable",
    }
    return web.FileResponse(STATIC_DIR / name, headers=headers)
