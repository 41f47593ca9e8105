"""`GET|PUT /uapi/extensions/{userId}/{conference}/conference/participants[/{participantId}]`
(a bridge addition, issue 26): who is in a Conference extension's ConfBridge room, and Mute,
Unmute or Kick one of them.

Tenant rules as for presence: only the conference extension's owner (and apps that may act
for them). The list comes from what the bridge keeps of ConfBridge events (no AMI request per
GET); the actions run through bridge.calls.participants.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from bridge.api.common import json_ok, nothing, read_json
from bridge.api.context import Services, current_app, services
from bridge.calls import participants
from bridge.calls.nodes import Node
from bridge.directory import SELF
from bridge.domain.callids import phone_call_id
from bridge.domain.channels import dial_target
from bridge.domain.conferences import Participant, room_name
from bridge.domain.views import iso
from bridge.errors import invalid
from bridge.tenants import Extension

_ROOM_NUMBER = re.compile(r"[0-9]{1,9}")


def _conference(request: web.Request) -> tuple[Services, Extension, str]:
    """The path's Conference extension and the room `?number=` names (400 if not one)."""
    svc, app = services(request), current_app(request)
    number = request.match_info["extension"]
    if number == SELF:
        raise invalid("extension_invalid", "Name one conference extension; @self is not allowed.")
    user = svc.directory.resolve_user(app, request.match_info["userId"], "extension_invalid")
    ext = svc.directory.resolve_extension(app, user, number)
    if ext.type != "conference":
        raise invalid("extension_invalid", f"{ext.number} is not a conference extension.")
    raw = request.query.get("number")
    if raw is not None and not _ROOM_NUMBER.fullmatch(raw):
        raise invalid("pc_number_invalid", "number must be 1 to 9 ASCII digits.")
    return svc, ext, room_name(ext.prefix, ext.short, raw)


def _number(svc: Services, node: Node, member: Participant) -> str:
    """The party the call tracker names this channel (an extension's extended number, or the
    public number it was dialled with), else its extension, else its caller number."""
    chan = node.tracker.channels.get(member.id)
    if chan is not None and chan.party:
        return chan.party
    ext = svc.directory.extension_by_channel(dial_target(member.channel))
    return ext.number if ext is not None else member.number


def _call_id(node: Node, member: Participant) -> str:
    chan = node.tracker.channels.get(member.id)
    return chan.call_id if chan is not None else phone_call_id(member.linkedid, node.tracker.node)


def _render(svc: Services, node: Node, member: Participant) -> dict[str, Any]:
    shown = f"{member.name} <{member.number}>" if member.name else member.number
    out: dict[str, Any] = {
        "id": member.id,
        "phoneCallId": _call_id(node, member),
        "number": _number(svc, node, member),
        "callerId": shown,
        "joined": iso(member.joined),
        "muted": member.muted,
    }
    if member.talking is not None:
        out["talking"] = member.talking
    return out


async def list_participants(request: web.Request) -> web.Response:
    """200 with the room's participants, oldest first; 204 when the room is empty."""
    svc, ext, room = _conference(request)
    node = svc.nodes.of_extension(ext)
    members = [_render(svc, node, m) for m in node.rooms.participants(room)]
    return json_ok(members) if members else nothing(request, [])


async def act_on_participant(request: web.Request) -> web.Response:
    """200 with the participant after Mute/Unmute, 204 after Kick."""
    svc, ext, room = _conference(request)
    body = await read_json(request)
    action = body.get("action") if isinstance(body, dict) else None
    if not isinstance(action, str) or action not in participants.ACTIONS:
        raise invalid("pc_action_invalid", "action must be Mute, Unmute or Kick.")
    node = svc.nodes.live_for([ext])[0]
    ctx = participants.Context(node.pbx, node.rooms, svc.watch)
    member = await participants.run(ctx, room, request.match_info["participantId"], action)
    if member is None:
        return web.Response(status=204)
    return json_ok(_render(svc, node, member))


def add_routes(app: web.Application, prefix: str) -> None:
    base = f"{prefix}/extensions/{{userId}}/{{extension}}/conference/participants"
    app.router.add_get(base, list_participants)
    app.router.add_put(f"{base}/{{participantId}}", act_on_participant)
