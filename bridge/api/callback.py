"""`POST /uapi/phoneCalls/{userId}/callback`: the PBX calls a public number (the source) for a
Callback extension and, once it answers, the destination (public numbers only), and bridges them.

Placed like a simple call (same dialplan, nonce, waitForPickup, callDuration); the call is
charged to the Callback extension, which nobody's phone rings on. Codes: uapi.md Part 3 §13.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from bridge.ami.actions import CallPlan
from bridge.api.common import read_json
from bridge.api.context import current_app, services
from bridge.api.fields import caller_id_or, numbers, optional_number, scalar_text, whole_number
from bridge.api.idempotency import idempotent
from bridge.api.phonecalls import MAX_DURATION, MAX_WAIT, NONCE, Placement, place
from bridge.config import App, Extension, Organization, User
from bridge.directory import SELF, Directory, is_public_number
from bridge.errors import invalid


def owned_extension(body: Any, kind: str, *, directory: Directory, app: App,
                    user: User | None) -> Extension:
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


def public_numbers(raw: Any, org: Organization, directory: Directory, code: str,
                   what: str) -> list[str]:
    """1-16 public numbers (an extension, even of another organization, is refused)."""
    items = numbers(raw, code, what)
    for number in items:
        if directory.extended(number, org) is not None or not is_public_number(number):
            raise invalid(code, f"{what} {number[:40]!r} is not a public number.")
    return items


def plan_callback(body: Any, query: Mapping[str, str], *, directory: Directory, app: App,
                  user: User | None, public: str) -> Placement:
    """Validates a callback request, each failure with its code (nothing is sent)."""
    ext = owned_extension(body, "callback", directory=directory, app=app, user=user)
    org = directory.organization_of_user(directory.owner(ext))
    view = first_view(body, "pc_source_invalid")
    sources = public_numbers(view.get("source"), org, directory, "pc_source_invalid", "source")
    dests = public_numbers(view.get("destination"), org, directory, "pc_destination_invalid",
                           "destination")
    cid = caller_id_or(view.get("callerId"), ext.caller_id)
    dest_cid = caller_id_or(view.get("callerIdDestination", view.get("callerDestination")), cid)
    wait = whole_number(query.get("waitForPickup"), 25, 1, MAX_WAIT, "pc_timeout_invalid")
    duration = optional_number(query.get("callDuration"), 1, MAX_DURATION, "pc_duration_invalid")
    nonce = body.get("nonce")
    if nonce is not None and (not isinstance(nonce, str) or not NONCE.fullmatch(nonce)):
        raise invalid("pc_nonce_invalid", "nonce must be 1-128 printable characters.")
    plan = CallPlan(
        call_id=secrets.token_hex(10),
        sources=tuple(public.format(number=n) for n in sources),
        destinations=tuple(public.format(number=n) for n in dests),
        source_caller_id=cid, destination_caller_id=dest_cid, wait=wait, duration=duration,
    )
    remembered = {"sources": sources, "destinations": dests, "source_caller_id": cid,
                  "destination_caller_id": dest_cid, "allow_public_transfer": False}
    return Placement(plan, ext, nonce, remembered)


async def make_callback_call(request: web.Request) -> web.Response:
    """202 with `[{"id", "extension", "link"}]` once Asterisk accepted the Originate."""
    svc = services(request)
    app = current_app(request)
    user = svc.directory.resolve_user(app, request.match_info["userId"], "extension_invalid")
    body = await read_json(request)
    placing = plan_callback(body, request.query, directory=svc.directory, app=app, user=user,
                            public=svc.config.dialing.public)
    return await place(request, placing)


def add_routes(app: web.Application, prefix: str) -> None:
    app.router.add_post(f"{prefix}/phoneCalls/{{userId}}/callback",
                        idempotent(make_callback_call))
