"""Request parsing shared by the calls charged to a phoneless extension (callback calls and
conference invites): the charged extension, the one view, public numbers (issue 13)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from bridge.api.common import read_json
from bridge.api.context import Services, current_app, services
from bridge.api.fields import numbers, scalar_text
from bridge.directory import SELF, Directory, is_public_number
from bridge.errors import invalid
from bridge.tenants import App, Extension, Organization, User

NONCE = re.compile(r"[\x21-\x7e]{1,128}")
MAX_DURATION = 86400  # callDuration, seconds


async def request_of(request: web.Request) -> tuple[Services, App, User | None, Any]:
    """What a phoneless route starts with: the services, the app, the path's user (None:
    @owner) and the JSON body."""
    svc = services(request)
    app = current_app(request)
    user = svc.directory.resolve_user(app, request.match_info["userId"], "extension_invalid")
    return svc, app, user, await read_json(request)


def owned_extension(
    body: Any, kind: str, *, directory: Directory, app: App, user: User | None
) -> Extension:
    """The body's `extension`: a `kind` extension owned by `user` (for @owner: by a user the
    app may act for); anything else is 400 extension_invalid."""
    raw = scalar_text(body.get("extension")) if isinstance(body, dict) else None
    if not raw or raw == SELF:
        raise invalid("extension_invalid", f"extension must name a {kind} extension.")
    home = directory.organization_of_user(user) if user else directory.home_organization(app)
    ext = directory.visible_extension(app, raw, home)
    if ext is None or ext.type != kind:
        raise invalid("extension_invalid", f"{raw[:40]!r} is not a {kind} extension.")
    owner = directory.owner(ext)
    if not (owner.id == user.id if user else directory.may_act_for(app, owner)):
        raise invalid("extension_invalid", f"Extension {ext.number} is not the user's.")
    return ext


def first_view(body: Mapping[str, Any], code: str) -> Mapping[str, Any]:
    views = body.get("phoneCallView")
    if isinstance(views, dict):
        views = [views]
    if not isinstance(views, list) or not views or not isinstance(views[0], dict):
        raise invalid(code, "phoneCallView must hold one view.")
    view: Mapping[str, Any] = views[0]
    return view


def public_numbers(
    raw: Any, org: Organization, directory: Directory, code: str, what: str
) -> list[str]:
    """1-16 public numbers (an extension, even of another organization, is refused)."""
    items = numbers(raw, code, what)
    for number in items:
        if directory.extended(number, org) is not None or not is_public_number(number):
            raise invalid(code, f"{what} {number[:40]!r} is not a public number.")
    return items
