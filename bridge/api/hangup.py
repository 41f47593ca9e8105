"""`DELETE /uapi/phoneCalls/{userId}/{extension}[/{phoneCallId}]`: hang calls up.

Asterisk's own list of live channels (CoreShowChannels) is the truth here: a call is the set of
channels sharing a Linkedid, and it belongs to an extension when one of them is that
extension's endpoint.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping

import structlog
from aiohttp import web

from bridge.api.context import call_scope, services
from bridge.api.phonecalls import Pbx
from bridge.config import Extension
from bridge.domain.channels import dial_target, group_by_call
from bridge.errors import AmiActionFailed, PbxUnavailable, invalid

log = structlog.get_logger("bridge.calls")
_CALL_ID = re.compile(r"[0-9a-f]{20}")
Channel = Mapping[str, str]


def _involves(chans: list[Channel], exts: list[Extension]) -> bool:
    targets = {e.channel.lower() for e in exts}
    return any(dial_target(c["Channel"]).lower() in targets for c in chans)


def _party(chans: list[Channel], number: str, ext: Extension | None) -> list[Channel]:
    """The channels of one party: an extension's endpoint, or a public number's leg."""
    if ext is not None:
        return [c for c in chans if dial_target(c["Channel"]).lower() == ext.channel.lower()]
    return [c for c in chans if number in (c.get("Exten"), c.get("CallerIDNum"))
            and not c["Channel"].startswith("Local/")]


async def _live_calls(pbx: Pbx | None) -> dict[str, list[Channel]]:
    if pbx is None or not pbx.connected:
        raise PbxUnavailable("not connected")
    return group_by_call(await pbx.send_list({"Action": "CoreShowChannels"}))


async def _hang_up(pbx: Pbx, chans: list[Channel]) -> None:
    for chan in chans:
        # Hanging up one leg may already have ended the others.
        with contextlib.suppress(AmiActionFailed):
            await pbx.send({"Action": "Hangup", "Channel": chan["Channel"]})


async def hang_up(request: web.Request) -> web.Response:
    """200 with the ids hung up; 204 when there was nothing to hang up."""
    svc = services(request)
    scope = call_scope(request)
    user, exts = scope.user, scope.extensions
    call_id = request.match_info.get("phoneCallId")
    if call_id is not None and not _CALL_ID.fullmatch(call_id):
        raise invalid("pc_phonecall_invalid", f"{call_id!r} is not a phone call id.")
    number = request.query.get("phoneNumber")
    party_ext = None
    if number is not None:
        org = svc.directory.organization_of_user(user) if user else None
        party_ext = svc.directory.find_extension(number.strip(), org)
    calls = {cid: chans for cid, chans in (await _live_calls(svc.pbx)).items()
             if _involves(chans, exts)}
    if call_id is not None:
        if call_id not in calls:
            raise invalid("pc_phonecall_invalid", f"{call_id} is not a live call here.")
        calls = {call_id: calls[call_id]}
    done = []
    for cid, chans in calls.items():
        victims = chans if number is None else _party(chans, number.strip(), party_ext)
        if victims:
            assert svc.pbx is not None
            await _hang_up(svc.pbx, victims)
            done.append(cid)
            log.info("call.hangup", call_id=cid, channels=[c["Channel"] for c in victims])
    if not done:
        return web.Response(status=204)
    return web.json_response([{"id": cid} for cid in done])


def add_routes(app: web.Application, prefix: str) -> None:
    base = f"{prefix}/phoneCalls/{{userId}}/{{extension}}"
    app.router.add_delete(base, hang_up)
    app.router.add_delete(f"{base}/{{phoneCallId}}", hang_up)
