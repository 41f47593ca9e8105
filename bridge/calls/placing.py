"""Placing a call: a PlaceCall request -> dial targets inside one organization -> Originate.

Tenant rule: a source is an extension the app may act for, or a public number; a destination
is an extension of the same organization, or a public number. Another organization's extension
gets exactly the answer an unknown number gets. The call is known to the tracker and written
down (CallMeta, the domain value the store saves) before the Originate is sent.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import structlog

from bridge.ami.actions import CallPlan, originate
from bridge.ami.message import ActionFields
from bridge.calls.limits import Limiter, Ticket, check_max_calls
from bridge.calls.nodes import Nodes
from bridge.calls.resolve import Resolver
from bridge.directory import Directory
from bridge.domain.callids import new_call_id
from bridge.domain.model import CallMeta
from bridge.store.placed import CallStore, PlacedCall
from bridge.tenants import App, Extension, ExtensionType, Organization, User

log = structlog.get_logger("bridge.calls")


@dataclass(frozen=True)
class PlaceCall:
    """A make-call request, parsed (every field already well-formed)."""

    app: App
    user: User | None  # the path's user (None: @owner)
    sources: tuple[str, ...]  # numbers as given: short or extended extensions, public numbers
    destinations: tuple[str, ...]
    extension: str  # the charged extension as given (by default the first source)
    caller_id: str | None  # None: the charged extension's
    destination_caller_id: str | None
    nonce: str | None
    wait: int  # waitForPickup, seconds
    duration: int | None  # callDuration, seconds
    allow_public_transfer: bool
    headers: tuple[tuple[str, str], ...] = ()  # sipHeaders (bridge addition)


@dataclass(frozen=True)
class Placed:
    """A call placed (or, for a nonce seen before, found again while live)."""

    call_id: str
    extension: str  # the charged extension, extended number
    reused: bool = False


@dataclass(frozen=True)
class Plan:
    """A resolved request: the Originate's plan and what the tracker and the store keep."""

    plan: CallPlan
    meta: CallMeta
    node: str  # the Asterisk node it is placed on


class Placing:
    def __init__(
        self, nodes: Nodes, calls: CallStore, directory: Directory, limiter: Limiter | None = None
    ) -> None:
        self.nodes = nodes
        self.calls = calls
        self.directory = directory
        self.limiter = limiter or Limiter()

    def admit(self, app: str, charged: str, count: int = 1) -> Ticket:
        """Fair share (#21) before anything is sent: 409 pc_limit_exceeded if `count` more
        calls charged to extension `charged` would put its user or organization over
        max_calls, else 429 rate_limited if the app's calls bucket lacks `count` tokens."""
        directory = self.directory
        ext = directory.extensions[charged]
        owner = directory.owner(ext)

        def owner_of(number: str) -> User | None:
            found = directory.extensions.get(number)
            return directory.owner(found) if found is not None else None

        check_max_calls(
            directory.organization_of_user(owner),
            owner,
            self.nodes.cluster.calls.values(),
            owner_of,
            count,
        )
        return self.limiter.take(app, "calls", count)

    def plan(self, req: PlaceCall, now: float) -> Plan:
        """Resolves every number (400 with the field's code if one does not resolve)."""
        res = Resolver(self.directory, req.app, req.user)
        ext = res.owned(req.extension, ExtensionType.PHONE_TERMINAL)
        owner = self.directory.owner(ext)
        org = res.organization(ext)
        node = self._node(res, org, req, ext)
        plan = CallPlan(
            call_id=new_call_id(),
            sources=tuple(
                res.target(n, org, node, "pc_source_invalid", "source", acting=True)
                for n in req.sources
            ),
            destinations=tuple(
                res.target(n, org, node, "pc_destination_invalid", "destination")
                for n in req.destinations
            ),
            source_caller_id=req.caller_id or ext.caller_id,
            destination_caller_id=req.destination_caller_id or ext.caller_id,
            wait=req.wait,
            duration=req.duration,
            headers=req.headers,
        )
        meta = CallMeta(
            ext.number,
            owner.id,
            req.app.name,
            req.nonce,
            now,
            tuple(res.party(n, org) for n in req.sources),
            tuple(res.party(n, org) for n in req.destinations),
            plan.source_caller_id,
            plan.destination_caller_id,
            req.allow_public_transfer,
        )
        return Plan(plan, meta, node)

    def _node(self, res: Resolver, org: Organization, req: PlaceCall, charged: Extension) -> str:
        """The node the call lives on: that of its first source that is an extension, else
        that of the charged extension."""
        for number in req.sources:
            ext = res.local(number, org)
            if ext is not None and ext.channel:
                return self.directory.node_of(ext)
        return self.directory.node_of(charged)

    async def run(self, req: PlaceCall) -> Placed:
        """Places the call (or finds the live call of the same nonce) without waiting for
        anybody to pick up."""
        return await self.place(self.plan(req, time.time()))

    async def place(self, planned: Plan) -> Placed:
        """Places a resolved call (callback calls resolve their own), or finds the live call of
        the same app and nonce."""
        self.nodes.live(planned.node)
        now = time.time()
        meta = planned.meta
        live = self.nodes.cluster.calls.__contains__
        seen = self.calls.reuse(meta.app, meta.nonce, live)  # a retry costs no allowance
        if seen is not None:
            return self._reused(seen)
        ticket = self.admit(meta.app, meta.extension)
        record = PlacedCall.of(planned.plan.call_id, meta)
        try:
            # The live call of this nonce, on any bridge sharing the store; else it is ours.
            found = await self.calls.claim(record, live, now)
            if found is not record:
                self.limiter.give(ticket)
                return self._reused(found)
            await self._place(planned, record)
        except BaseException:
            self.limiter.give(ticket)
            raise
        return Placed(planned.plan.call_id, meta.extension)

    @staticmethod
    def _reused(found: PlacedCall) -> Placed:
        log.info("call.nonce.reused", call_id=found.id, extension=found.extension)
        return Placed(found.id, found.extension, reused=True)

    async def invite(
        self, node: str, app: str, charged: str, sends: list[tuple[str, CallMeta, ActionFields]]
    ) -> None:
        """Sends the Originate of each invite (call id, meta, action) on `node`, after taking
        one calls token per invite; the tokens of invites not sent are given back."""
        ticket = self.admit(app, charged, len(sends))
        sent = 0
        try:
            for call_id, meta, action in sends:
                await self.send_placed(call_id, meta, action, node=node)
                sent += 1
        except BaseException:
            self.limiter.give(Ticket(ticket.app, ticket.kind, ticket.count - sent))
            raise

    async def _place(self, planned: Plan, record: PlacedCall) -> None:
        """Sends the Originate while the call is written down; undoes both if Asterisk refuses.

        The answer does not wait for the row: the nonce is already held in memory, and the row
        only matters to a later restart (CallStore.drain() waits for it at shutdown).
        """
        plan, meta = planned.plan, planned.meta
        await self.send_placed(plan.call_id, meta, originate(plan), record, node=planned.node)
        log.info(
            "call.originated",
            call_id=plan.call_id,
            extension=meta.extension,
            sources=plan.sources,
            destinations=plan.destinations,
            node=planned.node,
        )

    async def send_placed(
        self,
        call_id: str,
        meta: CallMeta,
        action: ActionFields,
        record: PlacedCall | None = None,
        *,
        node: str,
    ) -> None:
        """Sends the action that starts call `call_id` on `node` while the call is written
        down; undoes both if Asterisk refuses (conference invites send their own; `record`:
        the one that `place()` claimed)."""
        target = self.nodes.live(node)
        tracker = target.tracker
        record = record or PlacedCall.of(call_id, meta)
        self.calls.hold(record, self.nodes.cluster.calls.__contains__)
        # Known to the tracker before Asterisk's first event about it can arrive.
        tracker.annotate(call_id, meta)
        saving = self.calls.save_soon(record)
        try:
            await target.pbx.send(action)
        except Exception:
            tracker.forget(call_id)
            await asyncio.gather(saving, return_exceptions=True)
            await self.calls.forget(record)
            raise
