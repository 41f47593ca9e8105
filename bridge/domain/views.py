"""PhoneCall and PhoneCallView as the API shows them, computed from the tracker (pure).

Numbers are written as strings (`"status": "5"`), dates as `2026-11-23T03:29:55Z`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from bridge.domain.model import DIALING, DOWN, OFFHOOK, RING, RINGING, UP, Call, Channel, Party

# PhoneCallView.status
UNKNOWN, OFF_HOOK, TRYING, RINGS, OTHER_SIDE_RINGS, ON_CALL = range(6)
# PhoneCallView.flow
LOCAL, OUTGOING_PUBLIC, INCOMING_PUBLIC = 2, 4, 8


def iso(ts: float) -> str:
    """`ts` as UAPI shows a time: to the second, UTC (`2026-12-06T21:30:08Z`)."""
    return _iso_second(math.floor(ts))


@lru_cache(maxsize=1 << 12)  # the seconds of the live calls, listed again and again
def _iso_second(second: int) -> str:
    """Cached by whole second, not by the float: nearly every event's time is a float of its
    own, so a cache keyed by it grew with every call until full (65,536 entries, 15.5 MB:
    most of a soak bridge's RSS growth, issue 27) and seldom hit; 4,096 seconds hold the
    times of calls up to an hour old."""
    return datetime.fromtimestamp(second, UTC).isoformat().replace("+00:00", "Z")


def _state(party: Party, channels: Mapping[str, Channel]) -> tuple[int | None, str | None]:
    """(the most advanced state among a party's live channels: Up > Ringing > the rest; what
    the API muted on them: `in`, `out` or `both`, None for nothing), in one walk over them."""
    states = []
    muted: frozenset[str] | None = None
    for uniqueid in party.channels:
        chan = channels.get(uniqueid)
        if chan is None:
            continue
        states.append(chan.state)
        if chan.muted:  # nearly every party: nothing muted, no set is built
            muted = chan.muted if muted is None else muted | chan.muted
    shown = None if muted is None else "both" if len(muted) == 2 else next(iter(muted))
    if not states:
        return None, shown
    for best in (UP, RINGING):
        if best in states:
            return best, shown
    return max(states), shown


def _status(mine: int | None, others: list[int | None]) -> int:
    """PhoneCallView.status from the party's own state and those of the other parties: 0
    unknown, 1 off hook, 2 trying, 3 ringing, 4 other side ringing, 5 on call."""
    if mine == RINGING:
        return RINGS
    if mine in (UP, RING):  # RING: a phone that dialled and waits
        if mine == UP and UP in others:
            return ON_CALL
        if RINGING in others:
            return OTHER_SIDE_RINGS
        return TRYING if any(s is not None for s in others) or mine == RING else OFF_HOOK
    if mine in (DOWN, OFFHOOK, DIALING):
        return TRYING
    return UNKNOWN


def flow(call: Call) -> int:
    """2 local, 4 outgoing public (the PBX calls a public number), 8 incoming public (a public
    number calls in). A call placed through the API is dialled by the PBX leg by leg, so its
    public parties are all called out, sources included: never incoming."""
    public = [p for p in call.parties.values() if not p.is_extension]
    if not public:
        return LOCAL
    if call.meta is None and any(p.role == "source" for p in public):
        return INCOMING_PUBLIC
    return OUTGOING_PUBLIC


def ends(call: Call) -> tuple[list[str], list[str]]:
    """(source numbers, destination numbers): as requested for API calls, else as dialled."""
    if call.meta is not None:
        return list(call.meta.sources), list(call.meta.destinations)
    parties = call.parties.values()
    return (
        [p.key for p in parties if p.role == "source"],
        [p.key for p in parties if p.role == "destination"],
    )


class _Shared:
    """What every view of one call shows alike, worked out once per call (List renders
    thousands of calls: each view used to redo the whole call's ends, flow and states)."""

    __slots__ = ("destinations", "flow", "held", "sources")

    def __init__(self, call: Call) -> None:
        self.sources, self.destinations = ends(call)
        self.flow = str(flow(call))
        self.held = any(p.on_hold is not None for p in call.parties.values())


def _view(shared: _Shared, party: Party, state: int, muted: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": party.view_id,
        "extension": party.key,
        "source": list(shared.sources),
        "destination": list(shared.destinations),
        "flow": shared.flow,
        "status": str(state),
    }
    if party.ringing is not None:
        out["ringing"] = iso(party.ringing)
    if party.answered is not None:
        out["answered"] = iso(party.answered)
    if party.caller_id is not None:
        out["callerId"] = party.caller_id
    if party.disposition is not None:
        out["disposition"] = str(party.disposition)
    if party.parked is not None:
        out["parked"] = iso(party.parked)
        out["parkedPos"] = party.parked_pos or ""
        out["parkedBy"] = party.parked_by or ""
    if party.on_hold is not None:
        out["onHold"] = iso(party.on_hold)
    if party.holder and shared.held:
        out["holder"] = "1"
    if party.recording is not None:
        out["recording"] = iso(party.recording)
    if muted is not None:
        out["muted"] = muted
    return out


def phone_call(call: Call, channels: Mapping[str, Channel]) -> dict[str, Any]:
    """The PhoneCall fields the tracker knows (the API adds owner and links); `channels`: those
    of the call's node. Rendered once per change of the call (List pages of thousands of calls
    and the live hub ask again and again: issue 28) and kept on it (`Call.shown`) until the
    tracker drops it: with every effect of the call (each change of what a view shows is one,
    as the live hub needs too), at a resync and at `annotate`. The answer is shared: copy it
    before changing it."""
    if call.shown is None:
        call.shown = render(call, channels)
    return call.shown


def render(call: Call, channels: Mapping[str, Channel]) -> dict[str, Any]:
    """`phone_call`, worked out now."""
    out: dict[str, Any] = {
        "id": call.id,
        "extension": call.extension or "",
        "published": iso(call.published),
    }
    if call.answered is not None:
        out["answered"] = iso(call.answered)
    if call.meta is not None and call.meta.nonce is not None:
        out["nonce"] = call.meta.nonce
    out["phoneCallView"] = _views(call, channels)
    return out


def _views(call: Call, channels: Mapping[str, Channel]) -> list[dict[str, Any]]:
    """Every party's view; each party's channels are walked once, not once per view."""
    parties = list(call.parties.values())
    seen = [_state(p, channels) for p in parties]
    states = [state for state, _ in seen]
    shared = _Shared(call)
    return [
        _view(shared, p, _status(state, states[:i] + states[i + 1 :]), muted)
        for i, (p, (state, muted)) in enumerate(zip(parties, seen, strict=True))
    ]
