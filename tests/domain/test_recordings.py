"""Recordings in the domain: names, takes ended by MixMonitorStop or the call's end, the
records the store gets, and Hangup's RecordingIDs."""

from __future__ import annotations

from bridge.domain.model import Call, Party, Take
from bridge.domain.phonecallevents import HANGUP, fired
from bridge.domain.recordings import (
    call_of,
    extensions_of,
    is_recording_id,
    record_of,
    recording_ids,
    records,
    take_name,
)
from bridge.domain.tracker import CallTracker
from tests.domain.replay import T0, load, replay, tracker

CALL = "48bc0f26f2dceaaa2e5c"


def test_names_and_ids() -> None:
    """`uapi-<call>-<view>-<time>` is a recording id naming its call; nothing else is."""
    name = take_name(CALL, "01", 1796560271.9)
    assert name == f"uapi-{CALL}-01-1796560271"
    assert is_recording_id(name)
    assert call_of(name) == CALL
    for bad in (
        "uapi-x-01-1",
        f"uapi-{CALL}-01-",
        f"../uapi-{CALL}-01-1",
        f"uapi-{CALL}-1-1",
        f"uapi-{CALL}-01-1\r\n",
        "",
    ):
        assert not is_recording_id(bad), bad
        assert call_of(bad) is None


def test_take_files() -> None:
    """wav and wav49 (WAV) files, reached from the monitor directory through ../recording."""
    assert Take("uapi-a", "wav", 0.0).file == "uapi-a.wav"
    assert Take("uapi-a", "wav49", 0.0).monitor_file == "../recording/uapi-a.WAV"


def _uniqueid(t: CallTracker, party: Party) -> str:
    return next(iter(party.channels))


def test_mixmonitor_stop_ends_the_take_and_the_end_lists_it_everywhere() -> None:
    """A phone-to-phone call: the take of 210 ends at MixMonitorStop; its record is listed
    under both extensions; Hangup of each carries RecordingIDs."""
    script = load("phone_to_phone")
    t = tracker(script)
    lines = list(replay(t, script, 1.0))
    assert lines
    call = t.calls[script.call_id]
    party = next(p for p in call.parties.values() if p.key == "0003*210")
    take = Take(take_name(call.id, party.view_id, T0 + 1), "wav", T0 + 1.0, node="default")
    party.takes.append(take)
    t.apply({"Event": "MixMonitorStart", "Uniqueid": _uniqueid(t, party)}, T0 + 1.0)
    t.apply({"Event": "MixMonitorStop", "Uniqueid": _uniqueid(t, party)}, T0 + 3.5)
    assert take.ended == T0 + 3.5
    assert party.recording is None
    effects = [e for _, _, out in replay(t, script) for e in out]
    ended = next(e for e in effects if e.kind == "ended")
    assert ended.call is not None
    [rec] = records(ended.call)
    assert (rec.id, rec.view_id, rec.party, rec.duration) == (
        take.name,
        party.view_id,
        "0003*210",
        2,
    )
    assert set(rec.extensions) == {"0003*210", "0003*024"}
    hangups = [f for f in map(fired, effects) if f is not None and f.type == HANGUP]
    assert {h.extension for h in hangups} == {"0003*210", "0003*024"}
    assert all(h.params["RecordingIDs"] == take.name for h in hangups)


def test_no_recording_no_recording_ids() -> None:
    """A call with no recording: Hangup has no RecordingIDs."""
    script = load("phone_to_phone")
    t = tracker(script)
    effects = [e for _, _, out in replay(t, script) for e in out]
    hangups = [f for f in map(fired, effects) if f is not None and f.type == HANGUP]
    assert hangups
    assert all("RecordingIDs" not in h.params for h in hangups)


def test_open_take_ends_with_its_party_or_the_call() -> None:
    """A take never stopped ends when its party left, else when the call ended; several
    takes are listed in the order they started."""
    call = Call(CALL, published=T0)
    party = call.add_party("0003*210", True, "source")
    call.add_party("5551234", False, "destination")
    party.takes += [Take("uapi-b", "wav", T0 + 5), Take("uapi-a", "wav", T0 + 1)]
    call.ended = T0 + 9
    assert [r.ended for r in records(call)] == [T0 + 9, T0 + 9]
    party.left = T0 + 7
    assert record_of(call, party, party.takes[0]).ended == T0 + 7
    assert recording_ids(call) == ["uapi-a", "uapi-b"]
    assert extensions_of(call) == ("0003*210",)
