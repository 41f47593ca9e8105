"""`Changed`: the tracker's one effect for what no party step says (park, hold, recording,
mute, the API's marks), once per step that really changes the call, never for a no-op."""

from __future__ import annotations

import pytest

from bridge.domain.model import Changed, Channel, Effect, Take
from bridge.domain.tracker import CallTracker
from tests.domain.replay import T0, load, run, tracker

CALL = load("two_party").call_id


@pytest.fixture
def answered() -> tuple[CallTracker, Channel, Channel]:
    """The two-party call, both up: (tracker, 210's channel, the trunk's channel)."""
    t, _ = run(load("two_party"), until=1.0)
    trunk = next(c for c in t.channels.values() if c.name.startswith("PJSIP/trunk"))
    p210 = next(c for c in t.channels.values() if c.name.startswith("PJSIP/210"))
    return t, p210, trunk


def changed(effects: list[Effect]) -> list[str]:
    """The call ids of the Changed effects."""
    return [e.call_id for e in effects if isinstance(e, Changed)]


def test_changed_is_an_effect_of_its_own_kind() -> None:
    """Changed(call_id) is an Effect of kind `changed`, with no party and no call."""
    effect = Changed(CALL)
    assert (effect.kind, effect.call_id, effect.party, effect.call) == ("changed", CALL, None, None)
    assert effect == Changed(CALL)
    assert effect != Changed("another")


def park(uid: str, space: str = "705") -> dict[str, str]:
    return {
        "Event": "ParkedCall",
        "ParkeeUniqueid": uid,
        "ParkingSpace": space,
        "ParkerDialString": "PJSIP/210",
    }


def test_park_and_unpark(answered: tuple[CallTracker, Channel, Channel]) -> None:
    """ParkedCall and UnParkedCall each change the call once; the same again changes nothing."""
    t, _, trunk = answered
    assert changed(t.apply(park(trunk.uniqueid), T0 + 2)) == [CALL]
    assert changed(t.apply(park(trunk.uniqueid), T0 + 2)) == []
    assert changed(t.apply(park(trunk.uniqueid, "706"), T0 + 2)) == [CALL]
    unpark = {"Event": "UnParkedCall", "ParkeeUniqueid": trunk.uniqueid}
    assert changed(t.apply(unpark, T0 + 3)) == [CALL]
    assert changed(t.apply(unpark, T0 + 3)) == []


def test_hold_and_unhold(answered: tuple[CallTracker, Channel, Channel]) -> None:
    """MusicOnHoldStart/Stop change the call; a Stop when nothing is on hold does not."""
    t, _, trunk = answered
    stop = {"Event": "MusicOnHoldStop", "Uniqueid": trunk.uniqueid}
    assert changed(t.apply(stop, T0 + 2)) == []
    start = {"Event": "MusicOnHoldStart", "Uniqueid": trunk.uniqueid}
    assert changed(t.apply(start, T0 + 2)) == [CALL]
    assert changed(t.apply(stop, T0 + 3)) == [CALL]


def test_holder_is_a_change_made_once(answered: tuple[CallTracker, Channel, Channel]) -> None:
    """mark_holder returns Changed the first time only; MusicOnHoldStop clears it (a change)."""
    t, _, trunk = answered
    assert changed(t.mark_holder(CALL, "0003*210")) == [CALL]
    assert t.mark_holder(CALL, "0003*210") == []
    assert t.mark_holder(CALL, "nobody") == []
    assert t.mark_holder("no-such-call", "0003*210") == []
    assert changed(t.apply({"Event": "MusicOnHoldStop", "Uniqueid": trunk.uniqueid}, T0 + 3))
    assert not t.calls[CALL].parties["0003*210"].holder


def test_recording_start_stop_and_takes(answered: tuple[CallTracker, Channel, Channel]) -> None:
    """MixMonitorStart/Stop change the call; the API's takes go through the tracker."""
    t, p210, _ = answered
    party = t.calls[CALL].parties["0003*210"]
    take = Take("uapi-x-00-1", "wav", T0 + 2)
    assert changed(t.add_take(CALL, "0003*210", take)) == [CALL]
    assert party.takes == [take]
    start = {"Event": "MixMonitorStart", "Uniqueid": p210.uniqueid}
    assert changed(t.apply(start, T0 + 2)) == [CALL]
    assert changed(t.apply(start, T0 + 2)) == []
    assert changed(t.apply({"Event": "MixMonitorStop", "Uniqueid": p210.uniqueid}, T0 + 3))
    assert take.ended == T0 + 3
    assert t.end_takes(CALL, "0003*210", T0 + 4) == []  # none open: nothing to end
    again = Take("uapi-x-00-5", "wav", T0 + 5)
    t.add_take(CALL, "0003*210", again)
    assert changed(t.end_takes(CALL, "0003*210", T0 + 6)) == [CALL]
    assert again.ended == T0 + 6


def test_mute_and_unmute(answered: tuple[CallTracker, Channel, Channel]) -> None:
    """mark_muted changes the call when the channel's muted directions change, only then."""
    t, p210, _ = answered
    assert changed(t.mark_muted(p210.uniqueid, "out", on=True)) == [CALL]
    assert t.mark_muted(p210.uniqueid, "out", on=True) == []
    assert changed(t.mark_muted(p210.uniqueid, "both", on=True)) == [CALL]
    assert changed(t.mark_muted(p210.uniqueid, "both", on=False)) == [CALL]
    assert t.mark_muted(p210.uniqueid, "in", on=False) == []
    assert t.mark_muted("no-such-channel", "in", on=True) == []


def test_transfer_mark(answered: tuple[CallTracker, Channel, Channel]) -> None:
    """mark_transfer changes the call once per target."""
    t, _, _ = answered
    assert changed(t.mark_transfer(CALL, "0003*210", "0003*024")) == [CALL]
    assert t.mark_transfer(CALL, "0003*210", "0003*024") == []


def test_bridges_are_kept_but_change_nothing_shown(
    answered: tuple[CallTracker, Channel, Channel],
) -> None:
    """BridgeEnter/Leave move the leg's bridge (call control reads it) with no effect: no view
    shows it and nothing waits for it."""
    t, p210, _ = answered
    enter = {"Event": "BridgeEnter", "Uniqueid": p210.uniqueid, "BridgeUniqueid": "b2"}
    assert t.apply(enter, T0 + 2) == []
    assert p210.bridge == "b2"
    leave = {"Event": "BridgeLeave", "Uniqueid": p210.uniqueid, "BridgeUniqueid": "b2"}
    assert t.apply(leave, T0 + 3) == []
    assert p210.bridge is None


def test_state_caller_id_and_dial_status(
    answered: tuple[CallTracker, Channel, Channel],
) -> None:
    """A party leg's new state, a new connected line and a new dial status each change the
    call; the same values again do not."""
    t, p210, trunk = answered
    same = {"Event": "Newstate", "Uniqueid": p210.uniqueid, "ChannelState": str(p210.state)}
    assert changed(t.apply(same, T0 + 2)) == []
    ring = {"Event": "Newstate", "Uniqueid": p210.uniqueid, "ChannelState": "4"}  # no step
    assert [e.kind for e in t.apply(ring, T0 + 2)] == ["changed"]
    line = {
        "Event": "NewConnectedLine",
        "Uniqueid": p210.uniqueid,
        "ConnectedLineName": "Someone Else",
        "ConnectedLineNum": "5559999",
    }
    assert changed(t.apply(line, T0 + 2)) == [CALL]
    assert changed(t.apply(line, T0 + 2)) == []
    busy = {"Event": "DialEnd", "DestUniqueid": trunk.uniqueid, "DialStatus": "BUSY"}
    assert changed(t.apply(busy, T0 + 2)) == [CALL]
    assert changed(t.apply(busy, T0 + 2)) == []


def test_no_changed_beside_another_effect_of_the_call() -> None:
    """A step that says what happened already (joined, answered, left, ended) adds no
    Changed for that call, and nothing follows `ended`."""
    script = load("two_party")
    _, effects = run(script)
    kinds = [e.kind for e in effects]
    assert "changed" in kinds
    assert kinds[-1] == "ended"
    assert kinds.count("ended") == 1
    t2, _ = run(script, until=1.0)
    p210 = next(c for c in t2.channels.values() if c.name.startswith("PJSIP/210"))
    hangup = t2.apply({"Event": "Hangup", "Uniqueid": p210.uniqueid, "Cause": "16"}, T0 + 3)
    assert [e.kind for e in hangup] == ["left"]


def test_an_unknown_channel_changes_nothing(
    answered: tuple[CallTracker, Channel, Channel],
) -> None:
    """Events about channels the tracker does not know yield nothing."""
    t, _, _ = answered
    for event in ("MusicOnHoldStart", "MixMonitorStart", "DialEnd", "Newstate"):
        assert t.apply({"Event": event, "Uniqueid": "nope", "BridgeUniqueid": "b"}, T0) == []
    assert t.apply(park("nope"), T0) == []


def test_a_resync_returns_no_changed() -> None:
    """A resync's effects are its joins and ends only (the hub starts over after it)."""
    t, _ = run(load("two_party"), until=1.0)
    t.mark(T0 + 50)
    effects = t.resync([], {}, T0 + 50)
    assert effects
    assert changed(effects) == []


def test_a_deleted_take_is_dropped_once(answered: tuple[CallTracker, Channel, Channel]) -> None:
    """drop_take forgets a take of the live call (a change); an unknown name changes nothing."""
    t, _, _ = answered
    t.add_take(CALL, "0003*210", Take("uapi-x-00-1", "wav", T0 + 2))
    assert t.drop_take(CALL, "uapi-x-00-9") == []
    assert changed(t.drop_take(CALL, "uapi-x-00-1")) == [CALL]
    assert t.calls[CALL].parties["0003*210"].takes == []
    assert t.drop_take(CALL, "uapi-x-00-1") == []
    assert t.drop_take("no-such-call", "uapi-x-00-1") == []


def test_the_first_leg_of_a_call_the_api_announced() -> None:
    """The first event of an API call is its Local leg's Newchannel (no party): a Changed, so
    that whoever shows calls shows it from then on."""
    script = load("two_party")
    t = tracker(script)
    first = script.lines[0][1]
    assert (first["Event"], first["Channel"].startswith("Local/")) == ("Newchannel", True)
    assert [(e.kind, e.call_id) for e in t.apply(first, T0)] == [("changed", CALL)]
