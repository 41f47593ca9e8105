"""`GET /uapi/extensions/{userId}`: the extensions a user owns (numbers a client may use)."""

from __future__ import annotations

from aiohttp import web

from bridge.api.collections import parse_list_query
from bridge.api.common import collection_response
from bridge.api.context import api_prefix, base_url, current_app, services
from bridge.config import Extension

FIELDS = ("id", "extension", "type", "callerId", "ownerId", "links")


def _view(ext: Extension, self_url: str) -> dict[str, object]:
    return {
        "id": ext.number,
        "extension": ext.number,
        "type": ext.type,
        "callerId": ext.caller_id,
        "ownerId": ext.user,
        "links": {"self": f"{self_url}/{ext.number}"},
    }


async def list_extensions(request: web.Request) -> web.Response:
    """Lists the path user's extensions with the standard list parameters."""
    svc = services(request)
    app = current_app(request)
    user_ref = request.match_info["userId"]
    if user_ref == "@owner":
        user_ref = "@me"
    user = svc.directory.resolve_user(app, user_ref, "user_invalid")
    assert user is not None
    q = parse_list_query(request.query, fields=FIELDS, filterable=("id", "extension", "type"))
    self_url = f"{base_url(request)}{api_prefix(request)}/extensions/{user_ref}"
    items = [_view(e, self_url) for e in svc.directory.extensions_of(user)]
    return collection_response(request, items, q, self_url=self_url, sort_key="id")


async def get_extension(request: web.Request) -> web.Response:
    """One extension of the path user (the target of an entry's links.self), as a collection."""
    svc = services(request)
    app = current_app(request)
    user_ref = request.match_info["userId"]
    user = svc.directory.resolve_user(app, user_ref, "user_invalid")
    ext = svc.directory.resolve_extension(app, user, request.match_info["extension"])
    q = parse_list_query(request.query, fields=FIELDS, filterable=("id", "extension", "type"))
    self_url = f"{base_url(request)}{api_prefix(request)}/extensions/{user_ref}"
    return collection_response(request, [_view(ext, self_url)], q, self_url=self_url)


def add_routes(app: web.Application, prefix: str) -> None:
    app.router.add_get(f"{prefix}/extensions/{{userId}}", list_extensions)
    app.router.add_get(f"{prefix}/extensions/{{userId}}/{{extension}}", get_extension)
