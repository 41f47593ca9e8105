"""Queue agents (uapi.md Part 3 §15): log agents of a Queue extension in, out, or pause them.

A Queue extension's `channel` is `Local/NAME@uapi-queue`: NAME is the Asterisk queue whose
members the bridge manages. Agents are phone terminals of the queue's organization on the
queue's node, named by extension number. A change is sent as app_queue's QueueAdd, QueuePause or
QueueRemove; the answer waits (briefly) until the QueueMember* event it causes reached
bridge.feeds.queues, which wakes the waiting request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import structlog

from bridge.ami.message import ActionFields
from bridge.calls.nodes import Nodes
from bridge.calls.resolve import Resolver
from bridge.calls.watch import TrackerWatch
from bridge.directory import Directory
from bridge.domain.queues import LOGGED_OUT, PAUSED
from bridge.errors import invalid
from bridge.tenants import App, Extension, ExtensionType, User

log = structlog.get_logger("bridge.calls")
_QUEUE_CHANNEL = re.compile(r"Local/([0-9A-Za-z_-]{1,64})@uapi-queue")
SETTLE_WITHIN = 2.0  # seconds an answer waits for the QueueMember* event of its action


def queue_name(ext: Extension) -> str | None:
    """The Asterisk queue a Queue extension names (None: not a queue the bridge manages)."""
    match = _QUEUE_CHANNEL.fullmatch(ext.channel)
    return match[1] if ext.type == ExtensionType.QUEUE and match else None


@dataclass(frozen=True)
class SetAgent:
    """A request to put an agent of a queue in a state (0 out, 1 in, 2 paused)."""

    app: App
    queue: Extension  # the path's Queue extension (`QueueMembers.queue` resolved it)
    name: str  # its Asterisk queue
    agent: str  # the agent's extension number as given
    status: int


@dataclass(frozen=True)
class AgentState:
    """An agent's state in a queue after a request (as far as the events told)."""

    queue: Extension
    interface: str  # the agent's dial target, which app_queue names the member by
    status: int


def actions(name: str, agent: Extension, now: int, want: int) -> list[ActionFields]:
    """The app_queue actions from state `now` to state `want`."""
    member = {"Queue": name, "Interface": agent.channel}
    if want == LOGGED_OUT:
        return [{"Action": "QueueRemove", **member}] if now != LOGGED_OUT else []
    paused = "true" if want == PAUSED else "false"
    if now == LOGGED_OUT:
        return [{"Action": "QueueAdd", **member, "MemberName": agent.number, "Paused": paused}]
    return [{"Action": "QueuePause", **member, "Paused": paused}] if now != want else []


class QueueMembers:
    """The queue agents use case (and the tenant rules GET's listing shares)."""

    def __init__(
        self,
        nodes: Nodes,
        directory: Directory,
        watch: TrackerWatch,
        settle_within: float = SETTLE_WITHIN,
    ) -> None:
        self.nodes = nodes
        self.directory = directory
        self.watch = watch  # woken by bridge.feeds.queues after each member event
        self.settle_within = settle_within

    def queue(self, app: App, user: User | None, number: str) -> tuple[Extension, str]:
        """The path's Queue extension (the user's) and its Asterisk queue (a route resolves
        the path first: another organization's queue is unknown, whatever the body)."""
        ext = self.directory.resolve_extension(app, user, number)
        name = queue_name(ext)
        if name is None:
            raise invalid("extension_invalid", f"{ext.number} is not a queue extension.")
        return ext, name

    def agent(self, app: App, queue: Extension, raw: str) -> Extension:
        """An agent: a phone terminal of the queue's organization, by extension number, on
        the queue's node."""
        res = Resolver(self.directory, app)
        org = res.organization(queue)
        number = raw.strip()
        ext = res.local(number, org) if number else None
        if ext is None or ext.type != ExtensionType.PHONE_TERMINAL or ext.prefix != org.prefix:
            raise invalid(
                "qag_agent_invalid",
                f"{raw[:40]!r} is not an agent extension of the queue's organization.",
            )
        if self.directory.node_of(ext) != self.directory.node_of(queue):
            raise invalid(
                "qag_agent_invalid", f"{ext.number} is on another Asterisk node than the queue."
            )
        return ext

    async def run(self, req: SetAgent) -> AgentState:
        """Sends what moves the agent to `req.status`, then waits (briefly) for the event."""
        queue, name = req.queue, req.name
        agent = self.agent(req.app, queue, req.agent)
        node = self.nodes.live_for([queue])[0]
        agents = node.queue_agents
        for action in actions(name, agent, agents.status(name, agent.channel), req.status):
            await node.pbx.send(action)
        if not await self.watch.until(
            lambda: agents.status(name, agent.channel) == req.status, self.settle_within
        ):
            log.warning("queue.agent.unconfirmed", queue=queue.number, agent=agent.number)
        return AgentState(queue, agent.channel, agents.status(name, agent.channel))
