"""Hanging calls up: the legs the tracker follows for a call (or one party of it) get a Hangup.

The calls of an extension are those List shows (the tracker's `calls_of`: a party, or charged
to it), so whatever List shows under a path can be hung up through the same path; the answer
waits (briefly) until the tracker has seen the legs go, so a List right after agrees.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import structlog

from bridge.ami.ports import AmiPort
from bridge.calls.watch import TrackerWatch
from bridge.directory import Directory
from bridge.domain.calls import CallTracker
from bridge.domain.model import Call
from bridge.errors import AmiActionFailed, PbxUnavailable, invalid
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
    def __init__(self, pbx: AmiPort, tracker: CallTracker, directory: Directory,
                 watch: TrackerWatch, confirm_within: float = CONFIRM_WITHIN) -> None:
        self.pbx = pbx
        self.tracker = tracker
        self.directory = directory
        self.watch = watch
        self.confirm_within = confirm_within

    async def run(self, req: HangUp) -> list[str]:
        """The ids of the calls hung up (none: nothing to hang up)."""
        party_key = None if req.phone_number is None else self._party_key(req)
        if not self.pbx.connected:
            raise PbxUnavailable("not connected: the live calls are not known")
        calls = self.tracker.calls_of(set(req.extensions))
        if req.call_id is not None:
            calls = [c for c in calls if c.id == req.call_id]
            if not calls:
                raise invalid("pc_phonecall_invalid", f"{req.call_id} is not a live call here.")
        done: list[str] = []
        legs: list[str] = []
        for call in calls:
            uids = self._legs(call, party_key)
            if uids:
                names = [self.tracker.channels[u].name for u in uids]
                await self._hang_up(names)
                done.append(call.id)
                legs += uids
                log.info("call.hangup", call_id=call.id, channels=names)
        if legs and not await self.watch.until(
                lambda: not any(u in self.tracker.channels for u in legs), self.confirm_within):
            log.warning("call.hangup.unconfirmed", calls=done, within=self.confirm_within)
        return done

    def _legs(self, call: Call, party_key: str | None) -> list[str]:
        """The Uniqueids of the call's live channels (one party's only, with `party_key`),
        parties' legs first in view order, then the plumbing (Local channels)."""
        parties = list(call.parties.values())
        if party_key is not None:
            parties = [p for p in parties if p.key == party_key]
        uids = [u for p in parties for u in sorted(p.channels)]
        if party_key is None:
            uids += sorted(call.channels - set(uids))
        return [u for u in uids if u in self.tracker.channels]

    async def _hang_up(self, names: list[str]) -> None:
        for name in names:
            # Hanging up one leg may already have ended the others.
            with contextlib.suppress(AmiActionFailed):
                await self.pbx.send({"Action": "Hangup", "Channel": name})

    def _party_key(self, req: HangUp) -> str:
        """How the tracker names the party `phoneNumber` gives: an extended number, or as is."""
        number = (req.phone_number or "").strip()
        org = self.directory.organization_of_user(req.user) if req.user else None
        ext = self.directory.find_extension(number, org)
        return ext.number if ext else number
