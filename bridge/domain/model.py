"""What the call tracker knows: calls, their parties and channels, and what it reports (effects).

Plain data, no I/O. A *party* is one endpoint of a call as a user sees it: an extension (keyed
by its extended number) or a public number. Asterisk's Local channels are plumbing, never parties.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

# AMI ChannelState values (Asterisk's ast_channel_state).
DOWN, RESERVED, OFFHOOK, DIALING, RING, RINGING, UP, BUSY = range(8)

Role = Literal["source", "destination"]
EffectKind = Literal["joined", "ringing", "answered", "left", "ended", "changed"]
FORMATS = {"wav": "wav", "wav49": "WAV"}  # StartRecording format -> file extension (ARI's)
# MixMonitor puts a relative file name under the monitor directory; ARI serves the recording
# directory beside it: this reaches it whatever the node's spool directory is.
SPOOL = "../recording"


@dataclass(frozen=True)
class CallMeta:
    """What the API knows of a call it placed (kept in the store, so it survives restarts)."""

    extension: str  # the extension charged (extended number)
    user_id: str
    app: str
    nonce: str | None
    published: float
    sources: tuple[str, ...]  # party keys: extended numbers or public numbers
    destinations: tuple[str, ...]
    source_caller_id: str = ""
    destination_caller_id: str = ""
    allow_public_transfer: bool = False


@dataclass
class Channel:
    uniqueid: str
    name: str
    call_id: str
    state: int
    party: str | None = None  # None: a Local channel, or a leg whose number is not known yet
    bridge: str | None = None
    caller_num: str = ""
    shown: str | None = None  # the caller id its phone shows (connected line)
    seq: int = 0  # the tracker's event counter when this channel was last touched
    muted: frozenset[str] = frozenset()  # "in", "out": what the API muted (no AMI event says)


@dataclass
class Take:
    """One recording of a party (bridge.domain.recordings): ARI's name for it, its format,
    when it ran, on which node."""

    name: str
    format: str  # wav | wav49
    started: float
    node: str = ""
    ended: float | None = None  # None: MixMonitor still runs (as far as the tracker knows)

    @property
    def file(self) -> str:
        """Its file name in ARI's stored-recordings directory."""
        return f"{self.name}.{FORMATS[self.format]}"

    @property
    def monitor_file(self) -> str:
        """The file MixMonitor is told to write (relative to its monitor directory)."""
        return f"{SPOOL}/{self.file}"


@dataclass
class Party:
    key: str  # extended extension number, or public number
    is_extension: bool
    view_id: str
    role: Role
    channels: set[str] = field(default_factory=set)  # live Uniqueids
    ringing: float | None = None
    answered: float | None = None
    disposition: int | None = None
    dial_status: str | None = None  # the last DialEnd DialStatus of its leg (BUSY, CANCEL, ...)
    caller_id: str | None = None  # what this party's phone shows of the other side
    dialled: str | None = None  # the number its caller dialled to reach it (DialBegin)
    parked: float | None = None  # parking (ParkedCall ... UnParkedCall/TimeOut/GiveUp)
    parked_pos: str | None = None
    parked_by: str | None = None
    on_hold: float | None = None  # hears music on hold (not while parked)
    holder: bool = False  # put the call on hold through the API
    recording: float | None = None  # MixMonitor running on its channel
    takes: list[Take] = field(default_factory=list)  # what the API recorded of it
    left: float | None = None  # when its last channel hung up
    hangup_cause: str | None = None  # the Hangup Cause of its last channel (Q.850 number)
    transferring_to: str | None = None  # AttendedTransfer under way: the target's party key

    def talked(self, call_answered: float | None) -> int:
        """Whole seconds this party talked: from when the call was answered (or it answered,
        if later) until it left; 0 when it never did."""
        if self.answered is None or call_answered is None or self.left is None:
            return 0
        return max(0, int(self.left - max(self.answered, call_answered)))

    def hangup_status(self) -> str:
        """VoipNow's Hangup CallStatus: ANSWER, BUSY, NOANSWER, CANCEL, CONGESTION, CHANUNAVAIL."""
        if self.answered is not None:
            return "ANSWER"
        if self.dial_status in ("BUSY", "NOANSWER", "CANCEL", "CONGESTION", "CHANUNAVAIL"):
            return self.dial_status
        return "CANCEL" if self.role == "source" else "NOANSWER"


@dataclass
class Call:
    id: str
    published: float
    meta: CallMeta | None = None
    answered: float | None = None
    ended: float | None = None  # set when the tracker ends it
    parties: dict[str, Party] = field(default_factory=dict)  # in view order
    channels: set[str] = field(default_factory=set)  # live Uniqueids
    # resyncs it lived through (or was found at): events of it may have been missed then
    resyncs: int = 0
    ended_unseen: bool = False  # ended at a resync: gone from the snapshot, its end not seen
    # its PhoneCall as the API shows it (domain.views.phone_call), kept until the call changes:
    # the tracker drops it with every effect of the call, at a resync and at `annotate`
    shown: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    @property
    def extension(self) -> str | None:
        """The extension charged: the API's, else the first extension that is a source."""
        if self.meta is not None:
            return self.meta.extension
        exts = [p for p in self.parties.values() if p.is_extension]
        sources = [p for p in exts if p.role == "source"]
        return (sources or exts)[0].key if exts else None

    def add_party(self, key: str, is_extension: bool, role: Role) -> Party:
        party = Party(key, is_extension, f"{len(self.parties):02d}", role)
        self.parties[key] = party
        return party


@dataclass(frozen=True)
class Effect:
    """Something that happened to a call, for the webhooks (past tense: it already happened).

    `joined`: a party entered the call (its phone is being called, or it is calling); `ringing`;
    `answered`: its leg went up; `left`: its last channel hung up (`status`: the Hangup
    CallStatus); `ended`: the call is gone; `changed` (`Changed`): anything else about it.
    `call` is the call as it was then (kept even after it left the tracker), for whoever needs
    its numbers.
    """

    kind: EffectKind
    call_id: str
    party: str | None = None
    role: Role | None = None
    is_extension: bool = False
    status: str | None = None
    call: Call | None = field(default=None, compare=False, repr=False)


class Changed(Effect):
    """The call changed in a way no other effect of the same step says: a leg came or went,
    a state, caller id or dial status, parking, hold, recording, mute, a transfer's mark.
    For whoever shows the call (the live hub) or waits on it (calls.watch); it fires no
    webhook and writes no history."""

    def __init__(self, call_id: str) -> None:
        super().__init__("changed", call_id)
