"""The call tracker replaying real sandbox transcripts: views, effects, resync."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.domain.model import CallMeta
from bridge.domain.tracker import CallTracker
from bridge.domain.views import phone_call
from tests.domain.replay import (
    EXTENSIONS,
    PLANS,
    SCENARIOS,
    T0,
    load,
    run,
    snapshot,
    tracker,
)


def views(t: CallTracker, call_id: str) -> dict[str, dict[str, Any]]:
    """The PhoneCallViews of a call, by extension."""
    call = phone_call(t.calls[call_id], t.channels)
    return {v["extension"]: v for v in call["phoneCallView"]}


@pytest.mark.parametrize("name", SCENARIOS)
def test_every_recorded_call_ends_and_leaves_nothing(name: str) -> None:
    """After the whole transcript no call or channel is left, and the call ended once."""
    script = load(name)
    t, effects = run(script)
    assert t.calls == {}
    assert t.channels == {}
    assert [e.call_id for e in effects if e.kind == "ended"] == [script.call_id]


@pytest.mark.parametrize("name", SCENARIOS)
def test_each_party_joins_before_it_answers_and_leaves_once(name: str) -> None:
    """Per party: joined first, answered at most once, left exactly once and last."""
    _, effects = run(load(name))
    parties = {e.party for e in effects if e.party is not None}
    assert parties
    for party in parties:
        kinds = [e.kind for e in effects if e.party == party]
        assert kinds[0] == "joined"
        assert kinds[-1] == "left"
        assert kinds.count("left") == kinds.count("joined") == 1
        assert kinds.count("answered") <= 1


def test_two_party_call_to_a_public_number() -> None:
    """210 -> 5551234: both on call (status 5), outgoing public flow, ids 00 and 01."""
    script = load("two_party")
    t, effects = run(script, until=1.0)
    v = views(t, script.call_id)
    assert v["0003*210"]["id"] == "00"
    assert v["5551234"]["id"] == "01"
    assert {x["status"] for x in v.values()} == {"5"}
    assert {x["flow"] for x in v.values()} == {"4"}
    assert v["0003*210"]["source"] == ["0003*210"]
    assert v["0003*210"]["destination"] == ["5551234"]
    assert v["0003*210"]["callerId"] == "Shown To Source <4242425>"
    assert v["5551234"]["callerId"] == "Shown To Dest <210>"
    assert v["0003*210"]["disposition"] == "0"
    call = phone_call(t.calls[script.call_id], t.channels)
    assert call["extension"] == "0003*210"
    assert call["published"] == "2027-01-15T08:00:00Z"
    assert "answered" in call
    assert [(e.kind, e.party, e.role) for e in effects if e.kind != "changed"] == [
        ("joined", "0003*210", "source"),
        ("answered", "0003*210", "source"),
        ("joined", "5551234", "destination"),
        ("answered", "5551234", "destination"),
    ]


def test_parallel_sources_first_answer_wins() -> None:
    """025 and 026 ring together; 025 answers, 026 stops with NO ANSWER, 024 is called."""
    script = load("parallel_sources")
    t, _ = run(script, until=1.0)
    ringing = views(t, script.call_id)
    assert ringing["0003*025"]["status"] == ringing["0003*026"]["status"] == "3"
    assert "ringing" in ringing["0003*025"]
    assert ringing["0003*024"]["status"] == "0"  # not called yet
    t, _ = run(script, until=4.0)
    talking = views(t, script.call_id)
    assert talking["0003*025"]["status"] == talking["0003*024"]["status"] == "5"
    assert talking["0003*026"]["status"] == "0"
    assert talking["0003*026"]["disposition"] == "3"
    assert [talking[k]["id"] for k in ("0003*025", "0003*026", "0003*024")] == ["00", "01", "02"]
    assert talking["0003*024"]["source"] == ["0003*025", "0003*026"]


def test_no_answer_is_ringing_until_the_call_is_gone() -> None:
    """026 never answers: status 3 while it rings, then the call is gone."""
    script = load("no_answer")
    t, _ = run(script, until=1.0)
    assert views(t, script.call_id)["0003*026"]["status"] == "3"
    t, _ = run(script)
    assert script.call_id not in t.calls


@pytest.mark.parametrize(("name", "busy"), [("busy", "0003*027"), ("destination_busy", "0003*027")])
def test_busy_party_gets_disposition_busy(name: str, busy: str) -> None:
    """A 486 answer shows disposition 1 (BUSY) on that party's view before the call ends."""
    script = load(name)
    t = tracker(script)
    for at, event in script.lines:
        t.apply(event, T0 + at)
        if event["Event"] == "DialEnd" and event.get("DialStatus") == "BUSY":
            break
    assert views(t, script.call_id)[busy]["disposition"] == "1"


def test_phone_to_phone_call_is_seen_from_both_sides() -> None:
    """A call not made through the API: 210 called 024; each view shows the other's number."""
    script = load("phone_to_phone")
    t, effects = run(script, until=1.0)
    v = views(t, script.call_id)
    assert v["0003*210"]["id"] == "00"
    assert v["0003*024"]["id"] == "01"
    assert v["0003*210"]["source"] == v["0003*024"]["source"] == ["0003*210"]
    assert v["0003*210"]["destination"] == ["0003*024"]
    assert v["0003*210"]["status"] == v["0003*024"]["status"] == "5"
    assert v["0003*210"]["flow"] == "2"
    assert v["0003*024"]["callerId"] == "Phone 210 <210>"
    assert v["0003*210"]["callerId"] == "Phone 024 <024>"
    assert phone_call(t.calls[script.call_id], t.channels)["extension"] == "0003*210"
    assert {(e.party, e.role) for e in effects if e.kind == "joined"} == {
        ("0003*210", "source"),
        ("0003*024", "destination"),
    }


def test_api_call_is_listed_before_asterisk_reports_it() -> None:
    """Annotated before the Originate: the planned parties have views, status 0."""
    script = load("hangup_by_source")
    t = tracker(script)
    v = views(t, script.call_id)
    assert [v[k]["id"] for k in ("0003*210", "0003*024")] == ["00", "01"]
    assert {x["status"] for x in v.values()} == {"0"}


def test_forget_drops_a_refused_call() -> None:
    """An Originate that Asterisk refused leaves no call behind."""
    script = load("busy")
    t = tracker(script)
    t.forget(script.call_id)
    assert t.calls == {}


def test_late_events_do_not_bring_an_ended_call_back() -> None:
    """Replaying the transcript again after the end creates nothing for the ended id."""
    script = load("no_answer")
    t, _ = run(script)
    for at, event in script.lines:
        t.apply(event, T0 + 10 + at)
    assert t.calls == {}
    assert t.channels == {}


def test_unknown_events_and_channels_are_ignored() -> None:
    """Events for channels never announced, or of kinds not tracked, change nothing."""
    t = CallTracker(lambda _channel: None)
    assert t.apply({"Event": "Newstate", "Uniqueid": "x.1", "ChannelState": "6"}, T0) == []
    assert t.apply({"Event": "Hangup", "Uniqueid": "x.1"}, T0) == []
    assert t.apply({"Event": "VarSet", "Uniqueid": "x.1"}, T0) == []
    assert t.apply({"Event": "Newchannel"}, T0) == []
    assert t.calls == {}


def test_incoming_public_call_is_flow_8() -> None:
    """A trunk leg that calls in (state Ring, a number) is a public source: flow 8."""
    t = CallTracker({"PJSIP/210": "0003*210"}.get)
    t.apply(
        {
            "Event": "Newchannel",
            "Uniqueid": "a.1",
            "Linkedid": "a.1",
            "ChannelState": "4",
            "Channel": "PJSIP/trunk-00000001",
            "CallerIDNum": "+40721000000",
        },
        T0,
    )
    t.apply(
        {
            "Event": "Newchannel",
            "Uniqueid": "a.2",
            "Linkedid": "a.1",
            "ChannelState": "0",
            "Channel": "PJSIP/210-00000002",
            "CallerIDNum": "210",
        },
        T0,
    )
    t.apply(
        {
            "Event": "DialBegin",
            "Channel": "PJSIP/trunk-00000001",
            "Uniqueid": "a.1",
            "DestChannel": "PJSIP/210-00000002",
            "DestUniqueid": "a.2",
            "DialString": "210",
        },
        T0,
    )
    t.apply({"Event": "Newstate", "Uniqueid": "a.2", "ChannelState": "5"}, T0 + 1)
    (call_id,) = t.calls
    v = views(t, call_id)
    assert v["+40721000000"]["source"] == ["+40721000000"]
    assert v["0003*210"]["flow"] == "8"
    assert v["0003*210"]["status"] == "3"
    assert v["+40721000000"]["status"] == "4"


def test_resync_after_restart_keeps_ids_and_views() -> None:
    """A fresh tracker given the snapshot and the stored meta rebuilds the same call."""
    script = load("two_party")
    before, _ = run(script, until=1.0)
    fresh = CallTracker(EXTENSIONS.get)
    fresh.mark(T0 + 100)
    meta = script.meta()
    assert meta is not None
    effects = fresh.resync(snapshot(before), {script.call_id: meta}, T0 + 100)
    old, new = views(before, script.call_id), views(fresh, script.call_id)
    assert {k: (v["id"], v["status"]) for k, v in new.items()} == {
        k: (v["id"], v["status"]) for k, v in old.items()
    }
    assert (
        phone_call(fresh.calls[script.call_id], fresh.channels)["published"]
        == (phone_call(before.calls[script.call_id], before.channels)["published"])
    )
    assert {e.kind for e in effects} == {"joined", "answered"}


def test_resync_drops_calls_that_ended_while_the_link_was_down() -> None:
    """A call whose channels are not in the snapshot ends (left + ended effects)."""
    script = load("phone_to_phone")
    t, _ = run(script, until=1.0)
    t.mark(T0 + 50)
    effects = t.resync([], {}, T0 + 50)
    assert t.calls == {}
    assert t.channels == {}
    assert sorted(e.kind for e in effects) == ["ended", "left", "left"]


def test_resync_keeps_what_happened_after_the_mark() -> None:
    """A channel announced between mark() and the snapshot's arrival is not dropped, and a
    channel hung up in that window is not brought back."""
    script = load("phone_to_phone")
    t, _ = run(script, until=0.003)
    stale = snapshot(t)
    t.mark(T0)
    for at, event in script.lines:
        if 0.003 < at <= 1.0:
            t.apply(event, T0 + at)
    t.resync(stale, {}, T0 + 1)
    assert set(views(t, script.call_id)) == {"0003*210", "0003*024"}
    t.mark(T0 + 2)
    stale = snapshot(t)
    t.apply({"Event": "Hangup", "Uniqueid": stale[0]["Uniqueid"]}, T0 + 2)
    t.resync(stale, {}, T0 + 2)
    assert stale[0]["Uniqueid"] not in t.channels


def test_annotate_keeps_the_plan_order_for_views() -> None:
    """Planned sources come first, then destinations, whatever order Asterisk reports."""
    t = CallTracker(lambda _channel: None)
    t.annotate(
        "a" * 20,
        CallMeta("0003*210", "12", "crm", "n1", T0, ("0003*210", "0003*024"), ("5551234",)),
    )
    call = phone_call(t.calls["a" * 20], t.channels)
    assert [(v["id"], v["extension"]) for v in call["phoneCallView"]] == [
        ("00", "0003*210"),
        ("01", "0003*024"),
        ("02", "5551234"),
    ]
    assert call["nonce"] == "n1"
    assert len(PLANS) == 7


@pytest.mark.parametrize(
    ("name", "party", "status"),
    [
        ("two_party", "0003*210", "ANSWER"),
        ("busy", "0003*027", "BUSY"),
        ("no_answer", "0003*026", "NOANSWER"),
        ("parallel_sources", "0003*026", "CANCEL"),
        ("destination_busy", "0003*027", "BUSY"),
    ],
)
def test_left_carries_the_hangup_call_status(name: str, party: str, status: str) -> None:
    """Each party's `left` effect says how its leg ended, as VoipNow's Hangup CallStatus."""
    _, effects = run(load(name))
    [left] = [e for e in effects if e.kind == "left" and e.party == party]
    assert left.status == status
    assert left.call is not None
    assert left.call.id == left.call_id


def test_parking_shows_on_the_parked_view_and_clears() -> None:
    """ParkedCall marks the parkee's view (space, parker); UnParkedCall clears it."""
    script = load("two_party")
    t, _ = run(script, until=1.0)
    trunk = next(c for c in t.channels.values() if c.name.startswith("PJSIP/trunk"))
    t.apply(
        {
            "Event": "ParkedCall",
            "ParkeeUniqueid": trunk.uniqueid,
            "ParkingSpace": "705",
            "ParkerDialString": "PJSIP/210",
        },
        T0 + 2,
    )
    t.apply({"Event": "MusicOnHoldStart", "Uniqueid": trunk.uniqueid}, T0 + 2)
    v = views(t, script.call_id)["5551234"]
    assert (v["parkedPos"], v["parkedBy"], v["parked"]) == (
        "705",
        "0003*210",
        "2027-01-15T08:00:02Z",
    )
    assert "onHold" not in v  # parked calls hear music, but are not "on hold"
    t.apply({"Event": "UnParkedCall", "ParkeeUniqueid": trunk.uniqueid}, T0 + 3)
    assert "parked" not in views(t, script.call_id)["5551234"]


def test_hold_and_recording_from_events() -> None:
    """MusicOnHoldStart/Stop and MixMonitorStart/Stop show as onHold (+ holder) and recording."""
    script = load("two_party")
    t, _ = run(script, until=1.0)
    trunk = next(c for c in t.channels.values() if c.name.startswith("PJSIP/trunk"))
    p210 = next(c for c in t.channels.values() if c.name.startswith("PJSIP/210"))
    t.mark_holder(script.call_id, "0003*210")
    t.apply({"Event": "MusicOnHoldStart", "Uniqueid": trunk.uniqueid}, T0 + 2)
    t.apply({"Event": "MixMonitorStart", "Uniqueid": p210.uniqueid}, T0 + 2)
    v = views(t, script.call_id)
    assert "onHold" in v["5551234"]
    assert v["0003*210"]["holder"] == "1"
    assert "recording" in v["0003*210"]
    t.apply({"Event": "MusicOnHoldStop", "Uniqueid": trunk.uniqueid}, T0 + 3)
    t.apply({"Event": "MixMonitorStop", "Uniqueid": p210.uniqueid}, T0 + 3)
    v = views(t, script.call_id)
    assert "onHold" not in v["5551234"]
    assert "holder" not in v["0003*210"]
    assert "recording" not in v["0003*210"]


def test_expected_leg_joins_the_call_and_a_new_linkedid_moves_a_channel() -> None:
    """A leg the API announced (expect) joins the call at once; a channel whose Linkedid
    Asterisk changes (bridged into an older call) moves there, leaving its own call."""
    script = load("two_party")
    t, _ = run(script, until=1.0)
    t.expect("x-1", script.call_id)
    t.apply(
        {
            "Event": "Newchannel",
            "Uniqueid": "x-1",
            "Linkedid": "x-1",
            "ChannelState": "5",
            "Channel": "PJSIP/024-00000001",
        },
        T0 + 2,
    )
    t.apply(
        {
            "Event": "Newstate",
            "Uniqueid": "x-1",
            "Linkedid": "x-1",
            "ChannelState": "6",
            "Channel": "PJSIP/024-00000001",
        },
        T0 + 2,
    )
    assert views(t, script.call_id)["0003*024"]["status"] == "5"
    t.apply(
        {
            "Event": "Newchannel",
            "Uniqueid": "y.1",
            "Linkedid": "y.1",
            "ChannelState": "6",
            "Channel": "PJSIP/026-00000002",
        },
        T0 + 3,
    )
    (other,) = set(t.calls) - {script.call_id}
    effects = t.apply(
        {
            "Event": "BridgeEnter",
            "Uniqueid": "y.1",
            "Linkedid": script.call_id,
            "BridgeUniqueid": "b",
            "Channel": "PJSIP/026-00000002",
        },
        T0 + 4,
    )
    assert other not in t.calls
    assert "0003*026" in views(t, script.call_id)
    assert [e.kind for e in effects] == ["left", "ended", "joined"]


def test_resync_takes_the_caller_from_its_dial_whatever_the_order() -> None:
    """A phone-to-phone call found up at a resync, the called phone listed first with the
    same duration (found by the soak, issue 27): the leg running Dial is the source, as it was
    live, so no party changes role (which fired DialOut/DialIn a second time)."""
    common = {
        "Event": "CoreShowChannel",
        "Linkedid": "soak-1",
        "ChannelState": "6",
        "Duration": "00:00:05",
        "BridgeId": "b-1",
    }
    snapshot = [
        {
            **common,
            "Channel": "PJSIP/210-00000002",
            "Uniqueid": "soak-1-2",
            "Application": "AppDial",
            "ApplicationData": "(Outgoing Line)",
            "CallerIDNum": "210",
        },
        {
            **common,
            "Channel": "PJSIP/024-00000001",
            "Uniqueid": "soak-1",
            "Application": "Dial",
            "ApplicationData": "PJSIP/210,30",
            "CallerIDNum": "024",
        },
    ]
    t = CallTracker(EXTENSIONS.get)
    t.mark(T0)
    t.resync(snapshot, {}, T0)
    [call] = t.calls.values()
    assert {k: p.role for k, p in call.parties.items()} == {
        "0003*024": "source",
        "0003*210": "destination",
    }


def test_resync_takes_the_caller_of_a_call_off_hold_from_its_first_leg() -> None:
    """A phone-to-phone call put on hold and back through the API, found up at a resync (found
    by the soak, issue 27): neither leg runs Dial any more (the AMI Bridge joined them), so the
    call's first leg (its Uniqueid is the Linkedid) is the source; it was taken as a
    destination, and DialIn/AnswerIn fired for the caller."""
    common = {
        "Event": "CoreShowChannel",
        "Linkedid": "soak-2",
        "ChannelState": "6",
        "Duration": "00:00:05",
        "BridgeId": "b-2",
        "Application": "Bridge",
    }
    snapshot = [
        {**common, "Channel": "PJSIP/210-00000004", "Uniqueid": "soak-2-2", "CallerIDNum": "210"},
        {**common, "Channel": "PJSIP/024-00000003", "Uniqueid": "soak-2", "CallerIDNum": "024"},
    ]
    t = CallTracker(EXTENSIONS.get)
    t.mark(T0)
    t.resync(snapshot, {}, T0)
    [call] = t.calls.values()
    assert {k: p.role for k, p in call.parties.items()} == {
        "0003*024": "source",
        "0003*210": "destination",
    }


def test_resync_says_what_it_did_not_see() -> None:
    """What the history ranks two bridges' records by (issue 27): a call found at a resync
    lived through one, a call seen whole through none; one that ended while the link was
    down ended unseen, one that ended as it was watched did not."""
    script = load("two_party")
    _, whole = run(script)
    [ended] = [e for e in whole if e.kind == "ended"]
    assert ended.call is not None
    assert (ended.call.resyncs, ended.call.ended_unseen) == (0, False)
    before, _ = run(script, until=1.0)
    fresh = CallTracker(EXTENSIONS.get)
    fresh.mark(T0 + 100)
    fresh.resync(snapshot(before), {}, T0 + 100)
    assert fresh.calls[script.call_id].resyncs == 1
    fresh.mark(T0 + 200)
    [gone] = [e for e in fresh.resync([], {}, T0 + 200) if e.kind == "ended"]
    assert gone.call is not None
    assert (gone.call.resyncs, gone.call.ended_unseen) == (2, True)


MAKE_CALL = "e9491d57ca4e847eb203"  # a make-call 210 -> 024, as the soak's CDR has it (issue 27)


def _make_call_entry(name: str, uid: str, app: str, data: str = "") -> dict[str, str]:
    return {
        "Event": "CoreShowChannel",
        "Channel": name,
        "Uniqueid": uid,
        "Linkedid": MAKE_CALL,
        "ChannelState": "6",
        "Duration": "00:00:03",
        "Application": app,
        "ApplicationData": data,
        "BridgeId": "",
    }


def test_resync_without_the_plan_finds_a_make_calls_source_by_its_dialler() -> None:
    """A bridge that resyncs a make-call before its plan is in the store (another bridge
    placed it a moment before) sees both phones' legs in AppDial: the leg the `;2` half of
    the Local channel dialled is the source, the other a destination, as the live events
    would say (found by the soak, issue 27: the wrong direction's webhooks fired)."""
    t = CallTracker(EXTENSIONS.get)
    t.mark(T0)
    snapshot = [
        _make_call_entry("Local/s@uapi-source-00000836;1", MAKE_CALL, "Dial", "PJSIP/024,25,b(x)"),
        _make_call_entry(
            "Local/s@uapi-source-00000836;2", f"{MAKE_CALL}-2", "Dial", "PJSIP/210,25,b(x)"
        ),
        _make_call_entry("PJSIP/210-000014d0", "1765056909.1", "AppDial", "(Outgoing Line)"),
        _make_call_entry("PJSIP/024-000014d1", "1765056909.2", "AppDial", "(Outgoing Line)"),
    ]
    effects = t.resync(snapshot, {}, T0)
    call = t.calls[MAKE_CALL]
    assert {k: p.role for k, p in call.parties.items()} == {
        "0003*210": "source",
        "0003*024": "destination",
    }
    assert {(e.kind, e.party, e.role) for e in effects if e.kind == "joined"} == {
        ("joined", "0003*210", "source"),
        ("joined", "0003*024", "destination"),
    }


def test_a_leg_dialled_by_a_channel_the_tracker_never_saw_takes_the_dialler_role() -> None:
    """DialBegin names its dialler: a leg the make-call's `;1` half dials is a destination
    even when that half was never seen (its events came before the link, or while the
    bridge started), not the source a call without one would otherwise take."""
    t = CallTracker(EXTENSIONS.get)
    for event in (
        {
            "Event": "Newchannel",
            "Channel": "PJSIP/024-000014d1",
            "Uniqueid": "1765056909.2",
            "Linkedid": MAKE_CALL,
            "ChannelState": "0",
        },
        {
            "Event": "DialBegin",
            "Channel": "Local/s@uapi-source-00000836;1",
            "Uniqueid": MAKE_CALL,
            "Linkedid": MAKE_CALL,
            "DestChannel": "PJSIP/024-000014d1",
            "DestUniqueid": "1765056909.2",
            "DestLinkedid": MAKE_CALL,
            "DialString": "024",
        },
    ):
        t.apply(event, T0)
    assert t.calls[MAKE_CALL].parties["0003*024"].role == "destination"
