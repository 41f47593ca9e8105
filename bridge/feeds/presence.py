"""Feeds the AMI link into Presence: device and contact events, and a rebuild at every login."""

from __future__ import annotations

import asyncio

import structlog

from bridge.ami.framing import plain
from bridge.ami.message import AmiMessage as Message
from bridge.ami.ports import AmiPort
from bridge.domain.presence import Presence
from bridge.errors import AmiActionFailed, BridgeError

log = structlog.get_logger("bridge.presence")
LISTS = {
    "DeviceStateList": "devicestatechange",
    "PJSIPShowAors": "aorlist",
    "PJSIPShowContacts": "contactlist",
}


class PresenceFeed:
    def __init__(self, presence: Presence) -> None:
        self.presence = presence
        self.ami: AmiPort | None = None
        self._refreshing: asyncio.Task[None] | None = None

    def attach(self, ami: AmiPort) -> None:
        self.ami = ami
        ami.add_event_handler(self.on_event)
        ami.add_connect_handler(self.on_connect)

    def on_event(self, message: Message) -> None:
        name = message.event
        if name in ("devicestatechange", "contactstatus"):
            event = plain(message)
            self.presence.apply(event)
            if name == "contactstatus" and event.get("ContactStatus") != "Removed":
                self._refresh_soon()

    def _refresh_soon(self) -> None:
        """A contact appeared or changed (Created, NonQualified, Reachable...): one
        PJSIPShowContacts (not one per event) fills in its user agent and expiry."""
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.create_task(self._refresh(), name="presence-refresh")

    async def _refresh(self) -> None:
        await asyncio.sleep(0.2)  # the events of one REGISTER come together
        try:
            self.presence.registered(await self._listing("PJSIPShowContacts"))
        except BridgeError as exc:
            log.warning("presence.refresh.failed", error=str(exc))

    async def _listing(self, action: str) -> list[dict[str, str]]:
        assert self.ami is not None
        try:
            listed = await self.ami.send_list({"Action": action})
        except AmiActionFailed:  # "No Contacts found": an empty list
            return []
        return [plain(m) for m in listed if m.event == LISTS[action]]

    async def on_connect(self, _: list[Message]) -> None:
        """Rebuilds every endpoint's state and contacts (events since are newer)."""
        try:
            devices = await self._listing("DeviceStateList")
            aors = await self._listing("PJSIPShowAors")
            contacts = await self._listing("PJSIPShowContacts")
        except BridgeError as exc:
            log.warning("presence.rebuild.failed", error=str(exc))
            return
        self.presence.rebuild(devices, aors, contacts)
        log.info("presence.rebuilt", devices=len(devices), aors=len(aors), contacts=len(contacts))
