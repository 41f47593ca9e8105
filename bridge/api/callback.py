"""`POST /uapi/phoneCalls/{userId}/callback`: parse the request, run bridge.calls.phoneless's
Callbacks, answer 202 with the call. Codes: uapi.md Part 3 §13.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from bridge.api.callviews import placed_answer
from bridge.api.fields import (
    MAX_DURATION,
    MAX_WAIT,
    caller_id_or,
    first_view,
    nonce,
    numbers,
    optional_number,
    sip_headers,
    whole_number,
)
from bridge.api.idempotency import idempotent
from bridge.api.phoneless import extension_number, request_of
from bridge.calls.phoneless import Callback
from bridge.tenants import App, User


def _caller_id(raw: Any) -> str | None:
    return None if raw is None else caller_id_or(raw, "")


def parse_callback(body: Any, query: Mapping[str, str], app: App, user: User | None) -> Callback:
    """The request as bridge.calls.phoneless takes it (400 with the field's code if not)."""
    extension = extension_number(body, "callback")
    view = first_view(body, "pc_source_invalid")
    sources = numbers(view.get("source"), "pc_source_invalid", "source")
    destinations = numbers(view.get("destination"), "pc_destination_invalid", "destination")
    caller_id = _caller_id(view.get("callerId"))
    destination_caller_id = _caller_id(
        view.get("callerIdDestination", view.get("callerDestination"))
    )
    return Callback(
        app=app,
        user=user,
        extension=extension,
        sources=tuple(sources),
        destinations=tuple(destinations),
        caller_id=caller_id,
        destination_caller_id=destination_caller_id,
        wait=whole_number(query.get("waitForPickup"), 25, 1, MAX_WAIT, "pc_timeout_invalid"),
        duration=optional_number(query.get("callDuration"), 1, MAX_DURATION, "pc_duration_invalid"),
        headers=sip_headers(view.get("sipHeaders")),
        nonce=nonce(body.get("nonce")),
    )


async def make_callback_call(request: web.Request) -> web.Response:
    """202 with `[{"id", "extension", "link"}]` once Asterisk accepted the Originate."""
    svc, app, user, body = await request_of(request)
    placed = await svc.callbacks.run(parse_callback(body, request.query, app, user))
    return placed_answer(request, [(placed.call_id, placed.extension)])


def add_routes(app: web.Application, prefix: str) -> None:
    app.router.add_post(f"{prefix}/phoneCalls/{{userId}}/callback", idempotent(make_callback_call))
