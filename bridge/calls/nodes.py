"""The Asterisk nodes behind the API: which node an extension or a call is on, and its link.

Each node has its own AMI port and call tracker (built by bridge.app); requests go to the node
that holds what they name. A node whose link is down answers 503 `pbx_unavailable` naming it,
while the others keep working.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from bridge.ami.ports import AmiPort
from bridge.ari.client import AriClient
from bridge.directory import Directory
from bridge.domain.cluster import Cluster
from bridge.domain.conferences import ConferenceRooms
from bridge.domain.model import Effect
from bridge.domain.presence import Presence
from bridge.domain.queues import QueueAgents
from bridge.domain.tracker import CallTracker
from bridge.errors import PbxUnavailable
from bridge.tenants import Extension

EffectSink = Callable[[list[Effect]], None]


@dataclass
class Node:
    """One Asterisk: its name, its AMI link and the calls it holds."""

    name: str
    pbx: AmiPort
    tracker: CallTracker
    presence: Presence = field(default_factory=Presence)  # kept by bridge.feeds.presence
    queue_agents: QueueAgents = field(default_factory=QueueAgents)  # by bridge.feeds.queues
    ari: AriClient | None = None  # its ARI link (`ami.ari`), if configured
    rooms: ConferenceRooms = field(default_factory=ConferenceRooms)  # by bridge.feeds.conferences
    # who hears its tracker's effects, from its calls feed and from call control (bridge.app)
    sinks: list[EffectSink] = field(default_factory=list)

    def emit(self, effects: list[Effect]) -> None:
        """Hands effects of its tracker to every sink."""
        if effects:
            for sink in self.sinks:
                sink(effects)


class Nodes:
    """Every node, in config order (the first is where extensions live by default)."""

    def __init__(self, nodes: Iterable[Node], directory: Directory) -> None:
        self.all = list(nodes)
        self.by_name = {n.name: n for n in self.all}
        self.directory = directory
        self.cluster = Cluster(
            {n.name: n.tracker for n in self.all},
            {n.name: directory.trunk_endpoints(n.name) for n in self.all},
        )

    @property
    def first(self) -> Node:
        return self.all[0]

    @property
    def several(self) -> bool:
        return len(self.all) > 1

    def __getitem__(self, name: str) -> Node:
        return self.by_name[name]

    def live(self, name: str, why: str = "not connected") -> Node:
        """Node `name` while its link is up, else PbxUnavailable (503) naming it."""
        node = self.by_name[name]
        if not node.pbx.connected:
            raise PbxUnavailable(f"node {name!r} is not connected" if self.several else why)
        return node

    def of_extension(self, ext: Extension) -> Node:
        return self.by_name[self.directory.node_of(ext)]

    def live_for(self, exts: Iterable[Extension], why: str = "not connected") -> list[Node]:
        """The nodes the extensions live on, each up (else 503 naming the first one down)."""
        names = {self.directory.node_of(e) for e in exts} or {self.first.name}
        return [self.live(n.name, why) for n in self.all if n.name in names]

    def of_call(self, call_id: str) -> Node | None:
        """The node that holds live call `call_id`."""
        name = self.cluster.node_of(call_id)
        return None if name is None else self.by_name[name]

    def plug(self, name: str, pbx: AmiPort) -> None:
        """Puts another AMI port in node `name`'s place (tests swap fake ports)."""
        self.by_name[name].pbx = pbx
