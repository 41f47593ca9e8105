"""The call tracker: a pure state machine from AMI events to PhoneCalls (no I/O).

`CallTracker.apply(event, now)` updates the calls and returns what happened as `Effect`s;
`resync(channels, metas, now)` rebuilds the live calls from a CoreShowChannels snapshot after
every (re)login. Every channel of a call shares a Linkedid (an API call's id, set with the
Originate's ChannelId), so that is how events find their call (`callids.phone_call_id`).

Theory of operation
-------------------
A *call* is the set of live channels sharing one Linkedid; it exists from its first channel
(Newchannel, or any event that names an unknown channel of it) and ends with its last one.
A *party* is a user-visible end of it: an extension (by its extended number) or a public
number. Local channels are plumbing and belong to no party. A party goes through

    joined -> ringing -> answered -> left        (ringing and answered may be skipped)

- joined: its first channel is identified: Newchannel/Newstate/NewCallerid of an extension's
  endpoint, DialBegin of a dialled public number (the dialler says its role: the `;2` half of
  the make-call Local channel dials sources, anything else destinations), or an incoming leg
  in state Ring calling from a number.
- ringing: a leg of it reaches state Ringing (Newstate, DialBegin).
- answered: a leg of it reaches state Up; the call is answered once two parties are.
- left: Hangup of its last channel; when the call's last channel goes, the call `ended`.

Parking (ParkedCall, UnParkedCall/ParkedCallTimeOut/GiveUp), hold (MusicOnHoldStart/Stop),
recording (MixMonitorStart/Stop), DialEnd's status, the connected line, a party's state or
further legs, a call's first leg and legs that go without a party leaving only annotate the
call: each such step that really changes something yields one `Changed` for the call (none
when another effect of the same step names it already, none for a step that changes nothing).
Bridges (BridgeEnter/Leave) and further Local legs change nothing anyone is shown or waits for
(call control reads bridges when asked): they yield nothing, which keeps the AMI path cheap
(a quarter of the recorded sandbox events are those). What
the API itself does to a call (holder, attended transfer, mute, its recordings' takes) goes
through methods here too, which return their `Changed`. The effects (`joined`, `ringing`,
`answered`, `left` per party, `ended` per call, `changed`) are all that leaves the tracker:
bridge.feeds.calls logs them and hands them to the webhooks (domain/phonecallevents.py maps them to
PhoneCallEvents), the history, the live hub and the requests waiting on a call (calls.watch).
A resync returns no `Changed` (whoever shows calls starts over after it). An ended call's id is
remembered (bounded), so late events cannot revive it. The API's rendering of a call is kept on
it (`Call.shown`, domain.views) and dropped here with each of its effects, at a resync and at
`annotate`: a change that yielded no effect would leave List and the live stream showing the
call as it was (tests/domain/test_shown.py replays every recorded transcript against that).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping

from bridge.domain.callids import phone_call_id
from bridge.domain.channels import (
    caller_id,
    dial_target,
    dialled_in,
    dialled_number,
    dialler_in,
    duration,
    is_extension_key,
    is_local,
    is_number,
    is_source_dialer,
    short_number,
    to_int,
    via_trunk,
)
from bridge.domain.model import (
    DOWN,
    RING,
    RINGING,
    UP,
    Call,
    CallMeta,
    Changed,
    Channel,
    Effect,
    EffectKind,
    Party,
    Role,
    Take,
)
from bridge.domain.recordings import stop as stop_takes

# DialEnd DialStatus -> PhoneCallView disposition (0 ANSWERED, 1 BUSY, 2 FAILED, 3 NO ANSWER).
_DISPOSITION = {
    "ANSWER": 0,
    "BUSY": 1,
    "CONGESTION": 2,
    "CHANUNAVAIL": 2,
    "NOANSWER": 3,
    "CANCEL": 3,
}
UNKNOWN_DISPOSITION = 4
ENDED_MEMORY = 10_000

Event = Mapping[str, str]
ExtensionOf = Callable[[str], str | None]  # endpoint ("PJSIP/210") -> extended number, if any


class CallTracker:
    """Every live call on the PBX, from the AMI events that `apply` is fed in order."""

    def __init__(self, extension_of: ExtensionOf, node: str = "") -> None:
        self.node = node  # "" on the first (or only) node: its call ids are the historic ones
        self.calls: dict[str, Call] = {}
        self.channels: dict[str, Channel] = {}
        self._extension_of = extension_of
        self._seq = 0
        self._mark: tuple[int, float] | None = None  # (seq, time) of mark(), until resync
        self._hung_up: dict[str, int] = {}  # Uniqueid -> seq of its Hangup, since the mark
        # Late events of an ended call (Asterisk sends a NewCallerid after a Hangup) must not
        # bring it back: the last ended ids, bounded.
        self._ended: OrderedDict[str, None] = OrderedDict()
        # Channels the API is about to originate for an existing call (UnPark, PickUp, ...):
        # their own Linkedid is new until Asterisk bridges them, so they are placed by Uniqueid.
        self._expected: dict[str, str] = {}
        self._now = 0.0  # the time of the event (or resync) being applied
        # calls_of's index: a party key or charged extension -> the ids of the live calls it
        # is in; `_keys` what each call is indexed under, `_born` the order calls came in (a
        # List scanned every call: 50 ms at 100,000 live calls, bench/scale.py).
        self._of: dict[str, set[str]] = {}
        self._keys: dict[str, set[str]] = {}
        self._born: dict[str, int] = {}
        self._births = 0

    def extension_of(self, endpoint: str) -> str | None:
        """The extension an endpoint (`PJSIP/210`, `PJSIP/210@node1`) is, on this node."""
        return self._extension_of(endpoint)

    # -- what the API tells the tracker ------------------------------------------------------

    def annotate(self, call_id: str, meta: CallMeta) -> None:
        """Attaches what the API knows to a call (before its Originate, or at resync)."""
        call = self.calls.get(call_id)
        if call is None:
            call = self._new(call_id, meta.published)
        call.meta, call.published, call.shown = meta, meta.published, None
        for key in meta.sources:
            if key not in call.parties:
                call.add_party(key, is_extension_key(key), "source")
        for key in meta.destinations:
            if key not in call.parties:
                call.add_party(key, is_extension_key(key), "destination")
        self._index(call)

    def calls_of(self, parties: set[str]) -> list[Call]:
        """The live calls in which any of `parties` is involved (or that are charged to one),
        oldest first."""
        ids: set[str] = set()
        for key in parties:
            ids.update(self._of.get(key, ()))
        if len(ids) * 4 >= len(self.calls):  # most of the calls: one pass keeps their order
            return [c for cid, c in self.calls.items() if cid in ids]
        return [self.calls[i] for i in sorted(ids, key=self._born.__getitem__)]

    def _new(self, call_id: str, published: float) -> Call:
        call = self.calls[call_id] = Call(call_id, published)
        self._births += 1
        self._born[call_id] = self._births
        return call

    def _index(self, call: Call) -> None:
        """Files the call under its party keys and charged extension (after either changed)."""
        keys = set(call.parties)
        if call.meta is not None:
            keys.add(call.meta.extension)
        old = self._keys.get(call.id, set())
        for key in old - keys:
            self._of[key].discard(call.id)
            if not self._of[key]:
                del self._of[key]
        for key in keys - old:
            self._of.setdefault(key, set()).add(call.id)
        self._keys[call.id] = keys

    def _unindex(self, call_id: str) -> None:
        for key in self._keys.pop(call_id, ()):
            self._of[key].discard(call_id)
            if not self._of[key]:
                del self._of[key]
        self._born.pop(call_id, None)

    def expect(self, uniqueid: str, call_id: str) -> None:
        """The channel the API originates with this Uniqueid (ChannelId) joins `call_id`."""
        self._expected[uniqueid] = call_id

    def unexpect(self, uniqueid: str) -> None:
        self._expected.pop(uniqueid, None)

    def forget(self, call_id: str) -> None:
        """Drops a call whose Originate Asterisk refused."""
        call = self.calls.pop(call_id, None)
        self._unindex(call_id)
        for uid in call.channels if call else ():
            self.channels.pop(uid, None)

    # -- events ------------------------------------------------------------------------------

    def apply(self, event: Event, now: float) -> list[Effect]:
        """Folds one AMI event into the calls; returns what happened."""
        self._seq += 1
        self._now = now
        handler = _HANDLERS.get(event.get("Event", "").lower())
        out: list[Effect] = []
        if handler is not None:
            handler(self, event, now, out)
        return self._unshown(out)

    def _unshown(self, effects: list[Effect]) -> list[Effect]:
        """`effects`, each of whose calls has its rendering dropped (`Call.shown`): whatever
        changes what the API shows of a call yields an effect of it."""
        for effect in effects:
            call = self.calls.get(effect.call_id)
            if call is not None:
                call.shown = None
        return effects

    def _call(self, call_id: str, now: float) -> Call:
        call = self.calls.get(call_id)
        if call is None:
            call = self._new(call_id, now)
        return call

    def _channel(self, event: Event, key: str = "Uniqueid") -> Channel | None:
        chan = self.channels.get(event.get(key, ""))
        if chan is not None:
            chan.seq = self._seq
        return chan

    def _linked(self, ev: Event, now: float, out: list[Effect]) -> Channel | None:
        """The event's channel, moved to another call if Asterisk changed its Linkedid (it
        does when a bridge joins two calls: the oldest Linkedid wins)."""
        chan = self._channel(ev)
        linkedid = ev.get("Linkedid")
        if chan is None or not linkedid:
            return chan
        call_id = phone_call_id(linkedid, self.node)
        # Its own Uniqueid as Linkedid: a leg the API placed in a call by `expect`, not linked
        # to anything else yet.
        if call_id == chan.call_id or linkedid == chan.uniqueid or call_id in self._ended:
            return chan
        self._drop(chan, out)
        self.channels[chan.uniqueid] = chan
        chan.call_id, chan.party = call_id, None
        call = self._call(call_id, now)
        call.channels.add(chan.uniqueid)
        self._identify(chan, out)
        return chan

    def _party(self, chan: Channel) -> tuple[Call, Party | None]:
        call = self.calls[chan.call_id]
        return call, call.parties.get(chan.party) if chan.party else None

    @staticmethod
    def _changed(call: Call, out: list[Effect]) -> None:
        """`call` changed in a way no effect of this step names yet: one Changed (none once
        it ended)."""
        if call.ended is None:
            for effect in out:
                if effect.call_id == call.id:
                    return
            out.append(Changed(call.id))

    def _on_newchannel(
        self, ev: Event, now: float, out: list[Effect], role: Role | None = None
    ) -> None:
        """`role`: the leg's, when known from elsewhere (a resync: from its application)."""
        uid = ev.get("Uniqueid", "")
        if not uid or uid in self.channels:
            return
        call_id = self._expected.pop(uid, None) or phone_call_id(
            ev.get("Linkedid") or uid, self.node
        )
        if call_id in self._ended:
            return
        call = self._call(call_id, now)
        chan = Channel(
            uid,
            ev.get("Channel", ""),
            call.id,
            to_int(ev.get("ChannelState")),
            caller_num=ev.get("CallerIDNum", ""),
            seq=self._seq,
        )
        self.channels[uid] = chan
        call.channels.add(uid)
        self._on_connected(chan, ev, out)
        if chan.state != DOWN:  # a phone that calls; a Down leg waits for its DialBegin
            self._identify(chan, out, role=role)
            self._on_state(chan, now, out)
        if len(call.channels) == 1:  # the first event of a call (one the API announced shows)
            self._changed(call, out)

    def _identify(
        self,
        chan: Channel,
        out: list[Effect],
        *,
        dialled: str | None = None,
        role: Role | None = None,
    ) -> None:
        """Gives a non-Local channel its party: an extension, the public number it was
        `dialled` with, or the number an incoming leg (state Ring) calls from."""
        if chan.party is not None or is_local(chan.name):
            return
        ext = self._extension_of(dial_target(chan.name))
        if ext is None and dialled is not None:  # an extension of another node, via a trunk
            ext = self._extension_of(via_trunk(chan.name, dialled))
        if ext is not None:
            self._join(chan, ext, is_ext=True, role=role, out=out)
        elif dialled is not None:
            self._join(chan, dialled, is_ext=False, role=role or "destination", out=out)
        elif (chan.state == RING or role == "source") and is_number(chan.caller_num):
            # an incoming leg: ringing when seen live; at a resync it may be up already, and
            # its Dial makes it the source (a trunk leg from another node: its far half)
            self._join(chan, chan.caller_num, is_ext=False, role="source", out=out)

    def _join(
        self, chan: Channel, key: str, *, is_ext: bool, role: Role | None, out: list[Effect]
    ) -> None:
        call = self.calls[chan.call_id]
        chan.party = key
        party = call.parties.get(key)
        if party is None:
            has_source = any(p.role == "source" for p in call.parties.values())
            party = call.add_party(key, is_ext, role or ("destination" if has_source else "source"))
            self._index(call)
        if not party.channels:
            out.append(_effect("joined", call, party))
        else:
            self._changed(call, out)  # another leg of a party already in the call
        party.channels.add(chan.uniqueid)
        if chan.shown is not None:
            party.caller_id = chan.shown

    def _on_state(self, chan: Channel, now: float, out: list[Effect]) -> None:
        call, party = self._party(chan)
        if party is None:
            return
        if chan.state == RINGING and party.ringing is None:
            party.ringing = now
            out.append(_effect("ringing", call, party))
        elif chan.state == UP and party.answered is None:
            party.answered, party.disposition = now, 0
            out.append(_effect("answered", call, party))
            if (
                call.answered is None
                and sum(p.answered is not None for p in call.parties.values()) >= 2
            ):
                call.answered = now

    def _on_connected(self, chan: Channel, ev: Event, out: list[Effect]) -> None:
        """Remembers what the phone shows of the other side (ignoring `s`, `<unknown>`)."""
        shown = caller_id(ev.get("ConnectedLineName", ""), ev.get("ConnectedLineNum", ""))
        if shown is not None:
            chan.shown = shown
            call, party = self._party(chan)
            if party is not None and party.caller_id != shown:
                party.caller_id = shown
                self._changed(call, out)

    def _on_newstate(self, ev: Event, now: float, out: list[Effect]) -> None:
        chan = self._linked(ev, now, out)
        if chan is not None:
            was, chan.state = chan.state, to_int(ev.get("ChannelState"))
            self._on_connected(chan, ev, out)
            self._identify(chan, out)
            self._on_state(chan, now, out)
            if chan.state != was and chan.party is not None:
                self._changed(self.calls[chan.call_id], out)

    def _on_callerid(self, ev: Event, now: float, out: list[Effect]) -> None:
        chan = self._channel(ev)
        if chan is not None:
            chan.caller_num = ev.get("CallerIDNum", "")
            self._on_connected(chan, ev, out)
            if chan.state != DOWN:
                self._identify(chan, out)

    def _on_connectedline(self, ev: Event, now: float, out: list[Effect]) -> None:
        chan = self._linked(ev, now, out)
        if chan is not None:
            self._on_connected(chan, ev, out)

    def _on_dialbegin(self, ev: Event, now: float, out: list[Effect]) -> None:
        """A leg is dialled: the `;2` half of the make-call Local channel dials sources, any
        other dialler a destination; the Originate's own dial (no Channel) says nothing."""
        dest = self._channel(ev, "DestUniqueid")
        if dest is None:
            return
        # The dialler by the name the event gives, known to the tracker or not (its events
        # may have come before the link: found by the soak, issue 27, a destination dialled
        # by an unseen `;1` half became the source of a call that had none yet).
        dialer = ev.get("Channel") if ev.get("Uniqueid") else None
        role: Role | None = None
        if dialer:
            role = "source" if is_source_dialer(dialer) else "destination"
        number = dialled_number(ev.get("DialString", "")) or dest.name
        self._identify(dest, out, dialled=number, role=role)
        _, party = self._party(dest)
        if party is not None and party.dialled is None:
            party.dialled = dialled_number(ev.get("DialString", ""))
        self._on_state(dest, now, out)

    def _on_dialend(self, ev: Event, now: float, out: list[Effect]) -> None:
        dest = self._channel(ev, "DestUniqueid")
        if dest is not None:
            call, party = self._party(dest)
            if party is not None:
                status = ev.get("DialStatus", "")
                disposition = _DISPOSITION.get(status, UNKNOWN_DISPOSITION)
                if (party.dial_status, party.disposition) != (status, disposition):
                    party.dial_status, party.disposition = status, disposition
                    self._changed(call, out)

    def _on_bridgeenter(self, ev: Event, now: float, out: list[Effect]) -> None:
        chan = self._linked(ev, now, out)
        if chan is not None:
            chan.bridge = ev.get("BridgeUniqueid")

    def _on_bridgeleave(self, ev: Event, now: float, out: list[Effect]) -> None:
        chan = self._channel(ev)
        if chan is not None and chan.bridge == ev.get("BridgeUniqueid"):
            chan.bridge = None

    def _on_hangup(self, ev: Event, now: float, out: list[Effect]) -> None:
        uid = ev.get("Uniqueid", "")
        if self._mark is not None:
            self._hung_up[uid] = self._seq
        chan = self.channels.get(uid)
        if chan is not None:
            party = self._party(chan)[1]
            if party is not None and ev.get("Cause"):
                party.hangup_cause = ev.get("Cause")
            self._drop(chan, out)

    def _drop(self, chan: Channel, out: list[Effect]) -> None:
        """A channel is gone; its party leaves when it was its last, the call ends with it."""
        del self.channels[chan.uniqueid]
        call, party = self._party(chan)
        call.channels.discard(chan.uniqueid)
        if party is not None:
            party.channels.discard(chan.uniqueid)
            if not party.channels:
                party.left = self._now
                party.transferring_to = None
                for other in call.parties.values():  # a transfer to it is over
                    if other.transferring_to == party.key:
                        other.transferring_to = None
                out.append(_effect("left", call, party))
        if not call.channels:
            self._end(call, out)
        else:
            self._changed(call, out)  # a leg less (a hang-up waits for its legs to go)

    def _end(self, call: Call, out: list[Effect]) -> None:
        for uid in list(call.channels):
            self._drop(self.channels[uid], out)  # the last drop ends the call
        if self.calls.pop(call.id, None) is not None:
            self._unindex(call.id)
            call.ended = self._now
            out.append(Effect("ended", call.id, call=call))
            self._ended[call.id] = None
            if len(self._ended) > ENDED_MEMORY:
                self._ended.popitem(last=False)

    def _on_originateresponse(self, ev: Event, now: float, out: list[Effect]) -> None:
        if ev.get("Response") == "Failure":
            call = self.calls.get(phone_call_id(ev.get("Uniqueid", ""), self.node))
            if call is not None:
                self._end(call, out)

    def _parkee(self, ev: Event) -> tuple[Call, Party] | None:
        chan = self._channel(ev, "ParkeeUniqueid")
        if chan is None:
            return None
        call, party = self._party(chan)
        return (call, party) if party is not None else None

    def _on_parkedcall(self, ev: Event, now: float, out: list[Effect]) -> None:
        found = self._parkee(ev)
        if found is not None:
            call, party = found
            was = _parking(party)
            parker = ev.get("ParkerDialString", "")
            since = now - to_int(ev.get("ParkingDuration"))  # >0 when listed at a resync
            party.parked, party.parked_pos = since, ev.get("ParkingSpace") or None
            party.parked_by = self._extension_of(parker) or parker or None
            party.on_hold = None
            if _parking(party) != was:
                self._changed(call, out)

    def _on_unparked(self, ev: Event, now: float, out: list[Effect]) -> None:
        found = self._parkee(ev)
        if found is not None and found[1].parked is not None:
            call, party = found
            party.parked = party.parked_pos = party.parked_by = None
            self._changed(call, out)

    def _on_moh(self, ev: Event, now: float, out: list[Effect]) -> None:
        chan = self._channel(ev)
        if chan is None:
            return
        call, party = self._party(chan)
        if party is not None and party.parked is None:
            held = now if ev.get("Event", "").lower() == "musiconholdstart" else None
            changed, party.on_hold = party.on_hold != held, held
            if held is None:
                for other in call.parties.values():
                    changed, other.holder = changed or other.holder, False
            if changed:
                self._changed(call, out)

    def _on_mixmonitor(self, ev: Event, now: float, out: list[Effect]) -> None:
        chan = self._channel(ev)
        if chan is None:
            return
        call, party = self._party(chan)
        if party is not None:
            started = ev.get("Event", "").lower() == "mixmonitorstart"
            recording = now if started else None
            changed, party.recording = party.recording != recording, recording
            if not started and stop_takes(party, now):
                changed = True
            if changed:
                self._changed(call, out)

    # -- what the API does to a call (no AMI event tells) ----------------------------------------

    def _api_party(self, call_id: str, party_key: str) -> Party | None:
        call = self.calls.get(call_id)
        return call.parties.get(party_key) if call is not None else None

    def mark_holder(self, call_id: str, party_key: str) -> list[Effect]:
        """The API put the call on hold on behalf of this party (PhoneCallView.holder)."""
        party = self._api_party(call_id, party_key)
        if party is None or party.holder:
            return []
        party.holder = True
        return self._unshown([Changed(call_id)])

    def mark_transfer(self, call_id: str, party_key: str, target: str) -> list[Effect]:
        """The API started an attended transfer of this party's peer to `target` (a party
        key); it ends when either of them leaves the call."""
        party = self._api_party(call_id, party_key)
        if party is None or party.transferring_to == target:
            return []
        party.transferring_to = target
        return self._unshown([Changed(call_id)])

    def mark_muted(self, uniqueid: str, direction: str, *, on: bool) -> list[Effect]:
        """The API muted (or unmuted) this channel in `direction` (in, out, both): Asterisk
        sends no event for MuteAudio, so its answer is what the tracker goes by."""
        chan = self.channels.get(uniqueid)
        if chan is None:
            return []
        dirs = {"in", "out"} if direction == "both" else {direction}
        muted = chan.muted | dirs if on else chan.muted - dirs
        if muted == chan.muted:
            return []
        chan.muted = muted
        return self._unshown([Changed(chan.call_id)])

    def add_take(self, call_id: str, party_key: str, take: Take) -> list[Effect]:
        """The API records this party: `take` (the call history, the Hangup webhook and the
        recordings store name it)."""
        party = self._api_party(call_id, party_key)
        if party is None:
            return []
        party.takes.append(take)
        return self._unshown([Changed(call_id)])

    def drop_take(self, call_id: str, name: str) -> list[Effect]:
        """The API deleted recording `name`: the call forgets its take (its end does not
        store it again)."""
        call = self.calls.get(call_id)
        found = False
        for party in call.parties.values() if call is not None else ():
            kept = [t for t in party.takes if t.name != name]
            found, party.takes = found or len(kept) < len(party.takes), kept
        return self._unshown([Changed(call_id)]) if found else []

    def end_takes(self, call_id: str, party_key: str, now: float) -> list[Effect]:
        """The API stopped recording this party: its takes still open end `now` (whether or
        not MixMonitorStop came already)."""
        party = self._api_party(call_id, party_key)
        if party is None or not stop_takes(party, now):
            return []
        return self._unshown([Changed(call_id)])

    # -- resync ------------------------------------------------------------------------------

    def mark(self, now: float) -> None:
        """Called just before CoreShowChannels is sent: what `apply` sees after this is newer
        than the snapshot, and `resync` keeps it."""
        self._mark = (self._seq, now)
        self._hung_up.clear()

    def resync(
        self, snapshot: Iterable[Event], metas: Mapping[str, CallMeta], now: float
    ) -> list[Effect]:
        """Rebuilds the live calls from CoreShowChannel entries taken after `mark()`.

        Calls and parties keep their ids and view ids; what ended meanwhile ends now; what
        started meanwhile joins (its effects are new to whoever listens).
        """
        out: list[Effect] = []
        self._now = now
        mark, marked_at = self._mark or (self._seq, now)
        for call in self.calls.values():
            if call.published <= marked_at:
                call.resyncs += 1  # what happened while the link was down is not known
        live = [c for c in snapshot if self._hung_up.get(c.get("Uniqueid", ""), -1) <= mark]
        seen = {c.get("Uniqueid", "") for c in live}
        for chan in [c for c in self.channels.values() if c.uniqueid not in seen]:
            if chan.seq <= mark and chan.uniqueid in self.channels:
                self._drop(chan, out)
        for call in [c for c in self.calls.values() if not c.channels]:
            if call.published <= marked_at:
                self._end(call, out)  # announced by the API but never reached Asterisk
        # Each channel looks for its dialler among its own call's entries only: grouping once
        # keeps a resync linear in the channels (a node with 4,000 took 25 s when each looked
        # through all of them).
        by_call: dict[str, list[Event]] = {}
        for entry in live:
            cid = phone_call_id(entry.get("Linkedid") or entry.get("Uniqueid", ""), self.node)
            by_call.setdefault(cid, []).append(entry)
        for entry in sorted(live, key=lambda c: -duration(c.get("Duration", ""))):
            self._resync_channel(entry, metas, now, by_call, out)
        for effect in out:
            if effect.kind == "ended" and effect.call is not None:
                effect.call.ended_unseen = True
        self._mark = None
        self._hung_up.clear()
        for call in self.calls.values():  # its Changed effects are not returned
            call.shown = None
        return [e for e in out if e.kind != "changed"]  # whoever shows calls starts over

    def _unclaimed(self, chan: Channel) -> str | None:
        """A public or trunk leg whose dialler is gone (e.g. parked): the number of the API
        call's one planned party that has no channel yet: a public number, or an extension
        of another node (dialled through the trunk: its short number)."""
        if is_local(chan.name) or self._extension_of(dial_target(chan.name)) is not None:
            return None
        call = self.calls[chan.call_id]
        free = [
            p
            for p in call.parties.values()
            if not p.channels
            and (
                not p.is_extension
                or self._extension_of(via_trunk(chan.name, short_number(p.key))) == p.key
            )
        ]
        if len(free) != 1:
            return None
        return short_number(free[0].key) if free[0].is_extension else free[0].key

    def _resync_channel(
        self,
        entry: Event,
        metas: Mapping[str, CallMeta],
        now: float,
        by_call: Mapping[str, list[Event]],
        out: list[Effect],
    ) -> None:
        uid = entry.get("Uniqueid", "")
        chan = self.channels.get(uid)
        if chan is None:
            call_id = phone_call_id(entry.get("Linkedid") or uid, self.node)
            self._ended.pop(call_id, None)  # the snapshot says it is alive
            known = self.calls.get(call_id)
            if call_id in metas and (known is None or known.meta is None):
                self.annotate(call_id, metas[call_id])
            role = _found_role(entry, by_call.get(call_id, ()))
            self._on_newchannel(entry, now - duration(entry.get("Duration", "")), out, role)
            chan = self.channels[uid]
            found = self.calls[chan.call_id]
            found.resyncs = max(found.resyncs, 1)  # found up: its start was not seen
            number = dialled_in(
                chan.name, chan.call_id, by_call.get(chan.call_id, ()), self.node
            ) or self._unclaimed(chan)
            self._identify(chan, out, dialled=number, role=role)
        chan.state = to_int(entry.get("ChannelState"))
        chan.bridge = entry.get("BridgeId") or None
        self._on_state(chan, now, out)


def _parking(party: Party) -> tuple[object, ...]:
    """What a ParkedCall sets on a party."""
    return (party.parked, party.parked_pos, party.parked_by, party.on_hold)


def _found_role(entry: Event, call: Iterable[Event]) -> Role:
    """A leg's role at a resync: from its application (Dial: the source, AppDial: a dialled
    leg, a source when the make-call's `;2` half among the call's entries `call` dialled it),
    not from which leg of the snapshot came first; a leg running neither (the call was put
    on hold and back, parked...) is the source when it is the call's first leg, its Uniqueid
    the Linkedid (found by the soak, issue 27, both)."""
    app = entry.get("Application")
    if app == "AppDial":
        dialler = dialler_in(entry.get("Channel", ""), call)
        return "source" if dialler is not None and is_source_dialer(dialler) else "destination"
    if app == "Dial":
        return "source"
    first = entry.get("Uniqueid") == entry.get("Linkedid")
    return "source" if first and not is_local(entry.get("Channel", "")) else "destination"


def _effect(kind: EffectKind, call: Call, party: Party) -> Effect:
    status = party.hangup_status() if kind == "left" else None
    return Effect(kind, call.id, party.key, party.role, party.is_extension, status, call)


_HANDLERS: dict[str, Callable[[CallTracker, Event, float, list[Effect]], None]] = {
    "newchannel": CallTracker._on_newchannel,
    "newstate": CallTracker._on_newstate,
    "newcallerid": CallTracker._on_callerid,
    "newconnectedline": CallTracker._on_connectedline,
    "dialbegin": CallTracker._on_dialbegin,
    "dialend": CallTracker._on_dialend,
    "bridgeenter": CallTracker._on_bridgeenter,
    "bridgeleave": CallTracker._on_bridgeleave,
    "hangup": CallTracker._on_hangup,
    "originateresponse": CallTracker._on_originateresponse,
    "parkedcall": CallTracker._on_parkedcall,
    "unparkedcall": CallTracker._on_unparked,
    "parkedcalltimeout": CallTracker._on_unparked,
    "parkedcallgiveup": CallTracker._on_unparked,
    "musiconholdstart": CallTracker._on_moh,
    "musiconholdstop": CallTracker._on_moh,
    "mixmonitorstart": CallTracker._on_mixmonitor,
    "mixmonitorstop": CallTracker._on_mixmonitor,
}
