"""`PUT /uapi/phoneCalls/{userId}/{extension}/{phoneCallId}`: call-control actions.

Everything is validated before anything reaches Asterisk: the action, the live call of the
path's extension, the view, then each action's own fields. The party a view names is the
actor: Park, OnHold and Transfer act on the party it talks to; UnPark and PickUp on the view's
own parked or ringing party; recording and BargeIn/Whisper/Monitor on the view's party.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import web

from bridge.ami import control
from bridge.ami.message import ActionFields
from bridge.ami.ports import AmiPort
from bridge.api.callviews import render_call
from bridge.api.common import nothing, read_json
from bridge.api.context import Services, api_prefix, base_url, call_scope, services
from bridge.api.fields import (
    MAX_WAIT,
    caller_id_or,
    flag,
    scalar_text,
    shown,
    view_id,
    whole_number,
)
from bridge.directory import is_public_number
from bridge.domain.callids import new_leg_id
from bridge.domain.model import RINGING, UP, Call, Channel, Party
from bridge.errors import AmiActionFailed, PbxUnavailable, invalid
from bridge.tenants import Extension, ExtensionType, Organization

log = structlog.get_logger("bridge.calls")
FORMATS = {"wav": "wav", "wav49": "WAV"}  # StartRecording format -> MixMonitor file extension
SPY_OPTIONS = {"BargeIn": "qBE", "Monitor": "qE"}


@dataclass
class Act:
    """One validated request: the call, the view's party, the body, and where things are."""

    svc: Services
    pbx: AmiPort
    call: Call
    party: Party
    body: dict[str, Any]
    org: Organization

    def channel(self, party: Party, *, state: int = UP) -> Channel:
        """The party's live channel in `state` (Up by default), or pc_phonecallview_invalid."""
        chans = [self.svc.tracker.channels[u] for u in party.channels
                 if u in self.svc.tracker.channels]
        for chan in chans:
            if chan.state == state:
                return chan
        want = "ringing" if state == RINGING else "on the call"
        raise invalid("pc_phonecallview_invalid", f"{party.key} is not {want}.")

    def counterpart(self) -> Party:
        """The party the view's party talks to: another party that is up."""
        others = [p for p in self.call.parties.values() if p is not self.party and any(
            self.svc.tracker.channels[u].state == UP for u in p.channels
            if u in self.svc.tracker.channels)]
        if not others:
            raise invalid("pc_phonecallview_invalid", f"{self.party.key} talks to nobody.")
        opposite = [p for p in others if p.role != self.party.role]
        return (opposite or others)[0]

    def party_named(self, raw: Any, code: str) -> Party:
        """A party of the call given by number (short or extended extension, or public)."""
        party = _party_of_number(self.svc, self.call, self.org, raw)
        if party is None:
            raise invalid(code, f"{shown(raw)} is not a party of this call.")
        return party

    def local(self, number: str) -> Extension | None:
        """The extension `number` names inside the call's organization, if any."""
        ext = self.svc.directory.find_extension(number, self.org)
        directory = self.svc.directory
        return ext if ext is not None and directory.owner(ext).organization == self.org.id else (
            None)

    def terminal(self, raw: Any) -> Extension:
        """sendCallTo as a phone terminal of the organization."""
        ext = self.extension(raw)
        if ext is None or ext.type != ExtensionType.PHONE_TERMINAL:
            raise invalid("pc_sendcallto_invalid", f"{raw!r} is not a phone terminal extension.")
        return ext

    def extension(self, raw: Any) -> Extension | None:
        """sendCallTo as an extension of the call's organization (None: not one)."""
        number = scalar_text(raw)
        if not number:
            raise invalid("pc_sendcallto_invalid", "sendCallTo is required.")
        return self.local(number)

    async def send(self, action: ActionFields) -> None:
        await self.pbx.send(action)

    async def settle(self, done: Callable[[], bool], within: float = 1.5) -> None:
        """Waits (briefly) until the AMI events of the action reached the tracker."""
        deadline = time.monotonic() + within
        # The tracker is pure and has no way to signal; a short poll is enough here.
        while not done() and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.02)


async def _ring_into(act: Act, ext: Extension, context: str, variables: dict[str, str]) -> None:
    """Rings `ext` (sendCallTo) and, on answer, runs `context` for this call."""
    caller = caller_id_or(act.body.get("callerId"), ext.caller_id)
    wait = whole_number(act.body.get("waitForPickup"), 25, 1, MAX_WAIT, "pc_timeout_invalid")
    uniqueid = new_leg_id(act.call.id)
    act.svc.tracker.expect(uniqueid, act.call.id)
    try:
        await act.send(control.call_into(
            context, uniqueid=uniqueid, endpoint=ext.channel, caller_id=caller, wait=wait,
            variables={"UAPI_CALL_ID": act.call.id, **variables}))
    except Exception:
        act.svc.tracker.unexpect(uniqueid)
        raise
    log.info("call.control.ringing", call_id=act.call.id, context=context, phone=ext.number)


async def park(act: Act) -> None:
    seconds = whole_number(act.body.get("maxInParking"), 180, 10, 3600, "pc_maxinparking_invalid")
    other = act.counterpart()
    chan, parker = act.channel(other), act.channel(act.party)
    await act.send(control.park(chan.name, parker.name, seconds, act.svc.config.parking.lot))
    await act.settle(lambda: other.parked is not None)
    for uid in list(act.party.channels):  # the parker is free (most dialplans hang it up)
        with contextlib.suppress(AmiActionFailed, KeyError):
            await act.send({"Action": "Hangup", "Channel": act.svc.tracker.channels[uid].name})


async def unpark(act: Act) -> None:
    ext = act.terminal(act.body.get("sendCallTo"))
    parked = [p for p in act.call.parties.values() if p.parked is not None]
    target = act.party if act.party.parked is not None else (parked[0] if len(parked) == 1
                                                             else None)
    if target is None or target.parked_pos is None:
        raise invalid("pc_phonecallview_invalid", "That view is not parked.")
    await _ring_into(act, ext, "uapi-unpark", {"UAPI_PARK_LOT": act.svc.config.parking.lot,
                                          "UAPI_PARK_SPACE": target.parked_pos})


async def _move(act: Act, context: str, variables: dict[str, str]) -> Party:
    """Setvar + Redirect of the party being transferred (transferNumber, by default the
    party the view's party talks to)."""
    raw = act.body.get("transferNumber")
    moved = act.party_named(raw, "pc_transfernumber_invalid") if raw is not None else (
        act.counterpart())
    if act.body.get("transferFromNumber") is not None:
        act.party_named(act.body["transferFromNumber"], "pc_transferfromnumber_invalid")
    chan = act.channel(moved)
    for name, value in {"UAPI_CALL_ID": act.call.id, **variables}.items():
        await act.send(control.setvar(chan.name, name, value))
    await act.send(control.redirect(chan.name, context))
    return moved


async def transfer(act: Act) -> None:
    raw = act.body.get("sendCallTo")
    ext = act.extension(raw)
    wait = whole_number(act.body.get("waitForPickup"), 25, 1, MAX_WAIT, "pc_timeout_invalid")
    if ext is not None:
        target = ext.channel
    elif is_public_number(str(raw).strip()):
        meta = act.call.meta
        if meta is None or not meta.allow_public_transfer:
            raise invalid("pc_sendcallto_invalid",
                          "A public number needs allowPublicTransfer when the call is made.")
        target = act.svc.config.dialing.public.format(number=str(raw).strip())
    else:
        raise invalid("pc_sendcallto_invalid", f"{raw!r} is neither an extension nor a number.")
    moved = await _move(act, "uapi-transfer", {"UAPI_TRANSFER_TO": target,
                                               "UAPI_WAIT": str(wait)})
    log.info("call.control.transferred", call_id=act.call.id, party=moved.key, to=target)


async def to_voicemail(act: Act) -> None:
    ext = act.terminal(act.body.get("sendCallTo"))
    box = act.svc.config.dialing.voicemail.format(short=ext.short, number=ext.number,
                                                  prefix=ext.prefix)
    await _move(act, "uapi-voicemail", {"UAPI_MAILBOX": box})


async def hold(act: Act) -> None:
    other = act.counterpart()
    chan = act.channel(other)
    peers = [c for c in act.svc.tracker.channels.values()
             if c.bridge is not None and c.bridge == chan.bridge and c is not chan]
    if not peers:
        raise invalid("pc_phonecallview_invalid", f"{other.key} is not in a conversation.")
    await act.send(control.redirect(chan.name, "uapi-hold",
                                    extra=(peers[0].name, "uapi-hold-peer")))
    act.svc.tracker.mark_holder(act.call.id, act.party.key)
    await act.settle(lambda: other.on_hold is not None)


async def unhold(act: Act) -> None:
    held = [p for p in act.call.parties.values() if p.on_hold is not None]
    if not held:
        raise invalid("pc_phonecallview_invalid", "Nothing in this call is on hold.")
    chan = act.channel(held[0])
    waiting = [c["Channel"] for c in await act.pbx.send_list({"Action": "CoreShowChannels"})
               if c.get("Context") == "uapi-hold-peer" and c["Uniqueid"] in act.call.channels]
    if not waiting:
        raise invalid("pc_phonecallview_invalid", "The call was not put on hold by the bridge.")
    await act.send(control.bridge(waiting[0], chan.name))
    await act.settle(lambda: held[0].on_hold is None)


async def start_recording(act: Act) -> None:
    fmt = act.body.get("format", "wav")
    if not isinstance(fmt, str) or fmt not in FORMATS:
        raise invalid("pc_format_invalid", "format must be wav or wav49.")
    chan = act.channel(act.party)
    file = f"uapi-{act.call.id}-{act.party.view_id}-{int(time.time())}.{FORMATS[fmt]}"
    await act.send(control.start_recording(chan.name, file))
    await act.settle(lambda: act.party.recording is not None)
    log.info("call.recording.started", call_id=act.call.id, party=act.party.key, file=file)


async def stop_recording(act: Act) -> None:
    if act.party.recording is None:
        raise invalid("pc_phonecallview_invalid", f"{act.party.key} is not being recorded.")
    await act.send(control.stop_recording(act.channel(act.party).name))
    await act.settle(lambda: act.party.recording is None)


async def pick_up(act: Act) -> None:
    ext = act.terminal(act.body.get("sendCallTo"))
    chan = act.channel(act.party, state=RINGING)
    await _ring_into(act, ext, "uapi-pickup", {"UAPI_TARGET": chan.name})


async def spy(act: Act) -> None:
    ext = act.terminal(act.body.get("sendCallTo"))
    action = act.body["action"]
    opts = SPY_OPTIONS.get(action)
    if opts is None:  # Whisper
        opts = "qWE" if flag(act.body.get("private"), "pc_private_invalid") else "qwE"
    chan = act.channel(act.party)
    await _ring_into(act, ext, "uapi-spy", {"UAPI_TARGET": chan.name, "UAPI_SPY_OPTS": opts})


ACTIONS: dict[str, Callable[[Act], Awaitable[None]]] = {
    "Park": park, "UnPark": unpark, "Transfer": transfer, "TransferToVoicemail": to_voicemail,
    "OnHold": hold, "OffHold": unhold, "StartRecording": start_recording,
    "StopRecording": stop_recording, "PickUp": pick_up, "BargeIn": spy, "Whisper": spy,
    "Monitor": spy,
}


def _organization(svc: Services, call: Call, exts: list[Extension]) -> Organization:
    """The call's organization: that of its charged extension, else of the path's extension
    that takes part in it."""
    directory = svc.directory
    charged = directory.extensions.get(call.extension or "")
    ext = charged or next((e for e in exts if e.number in call.parties), exts[0])
    return directory.organization_of_user(directory.owner(ext))


def _party_of_number(svc: Services, call: Call, org: Organization, raw: Any) -> Party | None:
    """The party of the call a number names (short or extended extension, or public);
    another organization's extension names no party (it is answered like an unknown one)."""
    number = scalar_text(raw)
    if not number:
        return None
    directory = svc.directory
    ext = directory.find_extension(number, org)
    if ext is not None and directory.owner(ext).organization != org.id:
        return None
    if ext is None and directory.extended(number, org) is not None:
        return None
    return call.parties.get(ext.number if ext else number)


def _transferring(svc: Services, call: Call, body: dict[str, Any], exts: list[Extension],
                  org: Organization) -> Party:
    """Transfer without phoneCallViewId (as 4PSA's MCP server sends it): the party
    transferFromNumber names, else the path's extension if it is one party of the call."""
    named = _party_of_number(svc, call, org, body.get("transferFromNumber"))
    if named is not None:
        return named
    mine = [p for p in call.parties.values() if p.key in {e.number for e in exts}]
    if len(mine) == 1:
        return mine[0]
    given = body.get("transferFromNumber")
    why = (f"transferFromNumber {given!r} is not a party of this call" if given is not None
           else "transferFromNumber is missing")
    where = "is not a party of it" if not mine else f"names {len(mine)} of its parties"
    raise invalid("pc_phonecallview_invalid",
                  f"Give phoneCallViewId (the view that transfers): {why}, and the path "
                  f"({', '.join(e.number for e in exts)}) {where}.")


def _acting_party(svc: Services, call: Call, body: dict[str, Any], exts: list[Extension],
                  org: Organization) -> Party:
    """The view's party: phoneCallViewId, or for the transfers the transferring party."""
    raw = body.get("phoneCallViewId")
    if raw is None and body.get("action") in ("Transfer", "TransferToVoicemail"):
        return _transferring(svc, call, body, exts, org)
    if raw is None:
        raise invalid("pc_phonecallview_invalid",
                      "phoneCallViewId is missing: give the view of the party that acts.")
    wanted = view_id(raw)
    party = next((p for p in call.parties.values() if p.view_id == wanted), None)
    if party is None:
        raise invalid("pc_phonecallview_invalid", f"{raw!r} is not a view of this call.")
    return party


async def run_action(request: web.Request) -> web.Response:
    """200 with the updated PhoneCall (Park: an array of one), 204 if the call is gone."""
    svc = services(request)
    scope = call_scope(request)
    exts = scope.extensions
    body = await read_json(request)
    action = body.get("action") if isinstance(body, dict) else None
    handler = ACTIONS.get(action) if isinstance(action, str) else None
    if handler is None:
        raise invalid("pc_action_invalid", f"action must be one of {', '.join(ACTIONS)}.")
    if not svc.pbx.connected:
        raise PbxUnavailable("not connected")
    call_id = request.match_info["phoneCallId"]
    numbers = {e.number for e in exts}
    call = svc.tracker.calls.get(call_id)
    if call is None or not (call.extension in numbers or not numbers.isdisjoint(call.parties)):
        raise invalid("pc_phonecall_invalid", f"{call_id!r} is not a live call here.")
    org = _organization(svc, call, exts)
    party = _acting_party(svc, call, body, exts, org)
    await handler(Act(svc, svc.pbx, call, party, body, org))
    log.info("call.control", call_id=call.id, action=action, view=party.view_id)
    rendered = render_call(svc, call, f"{base_url(request)}{api_prefix(request)}/phoneCalls/"
                                      f"{scope.user_ref}")
    answer = [rendered] if action == "Park" else rendered
    if call.id not in svc.tracker.calls:  # the action ended the call: as it was last seen
        return nothing(request, answer)
    return web.json_response(answer)


def add_routes(app: web.Application, prefix: str) -> None:
    app.router.add_put(f"{prefix}/phoneCalls/{{userId}}/{{extension}}/{{phoneCallId}}",
                       run_action)
