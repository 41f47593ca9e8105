"""`GET /uapi/extensions/{userId}/{extension}/presence`: who is online, from what the bridge
keeps of AMI's device and contact events (no AMI request per call). uapi.md Part 3 §12."""

from __future__ import annotations

import time

from aiohttp import web

from bridge.api.common import collection_response
from bridge.api.context import api_prefix, base_url, current_app, services
from bridge.api.listing import parse_list_query
from bridge.directory import SELF
from bridge.errors import invalid

FIELDS = ("status", "extension", "registration")
_ORDERS = {"asc": "ascending", "desc": "descending"}


async def list_presence(request: web.Request) -> web.Response:
    """200 with one item per phone terminal; 204 when none matches."""
    svc = services(request)
    app = current_app(request)
    number = request.match_info["extension"]
    user = svc.directory.resolve_user(app, request.match_info["userId"], "extension_invalid")
    exts = svc.directory.scope_extensions(app, user, number)
    if number != SELF and exts[0].type != "phone_terminal":
        raise invalid("extension_invalid", f"{exts[0].number} is not a phone terminal.")
    query = dict(request.query)
    if query.get("sortOrder") in _ORDERS:
        query["sortOrder"] = _ORDERS[query["sortOrder"]]
    q = parse_list_query(query, fields=FIELDS, filterable=("extension",))
    svc.nodes.live_for(exts, "not connected: presence is not known")
    now = time.time()
    items = [
        {**svc.nodes.of_extension(ext).presence.view(ext.channel, now), "extension": ext.number}
        for ext in exts
        if ext.type == "phone_terminal"
    ]
    self_url = (
        f"{base_url(request)}{api_prefix(request)}/extensions/"
        f"{request.match_info['userId']}/{number}/presence"
    )
    return collection_response(request, items, q, self_url=self_url, sort_key="extension")


def add_routes(app: web.Application, prefix: str) -> None:
    app.router.add_get(f"{prefix}/extensions/{{userId}}/{{extension}}/presence", list_presence)
