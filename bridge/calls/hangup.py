"""Hanging calls up: the legs the tracker follows for a call (or one party of it) get a Hangup.

The calls of an extension are those List shows (the tracker's `calls_of`: a party, or charged
to it), so whatever List shows under a path can be hung up through the same path; the answer
waits (briefly) until the tracker has seen the legs go, so a List right after agrees.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import structlog

from bridge.calls.nodes import Node, Nodes
from bridge.calls.resolve import Resolver
from bridge.calls.watch import TrackerWatch
from bridge.directory import Directory
from bridge.domain.model import Call
from bridge.domain.tracker import CallTracker
from bridge.errors import AmiActionFailed, invalid
from bridge.tenants import User

log = structlog.get_logger("bridge.calls")
CONFIRM_WITHIN = 2.0  # seconds the answer waits for Asterisk's Hangup events


@dataclass(frozen=True)
class HangUp:
    """A hang-up request: the path's extensions, one call (or all of theirs), one party."""

    extensions: frozenset[str]  # extended numbers
    user: User | None  # the path's user (None: @owner)
    call_id: str | None
    phone_number: str | None  # only this party of the call(s)


class Hangups:
    def __init__(
        self,
        nodes: Nodes,
        directory: Directory,
        watch: TrackerWatch,
        confirm_within: float = CONFIRM_WITHIN,
    ) -> None:
        self.nodes = nodes
        self.directory = directory
        self.watch = watch
        self.confirm_within = confirm_within

    async def run(self, req: HangUp) -> list[str]:
        """The ids of the calls hung up (none: nothing to hang up)."""
        party_key = None if req.phone_number is None else self._party_key(req)
        exts = [
            self.directory.extensions[n] for n in req.extensions if n in self.directory.extensions
        ]
        homes = {
            n.name for n in self.nodes.live_for(exts, "not connected: the live calls are not known")
        }
        # a call between nodes also has a half on a node the extensions do not live on
        work = [
            (n, c)
            for n in self.nodes.all
            if n.name in homes or n.pbx.connected
            for c in n.tracker.calls_of(set(req.extensions))
        ]
        if req.call_id is not None:
            work = [(n, c) for n, c in work if c.id == req.call_id]
            if not work:
                raise invalid("pc_phonecall_invalid", f"{req.call_id} is not a live call here.")
        done: list[str] = []
        legs: list[tuple[CallTracker, str]] = []
        for node, call in work:
            uids = self._legs(node.tracker, call, party_key)
            if uids:
                names = [node.tracker.channels[u].name for u in uids]
                await self._hang_up(node, names)
                done.append(call.id)
                legs += [(node.tracker, u) for u in uids]
                log.info("call.hangup", call_id=call.id, channels=names, node=node.name)
        if legs and not await self.watch.until(
            lambda: not any(u in t.channels for t, u in legs), self.confirm_within
        ):
            log.warning("call.hangup.unconfirmed", calls=done, within=self.confirm_within)
        return done

    def _legs(self, tracker: CallTracker, call: Call, party_key: str | None) -> list[str]:
        """The Uniqueids of the call's live channels (one party's only, with `party_key`),
        parties' legs first in view order, then the plumbing (Local channels)."""
        parties = list(call.parties.values())
        if party_key is not None:
            parties = [p for p in parties if p.key == party_key]
        uids = [u for p in parties for u in sorted(p.channels)]
        if party_key is None:
            uids += sorted(call.channels - set(uids))
        return [u for u in uids if u in tracker.channels]

    async def _hang_up(self, node: Node, names: list[str]) -> None:
        for name in names:
            # Hanging up one leg may already have ended the others.
            with contextlib.suppress(AmiActionFailed):
                await node.pbx.send({"Action": "Hangup", "Channel": name})

    def _party_key(self, req: HangUp) -> str:
        """How the tracker names the party `phoneNumber` gives: an extended number, or as is."""
        res = Resolver(self.directory, None, req.user)
        return res.party((req.phone_number or "").strip(), res.home)
