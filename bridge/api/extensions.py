"""`GET /uapi/extensions/{userId}`: the extensions a user owns (numbers a client may use)."""

from __future__ import annotations

from aiohttp import web

from bridge.api.common import collection_response
from bridge.api.context import api_prefix, base_url, current_app, services
from bridge.api.listing import ListQuery, parse_list_query
from bridge.tenants import Extension, User

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


def _path_scope(request: web.Request) -> tuple[User | None, ListQuery, str]:
    """The path's user (None for @owner), the validated list parameters and the base self URL."""
    user_ref = request.match_info["userId"]
    user = services(request).directory.resolve_user(current_app(request), user_ref, "user_invalid")
    q = parse_list_query(request.query, fields=FIELDS, filterable=("id", "extension", "type"))
    return user, q, f"{base_url(request)}{api_prefix(request)}/extensions/{user_ref}"


async def list_extensions(request: web.Request) -> web.Response:
    """Lists the path user's extensions with the standard list parameters."""
    directory = services(request).directory
    user, q, self_url = _path_scope(request)
    if user is None:  # @owner names no extension here: it is the app's own user
        user = directory.resolve_user(current_app(request), "@me", "user_invalid")
    assert user is not None
    items = [_view(e, self_url) for e in directory.extensions_of(user)]
    return collection_response(request, items, q, self_url=self_url, sort_key="id")


async def get_extension(request: web.Request) -> web.Response:
    """One extension of the path user (the target of an entry's links.self), as a collection."""
    user, q, self_url = _path_scope(request)
    ext = services(request).directory.resolve_extension(
        current_app(request), user, request.match_info["extension"]
    )
    return collection_response(request, [_view(ext, self_url)], q, self_url=self_url)


def add_routes(app: web.Application, prefix: str) -> None:
    app.router.add_get(f"{prefix}/extensions/{{userId}}", list_extensions)
    app.router.add_get(f"{prefix}/extensions/{{userId}}/{{extension}}", get_extension)
