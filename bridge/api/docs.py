"""Serves the contract: the OpenAPI document (JSON and YAML) and a Swagger UI page at /docs.

The page's assets come from the `openapi-ui-bundles` package (no CDN: PBX hosts are often
offline). The document needs no token (middleware.UNAUTHENTICATED lists its paths).
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web
from openapi_ui_bundles import swagger_ui

# asset name -> content type; nothing else under /docs/ is served
ASSETS = {
    "swagger-ui.css": "text/css",
    "index.css": "text/css",
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui-standalone-preset.js": "text/javascript",
    "favicon-32x32.png": "image/png",
    "favicon-16x16.png": "image/png",
}
PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>uapi-bridge API</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/favicon-32x32.png" sizes="32x32">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script src="/docs/docs.js"></script>
</body>
</html>
"""
# The page's own script (a file, so that a Content-Security-Policy without inline scripts works).
INIT = """window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: "/uapi/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout"
  });
};
"""


@functools.cache
def document_text() -> str:
    """The OpenAPI document as shipped in the package (YAML)."""
    return resources.files("bridge.api").joinpath("openapi.yaml").read_text(encoding="utf-8")


@functools.cache
def document() -> dict[str, Any]:
    """The OpenAPI document, parsed."""
    loaded: dict[str, Any] = yaml.safe_load(document_text())
    return loaded


@functools.cache
def _document_json() -> str:
    return json.dumps(document())


@functools.cache
def _asset(name: str) -> bytes:
    return (Path(swagger_ui.static_path) / name).read_bytes()


async def openapi_json(request: web.Request) -> web.Response:  # noqa: ARG001 - aiohttp handler
    return web.Response(text=_document_json(), content_type="application/json")


async def openapi_yaml(request: web.Request) -> web.Response:  # noqa: ARG001 - aiohttp handler
    return web.Response(text=document_text(), content_type="application/yaml")


async def page(request: web.Request) -> web.Response:  # noqa: ARG001 - aiohttp handler
    return web.Response(text=PAGE, content_type="text/html")


async def asset(request: web.Request) -> web.Response:
    name = request.match_info["asset"]
    if name == "docs.js":
        return web.Response(text=INIT, content_type="text/javascript")
    if name not in ASSETS:
        raise web.HTTPNotFound
    return web.Response(
        body=_asset(name),
        content_type=ASSETS[name],
        headers={"Cache-Control": "public, max-age=86400"},
    )


def add_routes(app: web.Application, prefixes: tuple[str, ...]) -> None:
    for prefix in prefixes:
        app.router.add_get(f"{prefix}/openapi.json", openapi_json)
        app.router.add_get(f"{prefix}/openapi.yaml", openapi_yaml)
    app.router.add_get("/docs", page)
    app.router.add_get("/docs/{asset}", asset)
