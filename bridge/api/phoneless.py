"""Request parsing shared by the calls charged to a phoneless extension (callback calls and
conference invites, bridge.calls.phoneless): the path's user, the body, the extension."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bridge.api.common import read_json
from bridge.api.context import Services, current_app, services
from bridge.api.fields import scalar_text
from bridge.directory import SELF
from bridge.errors import invalid
from bridge.tenants import App, User


async def request_of(request: web.Request) -> tuple[Services, App, User | None, Any]:
    """What a phoneless route starts with: the services, the app, the path's user (None:
    @owner) and the JSON body."""
    svc = services(request)
    app = current_app(request)
    user = svc.directory.resolve_user(app, request.match_info["userId"], "extension_invalid")
    return svc, app, user, await read_json(request)


def extension_number(body: Any, kind: str) -> str:
    """The body's `extension` as text (whose it is, the use case checks); missing, @self or
    not a number is 400 extension_invalid."""
    raw = scalar_text(body.get("extension")) if isinstance(body, dict) else None
    if not raw or raw == SELF:
        raise invalid("extension_invalid", f"extension must name a {kind} extension.")
    return raw
