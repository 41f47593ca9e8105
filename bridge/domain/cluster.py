"""The call trackers of several Asterisk nodes, seen as one (pure).

Each node has its own tracker (its Uniqueids and channel names are its own); call ids are
unique across nodes (`callids.phone_call_id` covers the node's name). A call between two nodes
through a trunk exists on both: node A's call dials B through A's trunk (that leg is a
destination party of A's call, e.g. extension 410 of B), and B's call rings in through B's trunk
endpoint from A (a source). B's call is the *far half*: the API shows A's call only (one id,
both parties), so the far half is left out of `calls`, `calls_of` and (bridge.app) of the
webhooks and the call history. A far half is recognized from its first leg on, and remembered
until it ended: a call that rings in through A's trunk from one of A's extensions (its caller
number) is A's call's far half whatever B's tracker has seen of A yet; any other call from the
trunk is one while a call on A dials B through it.
"""

from __future__ import annotations

from collections import ChainMap, OrderedDict
from collections.abc import Iterator, Mapping

from bridge.domain.callids import phone_call_id
from bridge.domain.channels import dial_target, via_trunk
from bridge.domain.model import Call, Channel
from bridge.domain.tracker import CallTracker

HALVES_MEMORY = 10_000  # far halves remembered after they ended (their last effects)


class Cluster:
    """Every node's live calls: which node holds a call, and the calls of some parties."""

    def __init__(
        self,
        trackers: Mapping[str, CallTracker],
        trunks: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        """`trunks`: node -> {peer node: the endpoint (`PJSIP/node2`) of its trunk there}."""
        self.trackers = dict(trackers)
        single = next(iter(self.trackers.values())) if len(self.trackers) == 1 else None
        self.calls: Mapping[str, Call] = single.calls if single else _Shown(self)
        # For look-ups where a Uniqueid that two nodes both use does no harm (what may have
        # changed); rendering takes the channels of the call's own node (`channels_of`).
        self.channels: ChainMap[str, Channel] = ChainMap(
            *(t.channels for t in self.trackers.values())
        )
        self._out = {
            node: {peer: end.lower() for peer, end in ends.items()}
            for node, ends in (trunks or {}).items()
        }
        # node -> {endpoint of its trunk to a peer: that peer}
        self._from = {
            node: {end: peer for peer, end in ends.items()} for node, ends in self._out.items()
        }
        self._halves: OrderedDict[str, None] = OrderedDict()

    def node_of(self, call_id: str) -> str | None:
        """The node that holds call `call_id` (a far half too), if it is live."""
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
        out = [
            c
            for node, t in self.trackers.items()
            for c in t.calls_of(parties)
            if not self.far_half(node, c.id)
        ]
        return sorted(out, key=lambda c: c.published)

    def far_half(self, node: str, call_id: str) -> bool:
        """Whether `node`'s call `call_id` rang in through a trunk from a node whose own call
        dials this node through its trunk (that call is the one the API shows)."""
        if call_id in self._halves:
            return True
        call = self.trackers[node].calls.get(call_id)
        if call is None or not self._from.get(node):
            return False
        legs = self._rang_in(node, call)
        if _from_peer_extension(self.trackers[node], legs) or any(
            self._dials(peer, node) for peer in {peer for _, peer in legs}
        ):
            self._halves[call_id] = None
            if len(self._halves) > HALVES_MEMORY:
                self._halves.popitem(last=False)
            return True
        return False

    def _rang_in(self, node: str, call: Call) -> list[tuple[Channel, str]]:
        """The source legs of `call` on `node` that rang in through a peer's trunk and began
        the call (`_began`), each with that peer."""
        ends, tracker = self._from[node], self.trackers[node]
        return [
            (chan, ends[end])
            for p in call.parties.values()
            if p.role == "source"
            for u in p.channels
            if (chan := tracker.channels.get(u)) is not None
            if (end := dial_target(chan.name).lower()) in ends and _began(tracker, chan, call)
        ]

    def _dials(self, peer: str, node: str) -> bool:
        """Whether a call on `peer` dials `node` through its trunk (a destination leg)."""
        end = self._out.get(peer, {}).get(node)
        if end is None:
            return False
        tracker = self.trackers[peer]
        for chan in tracker.channels.values():
            if dial_target(chan.name).lower() != end or chan.party is None:
                continue
            call = tracker.calls.get(chan.call_id)
            party = call.parties.get(chan.party) if call else None
            if party is not None and party.role == "destination":
                return True
        return False


class _Shown(Mapping[str, Call]):
    """Every node's live calls by id, far halves left out."""

    def __init__(self, cluster: Cluster) -> None:
        self._cluster = cluster

    def __getitem__(self, call_id: str) -> Call:
        for node, tracker in self._cluster.trackers.items():
            call = tracker.calls.get(call_id)
            if call is not None and not self._cluster.far_half(node, call_id):
                return call
        raise KeyError(call_id)

    def __iter__(self) -> Iterator[str]:
        for node, tracker in self._cluster.trackers.items():
            yield from (cid for cid in list(tracker.calls) if not self._cluster.far_half(node, cid))

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _began(tracker: CallTracker, chan: Channel, call: Call) -> bool:
    """Whether `chan` began `call` (the call's id is its Uniqueid's, as Asterisk's Linkedid is):
    a call ringing in from a peer's trunk begins with the trunk leg; this node's own leg to
    the peer, dialled out by one of its calls, joined that call and does not, even once a
    transfer made it dial someone (found by the soak, issue 27: at a resync such a leg looked
    like a call ringing in from the peer's extension, and its call was taken for a far half)."""
    return phone_call_id(chan.uniqueid, tracker.node) == call.id


def _from_peer_extension(tracker: CallTracker, legs: list[tuple[Channel, str]]) -> bool:
    """Whether one of a call's trunk `legs` (`Cluster._rang_in`) rang in from an extension of
    the peer (its caller number, dialled back through that trunk). Its near half is that
    extension's call on the peer, even before the peer's tracker has it: B's events may come
    before A's, and at a bridge's start B may be resynced before A (found by the soak, issue
    27: such halves got history records and webhooks of their own)."""
    return any(
        chan.caller_num and tracker.extension_of(via_trunk(chan.name, chan.caller_num))
        for chan, _ in legs
    )
