"""Recordings of a call's parties (pure): their names, the records the store keeps, what shows.

`StartRecording` records one party (a view) of a live call with MixMonitor into ARI's
stored-recordings directory, as `uapi-<call id>-<view id>-<unix time>` (that name is also the
recording's API id). A `Take` is kept on its party while the call lives; the tracker ends it on
MixMonitorStop, the call's end ends every take still open. A take becomes a `RecordingRecord`
when it stops or the call ends: it is listed under every extension of its call (its parties and
the extension the call is charged to), whichever party was recorded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bridge.domain.model import Call, Party, Take

CONTENT_TYPES = {"wav": "audio/wav", "wav49": "audio/x-wav49"}
_NAME = re.compile(r"uapi-(?P<call>[0-9a-f]{20})-(?P<view>[0-9]{2,4})-[0-9]{1,12}")


@dataclass(frozen=True)
class RecordingRecord:
    """A stopped recording, as the store keeps it."""

    id: str
    call_id: str
    view_id: str
    party: str  # the recorded party's number
    format: str
    started: float
    ended: float
    node: str
    extensions: tuple[str, ...]  # the extension numbers it is listed under
    size: int | None = None  # bytes, when ARI told

    @property
    def duration(self) -> int:
        return max(0, round(self.ended - self.started))


def take_name(call_id: str, view_id: str, at: float) -> str:
    return f"uapi-{call_id}-{view_id}-{int(at)}"


def is_recording_id(text: str) -> bool:
    return _NAME.fullmatch(text) is not None


def call_of(recording_id: str) -> str | None:
    """The call id a recording id names (None: not a recording id)."""
    match = _NAME.fullmatch(recording_id)
    return match["call"] if match else None


def extensions_of(call: Call) -> tuple[str, ...]:
    """The extensions a recording of `call` is listed under."""
    keys = [p.key for p in call.parties.values() if p.is_extension]
    if call.extension and call.extension not in keys:
        keys.append(call.extension)
    return tuple(keys)


def stop(party: Party, now: float) -> list[Take]:
    """Ends the party's open takes at `now`; returns them."""
    open_takes = [t for t in party.takes if t.ended is None]
    for take in open_takes:
        take.ended = now
    return open_takes


def record_of(call: Call, party: Party, take: Take) -> RecordingRecord:
    """The record of a take; one still open ends when its party left, else when the call did."""
    ended = take.ended or party.left or call.ended or take.started
    return RecordingRecord(
        take.name,
        call.id,
        party.view_id,
        party.key,
        take.format,
        take.started,
        max(ended, take.started),
        take.node,
        extensions_of(call),
    )


def records(call: Call) -> list[RecordingRecord]:
    """Every take of `call`, as records (what its end writes)."""
    return [record_of(call, p, t) for p in call.parties.values() for t in p.takes]


def recording_ids(call: Call) -> list[str]:
    """The ids of the call's recordings, in the order they started (Hangup's RecordingIDs)."""
    takes = sorted((t for p in call.parties.values() for t in p.takes), key=lambda t: t.started)
    return [t.name for t in takes]
