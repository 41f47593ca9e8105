"""Feeds the AMI link into ConferenceRooms: ConfBridge participant events, and at every login
ConfbridgeListRooms then ConfbridgeList per room (GETs never ask Asterisk)."""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog

from bridge.ami.framing import plain
from bridge.ami.message import AmiMessage as Message
from bridge.ami.ports import AmiPort
from bridge.domain.conferences import ConferenceRooms
from bridge.errors import AmiActionFailed, BridgeError

log = structlog.get_logger("bridge.conferences")


class ConferencesFeed:
    def __init__(
        self, rooms: ConferenceRooms, wake: Callable[[object], None] = lambda _: None
    ) -> None:
        self.rooms = rooms
        self.wake = wake  # waiting requests check their conditions again
        self.ami: AmiPort | None = None

    def attach(self, ami: AmiPort) -> None:
        self.ami = ami
        ami.add_event_handler(self.on_event)
        ami.add_connect_handler(self.on_connect)

    def on_event(self, message: Message) -> None:
        is_ours = message.event.startswith("confbridge")
        if is_ours and self.rooms.apply(plain(message), time.time()):
            self.wake(message)

    async def on_connect(self, _: list[Message]) -> None:
        """Rebuilds every room's participants from ConfbridgeList."""
        try:
            entries = await self._listed()
        except BridgeError as exc:
            log.warning("conferences.rebuild.failed", error=str(exc))
            return
        self.rooms.rebuild(entries, time.time())
        log.info("conferences.rebuilt", rooms=len(self.rooms.rooms), participants=len(entries))

    async def _listed(self) -> list[dict[str, str]]:
        assert self.ami is not None
        try:
            rooms = await self.ami.send_list({"Action": "ConfbridgeListRooms"})
        except AmiActionFailed:
            return []  # no conference in progress ("No active conferences.")
        entries: list[dict[str, str]] = []
        for room in {str(r.get("Conference", "")) for r in rooms} - {""}:
            try:
                listed = await self.ami.send_list({"Action": "ConfbridgeList", "Conference": room})
            except AmiActionFailed:
                continue  # the room emptied meanwhile
            entries += [plain(m) for m in listed if m.event == "confbridgelist"]
        return entries
