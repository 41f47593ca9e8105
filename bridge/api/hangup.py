"""`DELETE /uapi/phoneCalls/{userId}/{extension}[/{phoneCallId}][?phoneNumber=]`: hang calls up.

Parses the path and query, runs bridge.calls.hangup, answers 200 with the ids hung up (or the
empty answer when there was nothing to hang up).
"""

from __future__ import annotations

from aiohttp import web

from bridge.api.common import nothing
from bridge.api.context import call_scope, services
from bridge.api.fields import optional_number_text
from bridge.calls.hangup import HangUp
from bridge.domain.callids import is_call_id
from bridge.errors import invalid


async def hang_up(request: web.Request) -> web.Response:
    """200 with the ids hung up; `nothing` when there was nothing to hang up."""
    scope = call_scope(request)
    call_id = request.match_info.get("phoneCallId")
    if call_id is not None and not is_call_id(call_id):
        raise invalid("pc_phonecall_invalid", f"{call_id!r} is not a phone call id.")
    party = optional_number_text(
        request.query.get("phoneNumber"), "pc_phonenumber_invalid", "phoneNumber"
    )
    done = await services(request).hangups.run(
        HangUp(frozenset(e.number for e in scope.extensions), scope.user, call_id, party)
    )
    if not done:
        return nothing(request, [])
    return web.json_response([{"id": cid} for cid in done])


def add_routes(app: web.Application, prefix: str) -> None:
    base = f"{prefix}/phoneCalls/{{userId}}/{{extension}}"
    app.router.add_delete(base, hang_up)
    app.router.add_delete(f"{base}/{{phoneCallId}}", hang_up)
