"""`PUT /uapi/phoneCalls/{userId}/{extension}/{phoneCallId}`: call-control actions.

Parses the action and the fields it uses (bridge.api.fields), runs bridge.calls.control, and
answers with the call as it is then (Park: an array of one; the empty answer if it ended).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from bridge.api.callviews import render_call
from bridge.api.common import nothing, read_json
from bridge.api.context import api_prefix, base_url, call_scope, current_app, services
from bridge.api.fields import (
    MAX_WAIT,
    caller_id_or,
    flag,
    scalar_text,
    shown,
    view_id,
    whole_number,
)
from bridge.calls import control
from bridge.domain.model import FORMATS
from bridge.errors import invalid

Fields = dict[str, Any]


def _max_in_parking(body: Mapping[str, Any]) -> Fields:
    raw = body.get("maxInParking")
    return {"max_in_parking": whole_number(raw, 180, 10, 3600, "pc_maxinparking_invalid")}


def _send_call_to(body: Mapping[str, Any]) -> Fields:
    number = scalar_text(body.get("sendCallTo"))
    if not number:
        raise invalid("pc_sendcallto_invalid", "sendCallTo is required.")
    return {"send_call_to": number}


def _ringing(body: Mapping[str, Any]) -> Fields:
    raw = body.get("callerId")
    return {
        "caller_id": None if raw is None else caller_id_or(raw, ""),
        "wait": whole_number(body.get("waitForPickup"), 25, 1, MAX_WAIT, "pc_timeout_invalid"),
    }


def _party_number(raw: Any) -> str | None:
    return None if raw is None else (scalar_text(raw) or "")


def _transfer(body: Mapping[str, Any]) -> Fields:
    return {
        "transfer_number": _party_number(body.get("transferNumber")),
        "transfer_from_number": _party_number(body.get("transferFromNumber")),
    }


def _wait(body: Mapping[str, Any]) -> Fields:
    return {"wait": whole_number(body.get("waitForPickup"), 25, 1, MAX_WAIT, "pc_timeout_invalid")}


def _format(body: Mapping[str, Any]) -> Fields:
    fmt = body.get("format", "wav")
    if not isinstance(fmt, str) or fmt not in FORMATS:
        raise invalid("pc_format_invalid", "format must be wav or wav49.")
    return {"format": fmt}


def _private(body: Mapping[str, Any]) -> Fields:
    return {"private": flag(body.get("private"), "pc_private_invalid")}


_DIGITS = re.compile(r"[0-9*#A-D]{1,32}")
_DIRECTIONS = ("in", "out", "both")


def _digits(body: Mapping[str, Any]) -> Fields:
    raw = body.get("digits")
    if not isinstance(raw, str) or not _DIGITS.fullmatch(raw):
        raise invalid("pc_digits_invalid", "digits must be 1 to 32 of 0-9, *, #, A-D.")
    return {"digits": raw}


def _duration(body: Mapping[str, Any]) -> Fields:
    return {"duration": whole_number(body.get("duration"), 250, 100, 1000, "pc_duration_invalid")}


def _direction(body: Mapping[str, Any]) -> Fields:
    raw = body.get("direction", "out")
    if not isinstance(raw, str) or raw not in _DIRECTIONS:
        raise invalid("pc_direction_invalid", "direction must be in, out or both.")
    return {"direction": raw}


# The fields each action reads, parsed in this order.
PARSERS: dict[str, tuple[Callable[[Mapping[str, Any]], Fields], ...]] = {
    "Park": (_max_in_parking,),
    "UnPark": (_send_call_to, _ringing),
    "Transfer": (_send_call_to, _wait, _transfer),
    "TransferToVoicemail": (_send_call_to, _transfer),
    "OnHold": (),
    "OffHold": (),
    "StartRecording": (_format,),
    "StopRecording": (),
    "PickUp": (_send_call_to, _ringing),
    "BargeIn": (_send_call_to, _ringing),
    "Monitor": (_send_call_to, _ringing),
    "Whisper": (_send_call_to, _private, _ringing),
    "SendDTMF": (_digits, _duration),
    "Mute": (_direction,),
    "Unmute": (_direction,),
    "AttendedTransfer": (_send_call_to, _wait),
    "CompleteTransfer": (),
    "CancelTransfer": (),
}


def parse_control(
    body: Any, call_id: str, scope_extensions: list[Any], app: str = ""
) -> control.Control:
    """The request as bridge.calls.control takes it (400 with the field's code if not)."""
    action = body.get("action") if isinstance(body, dict) else None
    if not isinstance(action, str) or action not in control.ACTIONS:
        raise invalid("pc_action_invalid", f"action must be one of {', '.join(control.ACTIONS)}.")
    fields: Fields = {}
    for parser in PARSERS[action]:
        fields.update(parser(body))
    raw_view = body.get("phoneCallViewId")
    return control.Control(
        action=action,
        call_id=call_id,
        extensions=tuple(scope_extensions),
        view=view_id(raw_view),
        view_given=None if raw_view is None else shown(raw_view),
        app=app,
        **fields,
    )


async def run_action(request: web.Request) -> web.Response:
    """200 with the updated PhoneCall (Park: an array of one), 204 if the call is gone."""
    svc = services(request)
    scope = call_scope(request)
    req = parse_control(
        await read_json(request),
        request.match_info["phoneCallId"],
        scope.extensions,
        current_app(request).name,
    )
    call = await svc.control.run(req)
    base = f"{base_url(request)}{api_prefix(request)}/phoneCalls/{scope.user_ref}"
    rendered = render_call(svc, call, base)
    answer = [rendered] if req.action == "Park" else rendered
    if call.id not in svc.nodes.cluster.calls:  # the action ended the call: as it was last seen
        return nothing(request, answer)
    return web.json_response(answer)


def add_routes(app: web.Application, prefix: str) -> None:
    app.router.add_put(f"{prefix}/phoneCalls/{{userId}}/{{extension}}/{{phoneCallId}}", run_action)
