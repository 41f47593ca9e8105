"""`GET /board`: the live call board, one static page shipped in the package (no data in it).

The page asks for a token itself; the board route needs none, as it is outside /uapi.
"""

from __future__ import annotations

from importlib import resources

from aiohttp import web

ASSETS = {  # URL name -> (file in static/, content type)
    "": ("board.html", "text/html"),
    "board.js": ("board.js", "text/javascript"),
    "board.css": ("board.css", "text/css"),
}
# The page talks to its own origin only; the token stays out of the Referer.
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


def _load() -> dict[str, tuple[bytes, str]]:
    folder = resources.files("bridge.live") / "static"
    return {name: ((folder / file).read_bytes(), ctype) for name, (file, ctype) in ASSETS.items()}


def add_routes(app: web.Application) -> None:
    """GET /board and its two assets, read once from the package."""
    assets = _load()

    def serve(name: str) -> web.Response:
        body, ctype = assets[name]
        return web.Response(body=body, content_type=ctype, charset="utf-8", headers=HEADERS)

    async def page(request: web.Request) -> web.Response:  # noqa: ARG001 - aiohttp handler
        return serve("")

    async def asset(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in assets or not name:
            raise web.HTTPNotFound
        return serve(name)

    app.router.add_get("/board", page)
    app.router.add_get("/board/{name}", asset)
