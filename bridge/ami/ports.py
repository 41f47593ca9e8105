"""The one interface the rest of the bridge sees of the AMI link (`AmiClient` implements it).

Routes, the call feed and the metrics depend on `AmiPort`, never on the client or panoramisk;
tests give them a fake port or the real client against a fake AMI server.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from bridge.ami.message import ActionFields, AmiMessage

EventHandler = Callable[[AmiMessage], None]
ConnectHandler = Callable[[list[AmiMessage]], Awaitable[None]]
DisconnectHandler = Callable[[str], None]


@dataclass
class AmiStats:
    """Figures of the link for /metrics and /healthz; plain attributes, read without locking."""

    reconnects: int = 0  # successful logins after the first
    connect_attempts: int = 0
    events_received: int = 0
    actions_sent: int = 0
    actions_timed_out: int = 0
    frames_malformed: int = 0
    connected: bool = False
    originate_queue: int = 0  # Originates waiting for their turn (ami.originate_rate)


class AmiPort(Protocol):
    """The AMI link: timed actions that are never re-sent, ordered events, a resync per login."""

    @property
    def connected(self) -> bool:
        """True only while logged in on a live link."""

    @property
    def stats(self) -> AmiStats: ...

    async def send(
        self,
        action: ActionFields,
        timeout: float | None = None,  # noqa: ASYNC109 - per action
    ) -> AmiMessage:
        """The action's `Response:`; raises AmiInjection, PbxUnavailable, AmiActionTimeout or
        AmiActionFailed (bridge.errors)."""

    async def send_list(
        self,
        action: ActionFields,
        timeout: float | None = None,  # noqa: ASYNC109 - per action
    ) -> list[AmiMessage]:
        """The events a list action produced, without the closing `...Complete`."""

    def add_event_handler(self, handler: EventHandler) -> None:
        """`handler(message)` runs for every event that does not answer an action, in order."""

    def add_connect_handler(self, handler: ConnectHandler) -> None:
        """`await handler(channels)` runs after every login with the CoreShowChannel events."""

    def add_snapshot_hook(self, hook: Callable[[], None]) -> None:
        """`hook()` runs just before each login's CoreShowChannels is sent."""
