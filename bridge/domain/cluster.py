"""The call trackers of several Asterisk nodes, seen as one (pure).

Each node has its own tracker (its Uniqueids and channel names are its own); call ids are
unique across nodes (`callids.phone_call_id` covers the node's name). A call between two nodes
through a trunk exists on both: the node that placed it lists it with both parties, and the
far node's half (the trunk leg rings in as a source) is left out of lists that already show it.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Iterable, Mapping

from bridge.domain.calls import CallTracker
from bridge.domain.channels import dial_target
from bridge.domain.model import Call, Channel


class Cluster:
    """Every node's live calls: which node holds a call, and the calls of some parties."""

    def __init__(self, trackers: Mapping[str, CallTracker],
                 trunk_endpoints: Mapping[str, Iterable[str]] | None = None) -> None:
        self.trackers = dict(trackers)
        self.calls: ChainMap[str, Call] = ChainMap(*(t.calls for t in self.trackers.values()))
        # For look-ups where a Uniqueid that two nodes both use does no harm (what may have
        # changed); rendering takes the channels of the call's own node (`channels_of`).
        self.channels: ChainMap[str, Channel] = ChainMap(
            *(t.channels for t in self.trackers.values()))
        self._trunks = {node: {e.lower() for e in ends}
                        for node, ends in (trunk_endpoints or {}).items()}

    def node_of(self, call_id: str) -> str | None:
        """The node that holds call `call_id`, if it is live."""
        for node, tracker in self.trackers.items():
            if call_id in tracker.calls:
                return node
        return None

    def channels_of(self, call_id: str) -> Mapping[str, Channel]:
        node = self.node_of(call_id)
        return self.trackers[node].channels if node is not None else {}

    def calls_of(self, parties: set[str]) -> list[Call]:
        """The live calls of `parties` on every node, oldest first; a trunk call once."""
        if len(self.trackers) == 1:
            return next(iter(self.trackers.values())).calls_of(parties)
        found = {node: t.calls_of(parties) for node, t in self.trackers.items()}
        out: list[Call] = []
        for node, calls in found.items():
            others = [c for n, cs in found.items() if n != node for c in cs]
            out.extend(c for c in calls if not self._far_half(node, c, others))
        return sorted(out, key=lambda c: c.published)

    def _far_half(self, node: str, call: Call, others: list[Call]) -> bool:
        """`call` rang in on `node` through a trunk from a node that lists it too."""
        trunks = self._trunks.get(node)
        if not trunks or not others:
            return False
        channels = self.trackers[node].channels
        incoming = any(
            p.role == "source" and any(
                u in channels and dial_target(channels[u].name).lower() in trunks
                for u in p.channels)
            for p in call.parties.values())
        if not incoming:
            return False
        mine = {k for k, p in call.parties.items() if p.is_extension}
        return any(not mine.isdisjoint(c.parties) for c in others)
