"""`POST /uapi/phoneCalls/{userId}/callback`: the PBX calls a public number (the source) for a
Callback extension and, once it answers, the destination (public numbers only), and bridges them.

Placed like a simple call (same dialplan, nonce, waitForPickup, callDuration); the call is
charged to the Callback extension, which nobody's phone rings on. Codes: uapi.md Part 3 §13.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from bridge.ami.actions import CallPlan
from bridge.api.callviews import placed_answer
from bridge.api.fields import (
    MAX_WAIT,
    caller_id_or,
    optional_number,
    sip_headers,
    whole_number,
)
from bridge.api.idempotency import idempotent
from bridge.api.phoneless import (
    MAX_DURATION,
    NONCE,
    first_view,
    owned_extension,
    public_numbers,
    request_of,
)
from bridge.calls.placing import Plan
from bridge.directory import Directory
from bridge.domain.callids import new_call_id
from bridge.domain.model import CallMeta
from bridge.errors import invalid
from bridge.tenants import App, User


def plan_callback(
    body: Any,
    query: Mapping[str, str],
    *,
    directory: Directory,
    app: App,
    user: User | None,
    now: float,
) -> Plan:
    """Validates a callback request, each failure with its code (nothing is sent)."""
    ext = owned_extension(body, "callback", directory=directory, app=app, user=user)
    org = directory.organization_of_user(directory.owner(ext))
    view = first_view(body, "pc_source_invalid")
    sources = public_numbers(view.get("source"), org, directory, "pc_source_invalid", "source")
    dests = public_numbers(
        view.get("destination"), org, directory, "pc_destination_invalid", "destination"
    )
    cid = caller_id_or(view.get("callerId"), ext.caller_id)
    node = directory.node_of(ext)
    public = directory.public_of(node)
    dest_cid = caller_id_or(view.get("callerIdDestination", view.get("callerDestination")), cid)
    wait = whole_number(query.get("waitForPickup"), 25, 1, MAX_WAIT, "pc_timeout_invalid")
    duration = optional_number(query.get("callDuration"), 1, MAX_DURATION, "pc_duration_invalid")
    headers = sip_headers(view.get("sipHeaders"))
    nonce = body.get("nonce")
    if nonce is not None and (not isinstance(nonce, str) or not NONCE.fullmatch(nonce)):
        raise invalid("pc_nonce_invalid", "nonce must be 1-128 printable characters.")
    plan = CallPlan(
        call_id=new_call_id(),
        sources=tuple(public.format(number=n) for n in sources),
        destinations=tuple(public.format(number=n) for n in dests),
        source_caller_id=cid,
        destination_caller_id=dest_cid,
        wait=wait,
        duration=duration,
        headers=headers,
    )
    meta = CallMeta(
        ext.number,
        directory.owner(ext).id,
        app.name,
        nonce,
        now,
        tuple(sources),
        tuple(dests),
        cid,
        dest_cid,
        allow_public_transfer=False,
    )
    return Plan(plan, meta, node)


async def make_callback_call(request: web.Request) -> web.Response:
    """202 with `[{"id", "extension", "link"}]` once Asterisk accepted the Originate."""
    svc, app, user, body = await request_of(request)
    planned = plan_callback(
        body, request.query, directory=svc.directory, app=app, user=user, now=time.time()
    )
    placed = await svc.placing.place(planned)
    return placed_answer(request, [(placed.call_id, placed.extension)])


def add_routes(app: web.Application, prefix: str) -> None:
    app.router.add_post(f"{prefix}/phoneCalls/{{userId}}/callback", idempotent(make_callback_call))
