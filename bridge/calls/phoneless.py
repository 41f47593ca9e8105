"""Calls charged to a phoneless extension: callback calls and conference invites (issue 13).

Callback (uapi.md Part 3 §13): the PBX calls a public number (the source) for a Callback
extension and, once it answers, the destination (public numbers only), and bridges them; placed
like a simple call (same dialplan, nonce, waitForPickup, callDuration), charged to the Callback
extension, on which nobody's phone rings.

Conference invite (§14): each destination (a public number or an extension of the
organization) is rung; once it answers it joins the ConfBridge room of the Conference extension
and `number` (dialplan context `uapi-conference`), with the PIN, when one is given, checked by
ConfBridge first. Each invite is a PhoneCall of its own, charged to the Conference extension.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from bridge.ami.actions import CallPlan, call_into
from bridge.ami.message import ActionFields
from bridge.calls.nodes import Nodes
from bridge.calls.placing import Placed, Placing, Plan
from bridge.calls.resolve import Resolver
from bridge.directory import Directory
from bridge.domain import conferences as rooms
from bridge.domain.callids import new_call_id
from bridge.domain.model import CallMeta
from bridge.errors import invalid
from bridge.tenants import App, Extension, ExtensionType, User

log = structlog.get_logger("bridge.calls")
CONTEXT = "uapi-conference"


@dataclass(frozen=True)
class Callback:
    """A callback request, parsed (every field well-formed; the tenant rules are checked by
    `Callbacks`)."""

    app: App
    user: User | None  # the path's user (None: @owner)
    extension: str  # the Callback extension as given
    sources: tuple[str, ...]  # public numbers
    destinations: tuple[str, ...]  # public numbers
    caller_id: str | None  # None: the Callback extension's
    destination_caller_id: str | None  # None: caller_id
    wait: int  # waitForPickup, seconds
    duration: int | None  # callDuration, seconds
    nonce: str | None
    headers: tuple[tuple[str, str], ...] = ()  # sipHeaders (bridge addition)


class Callbacks:
    """Places callback calls (through `Placing`: nonce, fair share, the store)."""

    def __init__(
        self, placing: Placing, directory: Directory, clock: Callable[[], float] = time.time
    ) -> None:
        self.placing = placing
        self.directory = directory
        self.clock = clock

    async def run(self, req: Callback) -> Placed:
        """Places the call (or finds the live call of the same nonce) without waiting."""
        return await self.placing.place(self.plan(req, self.clock()))

    def plan(self, req: Callback, now: float) -> Plan:
        """Resolves the request (400 with the field's code; nothing is sent)."""
        res = Resolver(self.directory, req.app, req.user)
        ext = res.owned(req.extension, ExtensionType.CALLBACK)
        org = res.organization(ext)
        res.public_numbers(list(req.sources), org, "pc_source_invalid", "source")
        res.public_numbers(list(req.destinations), org, "pc_destination_invalid", "destination")
        public = self.directory.public_of(self.directory.node_of(ext))
        cid = req.caller_id or ext.caller_id
        dest_cid = req.destination_caller_id or cid
        plan = CallPlan(
            call_id=new_call_id(),
            sources=tuple(public.format(number=n) for n in req.sources),
            destinations=tuple(public.format(number=n) for n in req.destinations),
            source_caller_id=cid,
            destination_caller_id=dest_cid,
            wait=req.wait,
            duration=req.duration,
            headers=req.headers,
        )
        owner = self.directory.owner(ext).id
        meta = CallMeta(
            ext.number,
            owner,
            req.app.name,
            req.nonce,
            now,
            req.sources,
            req.destinations,
            cid,
            dest_cid,
            allow_public_transfer=False,
        )
        return Plan(plan, meta, self.directory.node_of(ext))


@dataclass(frozen=True)
class Invite:
    """A conference invite, parsed (every field well-formed; the tenant rules are checked by
    `Invites`)."""

    app: App
    user: User | None  # the path's user (None: @owner)
    extension: str  # the Conference extension as given
    sources: tuple[str, ...] | None  # None: not given (else each must name the conference)
    destinations: tuple[str, ...]  # extensions of the organization or public numbers
    caller_id: str | None  # None: the Conference extension's
    wait: int  # waitForPickup, seconds
    number: str | None  # the room `number` of the conference (digits)
    pin: str = ""  # checked by ConfBridge before the invitee joins ("": none)
    headers: tuple[tuple[str, str], ...] = ()  # sipHeaders (bridge addition)


class Invites:
    """Rings each destination into the conference's ConfBridge room, one call each."""

    def __init__(
        self,
        placing: Placing,
        nodes: Nodes,
        directory: Directory,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.placing = placing
        self.nodes = nodes
        self.directory = directory
        self.clock = clock

    async def run(self, req: Invite) -> list[Placed]:
        """One call per destination, each once Asterisk accepted its Originate."""
        ext, targets = self._resolve(req)
        node = self.nodes.live_for([ext])[0]
        room = rooms.room_name(ext.prefix, ext.short, req.number)
        sends = [self._invite(req, ext, room, party, target) for party, target in targets]
        await self.placing.invite(node.name, req.app.name, ext.number, sends)
        for call_id, meta, _ in sends:
            log.info(
                "call.conference.invited",
                call_id=call_id,
                extension=ext.number,
                room=room,
                destination=meta.destinations[0],
            )
        return [Placed(call_id, ext.number) for call_id, _, _ in sends]

    def _resolve(self, req: Invite) -> tuple[Extension, list[tuple[str, str]]]:
        """The Conference extension and, per destination, (party key, dial target)."""
        res = Resolver(self.directory, req.app, req.user)
        ext = res.owned(req.extension, ExtensionType.CONFERENCE)
        org = res.organization(ext)
        if req.sources is not None and any(
            self.directory.find_extension(n, org) is not ext for n in req.sources
        ):
            raise invalid("pc_source_invalid", f"source must be the conference {ext.number}.")
        home = self.directory.node_of(ext)
        return ext, [
            (res.party(n, org), res.target(n, org, home, "pc_destination_invalid", "destination"))
            for n in req.destinations
        ]

    def _invite(
        self, req: Invite, ext: Extension, room: str, party: str, target: str
    ) -> tuple[str, CallMeta, ActionFields]:
        """One invite: its call id, what the tracker and the store keep, its Originate."""
        call_id = new_call_id()
        caller_id = req.caller_id or ext.caller_id
        owner = self.directory.owner(ext).id
        meta = CallMeta(
            ext.number,
            owner,
            req.app.name,
            None,
            self.clock(),
            (),
            (party,),
            caller_id,
            caller_id,
            allow_public_transfer=False,
        )
        action = call_into(
            CONTEXT,
            uniqueid=call_id,
            endpoint=target,
            caller_id=caller_id,
            wait=req.wait,
            variables={"UAPI_CALL_ID": call_id, "UAPI_ROOM": room, "UAPI_PIN": req.pin},
            headers=req.headers,
        )
        return call_id, meta, action
