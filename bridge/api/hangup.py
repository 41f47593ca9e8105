"""`DELETE /uapi/phoneCalls/{userId}/{extension}[/{phoneCallId}]`: hang calls up.

The calls of an extension are those List shows (the tracker's `calls_of`: a party, or charged
to it), so whatever List shows under a path can be hung up through the same path. The legs
hung up are the channels the tracker follows for the call (or for one party of it).
"""

from __future__ import annotations

import contextlib

import structlog
from aiohttp import web

from bridge.ami.ports import AmiPort
from bridge.api.common import nothing
from bridge.api.context import call_scope, services
from bridge.directory import Directory
from bridge.domain.callids import is_call_id
from bridge.domain.calls import CallTracker
from bridge.domain.model import Call
from bridge.errors import AmiActionFailed, PbxUnavailable, invalid
from bridge.tenants import User

log = structlog.get_logger("bridge.calls")


def _channels(tracker: CallTracker, call: Call, party_key: str | None) -> list[str]:
    """The names of the call's live channels (one party's only, with `party_key`), parties'
    legs first in view order, then the plumbing (Local channels)."""
    parties = list(call.parties.values())
    if party_key is not None:
        parties = [p for p in parties if p.key == party_key]
    uids = [u for p in parties for u in sorted(p.channels)]
    if party_key is None:
        uids += sorted(call.channels - set(uids))
    return [tracker.channels[u].name for u in uids if u in tracker.channels]


async def _hang_up(pbx: AmiPort, names: list[str]) -> None:
    for name in names:
        # Hanging up one leg may already have ended the others.
        with contextlib.suppress(AmiActionFailed):
            await pbx.send({"Action": "Hangup", "Channel": name})


def _party_key(directory: Directory, user: User | None, number: str) -> str:
    """How the tracker names the party `phoneNumber` gives: an extended number, or as is."""
    org = directory.organization_of_user(user) if user else None
    ext = directory.find_extension(number, org)
    return ext.number if ext else number


async def hang_up(request: web.Request) -> web.Response:
    """200 with the ids hung up; `nothing` when there was nothing to hang up."""
    svc = services(request)
    scope = call_scope(request)
    call_id = request.match_info.get("phoneCallId")
    if call_id is not None and not is_call_id(call_id):
        raise invalid("pc_phonecall_invalid", f"{call_id!r} is not a phone call id.")
    number = request.query.get("phoneNumber")
    party_key = None if number is None else _party_key(svc.directory, scope.user, number.strip())
    if not svc.pbx.connected:
        raise PbxUnavailable("not connected: the live calls are not known")
    calls = svc.tracker.calls_of({e.number for e in scope.extensions})
    if call_id is not None:
        calls = [c for c in calls if c.id == call_id]
        if not calls:
            raise invalid("pc_phonecall_invalid", f"{call_id} is not a live call here.")
    done = []
    for call in calls:
        names = _channels(svc.tracker, call, party_key)
        if names:
            await _hang_up(svc.pbx, names)
            done.append(call.id)
            log.info("call.hangup", call_id=call.id, channels=names)
    if not done:
        return nothing(request, [])
    return web.json_response([{"id": cid} for cid in done])


def add_routes(app: web.Application, prefix: str) -> None:
    base = f"{prefix}/phoneCalls/{{userId}}/{{extension}}"
    app.router.add_delete(base, hang_up)
    app.router.add_delete(f"{base}/{{phoneCallId}}", hang_up)
