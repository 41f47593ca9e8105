"""`POST /uapi/phoneCalls/{userId}/simple`: parse the request, place the call, answer 202.

Fields are checked in the order of the page's failure table; bridge.calls.placing resolves the
numbers (extension, then sources, then destinations) and sends the Originate.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from bridge.api.callviews import placed_answer
from bridge.api.common import read_json
from bridge.api.context import current_app, services
from bridge.api.fields import (
    MAX_DURATION,
    MAX_WAIT,
    caller_id_or,
    first_view,
    flag,
    nonce,
    numbers,
    optional_number,
    sip_headers,
    whole_number,
)
from bridge.api.idempotency import idempotent
from bridge.calls.placing import PlaceCall
from bridge.errors import invalid
from bridge.tenants import App, User


def _charged(body: Mapping[str, Any], sources: list[str]) -> str:
    number = body.get("extension", sources[0])
    if not isinstance(number, str | int) or isinstance(number, bool) or str(number) == "@self":
        raise invalid("extension_invalid", "extension must be a phone terminal number.")
    return str(number)


def _caller_id(raw: Any) -> str | None:
    return None if raw is None else caller_id_or(raw, "")


def parse_place_call(body: Any, query: Mapping[str, str], app: App, user: User | None) -> PlaceCall:
    """The request as bridge.calls.placing takes it (400 with the field's code if not)."""
    wait = whole_number(query.get("waitForPickup"), 25, 1, MAX_WAIT, "pc_timeout_invalid")
    duration = optional_number(query.get("callDuration"), 1, MAX_DURATION, "pc_duration_invalid")
    public_transfer = flag(query.get("allowPublicTransfer"), "pc_transfer_invalid")
    flag(query.get("video"), "pc_video_invalid")
    view = first_view(body, "pc_source_invalid")
    sources = numbers(view.get("source"), "pc_source_invalid", "source")
    destinations = numbers(view.get("destination"), "pc_destination_invalid", "destination")
    return PlaceCall(
        app=app,
        user=user,
        sources=tuple(sources),
        destinations=tuple(destinations),
        extension=_charged(body, sources),
        nonce=nonce(body.get("nonce")),
        caller_id=_caller_id(view.get("callerId")),
        destination_caller_id=_caller_id(
            view.get("callerIdDestination", view.get("callerDestination"))
        ),
        wait=wait,
        duration=duration,
        allow_public_transfer=public_transfer,
        headers=sip_headers(view.get("sipHeaders")),
    )


async def make_simple_call(request: web.Request) -> web.Response:
    """Places the call and answers 202 with its id before anybody picks up."""
    svc = services(request)
    app = current_app(request)
    user = svc.directory.resolve_user(app, request.match_info["userId"], "extension_invalid")
    req = parse_place_call(await read_json(request), request.query, app, user)
    placed = await svc.placing.run(req)
    return placed_answer(request, [(placed.call_id, placed.extension)])


def add_routes(app: web.Application, prefix: str) -> None:
    app.router.add_post(f"{prefix}/phoneCalls/{{userId}}/simple", idempotent(make_simple_call))
