"""`POST /uapi/phoneCalls/{userId}/conferenceInvite`: parse the request, run
bridge.calls.phoneless's Invites (one call per destination into the conference's room), answer
202 with the calls. Codes: uapi.md Part 3 §14.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from bridge.api.callviews import placed_answer
from bridge.api.fields import (
    MAX_WAIT,
    caller_id_or,
    first_view,
    numbers,
    sip_headers,
    whole_number,
)
from bridge.api.idempotency import idempotent
from bridge.api.phoneless import extension_number, request_of
from bridge.calls.phoneless import Invite
from bridge.errors import invalid
from bridge.tenants import App, User

_ROOM_NUMBER = re.compile(r"[0-9]{1,9}")
_PIN = re.compile(r"[0-9]{1,16}")


def _digits(raw: str | None, pattern: re.Pattern[str], code: str, what: str) -> str | None:
    if raw is None:
        return None
    if not pattern.fullmatch(raw):
        raise invalid(code, f"{what} must be ASCII digits ({pattern.pattern}).")
    return raw


def parse_invite(body: Any, query: Mapping[str, str], app: App, user: User | None) -> Invite:
    """The request as bridge.calls.phoneless takes it (400 with the field's code if not)."""
    extension = extension_number(body, "conference")
    view = first_view(body, "pc_destination_invalid")
    raw_source = view.get("source")
    sources = (
        None if raw_source is None else tuple(numbers(raw_source, "pc_source_invalid", "source"))
    )
    destinations = numbers(view.get("destination"), "pc_destination_invalid", "destination")
    raw_cid = view.get("callerId")
    return Invite(
        app=app,
        user=user,
        extension=extension,
        sources=sources,
        destinations=tuple(destinations),
        caller_id=None if raw_cid is None else caller_id_or(raw_cid, ""),
        wait=whole_number(query.get("waitForPickup"), 25, 1, MAX_WAIT, "pc_timeout_invalid"),
        number=_digits(query.get("number"), _ROOM_NUMBER, "pc_number_invalid", "number"),
        pin=_digits(query.get("pin"), _PIN, "pc_pin_invalid", "pin") or "",
        headers=sip_headers(view.get("sipHeaders")),
    )


async def invite(request: web.Request) -> web.Response:
    """202 with one PhoneCall per destination once Asterisk accepted each Originate."""
    svc, app, user, body = await request_of(request)
    placed = await svc.invites.run(parse_invite(body, request.query, app, user))
    return placed_answer(request, [(p.call_id, p.extension) for p in placed])


def add_routes(app: web.Application, prefix: str) -> None:
    app.router.add_post(f"{prefix}/phoneCalls/{{userId}}/conferenceInvite", idempotent(invite))
