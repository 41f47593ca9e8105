"""`POST /uapi/phoneCalls/{userId}/conferenceInvite`: dial people into a conference room.

Each destination (a public number or an extension of the organization) is rung; once it answers
it joins the ConfBridge room of the Conference extension and `number` (dialplan context
`uapi-conference`), with the PIN, when one is given, checked by ConfBridge first. Each invite is
a PhoneCall of its own, charged to the Conference extension. Codes: uapi.md Part 3 §14.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import web

from bridge.ami import actions
from bridge.api.callviews import placed_answer
from bridge.api.fields import MAX_WAIT, caller_id_or, numbers, sip_headers, whole_number
from bridge.api.idempotency import idempotent
from bridge.api.phoneless import first_view, owned_extension, request_of
from bridge.calls.placing import Resolver
from bridge.directory import Directory
from bridge.domain import conferences as rooms
from bridge.domain.callids import new_call_id
from bridge.domain.model import CallMeta
from bridge.errors import invalid
from bridge.tenants import App, Extension, User

log = structlog.get_logger("bridge.calls")
CONTEXT = "uapi-conference"
_ROOM_NUMBER = re.compile(r"[0-9]{1,9}")
_PIN = re.compile(r"[0-9]{1,16}")


@dataclass(frozen=True)
class Invite:
    """A validated invite: the room, and per destination (party key, dial target)."""

    extension: Extension
    room: str
    pin: str
    caller_id: str
    wait: int
    targets: tuple[tuple[str, str], ...]
    headers: tuple[tuple[str, str], ...] = ()  # sipHeaders (bridge addition)


def room_name(ext: Extension, number: str | None) -> str:
    """ConfBridge's room: one per Conference extension and `number` (no `*` in the name)."""
    return rooms.room_name(ext.prefix, ext.short, number)


def _digits(raw: str | None, pattern: re.Pattern[str], code: str, what: str) -> str | None:
    if raw is None:
        return None
    if not pattern.fullmatch(raw):
        raise invalid(code, f"{what} must be ASCII digits ({pattern.pattern}).")
    return raw


def plan_invite(
    body: Any, query: Mapping[str, str], *, directory: Directory, app: App, user: User | None
) -> Invite:
    """Validates an invite, each failure with its code (nothing is sent)."""
    ext = owned_extension(body, "conference", directory=directory, app=app, user=user)
    org = directory.organization_of_user(directory.owner(ext))
    view = first_view(body, "pc_destination_invalid")
    if view.get("source") is not None:
        given = numbers(view.get("source"), "pc_source_invalid", "source")
        if any(directory.find_extension(n, org) is not ext for n in given):
            raise invalid("pc_source_invalid", f"source must be the conference {ext.number}.")
    node = directory.node_of(ext)
    res = Resolver(directory, app, org, directory.public_of(node), node)
    dests = numbers(view.get("destination"), "pc_destination_invalid", "destination")
    targets = tuple(
        (res.party(n), res.target(n, "pc_destination_invalid", "destination")) for n in dests
    )
    caller_id = caller_id_or(view.get("callerId"), ext.caller_id)
    wait = whole_number(query.get("waitForPickup"), 25, 1, MAX_WAIT, "pc_timeout_invalid")
    number = _digits(query.get("number"), _ROOM_NUMBER, "pc_number_invalid", "number")
    pin = _digits(query.get("pin"), _PIN, "pc_pin_invalid", "pin") or ""
    headers = sip_headers(view.get("sipHeaders"))
    return Invite(ext, room_name(ext, number), pin, caller_id, wait, targets, headers)


async def invite(request: web.Request) -> web.Response:
    """202 with one PhoneCall per destination once Asterisk accepted each Originate."""
    svc, app, user, body = await request_of(request)
    inv = plan_invite(body, request.query, directory=svc.directory, app=app, user=user)
    node = svc.nodes.live_for([inv.extension])[0]
    owner = svc.directory.owner(inv.extension).id
    sends = []
    for party, target in inv.targets:
        call_id = new_call_id()
        meta = CallMeta(
            inv.extension.number,
            owner,
            app.name,
            None,
            time.time(),
            (),
            (party,),
            inv.caller_id,
            inv.caller_id,
            allow_public_transfer=False,
        )
        sends.append(
            (
                call_id,
                meta,
                actions.call_into(
                    CONTEXT,
                    uniqueid=call_id,
                    endpoint=target,
                    caller_id=inv.caller_id,
                    wait=inv.wait,
                    variables={"UAPI_CALL_ID": call_id, "UAPI_ROOM": inv.room, "UAPI_PIN": inv.pin},
                    headers=inv.headers,
                ),
            )
        )
    await svc.placing.invite(node.name, app.name, inv.extension.number, sends)
    for call_id, meta, _ in sends:
        log.info(
            "call.conference.invited",
            call_id=call_id,
            extension=inv.extension.number,
            room=inv.room,
            destination=meta.destinations[0],
        )
    placed = [(call_id, inv.extension.number) for call_id, _, _ in sends]
    return placed_answer(request, placed)


def add_routes(app: web.Application, prefix: str) -> None:
    app.router.add_post(f"{prefix}/phoneCalls/{{userId}}/conferenceInvite", idempotent(invite))
