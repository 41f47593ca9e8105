"""Feeds the AMI link into QueueAgents: member events, and QueueStatus at every login; after
each change it wakes the requests waiting for one (bridge.calls.queues)."""

from __future__ import annotations

from collections.abc import Callable

import structlog

from bridge.ami.framing import plain
from bridge.ami.message import AmiMessage as Message
from bridge.ami.ports import AmiPort
from bridge.domain.queues import QueueAgents
from bridge.errors import AmiActionFailed, BridgeError

log = structlog.get_logger("bridge.queues")
EVENTS = frozenset(
    {"queuememberadded", "queuememberremoved", "queuememberpause", "queuememberstatus"}
)


class QueuesFeed:
    def __init__(
        self, agents: QueueAgents, wake: Callable[[object], None] = lambda _: None
    ) -> None:
        self.agents = agents
        self.wake = wake  # waiting requests check their conditions again
        self.ami: AmiPort | None = None

    def attach(self, ami: AmiPort) -> None:
        self.ami = ami
        ami.add_event_handler(self.on_event)
        ami.add_connect_handler(self.on_connect)

    def on_event(self, message: Message) -> None:
        if message.event in EVENTS and self.agents.apply(plain(message)):
            self.wake(message)

    async def on_connect(self, _: list[Message]) -> None:
        """Rebuilds every queue's members from QueueStatus."""
        assert self.ami is not None
        try:
            listed = await self.ami.send_list({"Action": "QueueStatus"})
        except AmiActionFailed:
            listed = []  # no queue configured
        except BridgeError as exc:
            log.warning("queues.rebuild.failed", error=str(exc))
            return
        members = [plain(m) for m in listed if m.event == "queuemember"]
        self.agents.rebuild(members)
        self.wake(None)
        log.info("queues.rebuilt", queues=len(self.agents.queues), members=len(members))
