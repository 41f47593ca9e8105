"""domain.cluster and the trackers of two nodes: ids, trunk legs, a trunk call listed once."""

from __future__ import annotations

from bridge.domain.callids import phone_call_id
from bridge.domain.cluster import Cluster
from bridge.domain.model import CallMeta
from bridge.domain.tracker import CallTracker

NODE1 = {"PJSIP/210": "0003*210", "PJSIP/410@node2": "0003*410"}
NODE2 = {"PJSIP/410": "0003*410", "PJSIP/411": "0003*411", "PJSIP/210@node1": "0003*210"}
CALL = "c0ffee0000000000000a"


def event(name: str, **fields: str) -> dict[str, str]:
    return {"Event": name, **fields}


def up(
    uid: str, linkedid: str, channel: str, caller: str, app: str, data: str, secs: int
) -> dict[str, str]:
    """A CoreShowChannel entry of an Up channel, as a resync reads it."""
    return event(
        "CoreShowChannel",
        Uniqueid=uid,
        Linkedid=linkedid,
        Channel=channel,
        ChannelState="6",
        CallerIDNum=caller,
        Application=app,
        ApplicationData=data,
        Duration=f"00:00:{secs:02d}",
    )


def trackers() -> tuple[CallTracker, CallTracker, Cluster]:
    one = CallTracker(NODE1.get)
    two = CallTracker(NODE2.get, "node2")
    return (
        one,
        two,
        Cluster(
            {"node1": one, "node2": two},
            {"node1": {"node2": "PJSIP/node2"}, "node2": {"node1": "PJSIP/node1"}},
        ),
    )


def place_trunk_call(one: CallTracker, two: CallTracker) -> None:
    """210 on node1 calls 410 on node2 through the trunk, as Asterisk reports it."""
    one.annotate(CALL, CallMeta("0003*210", "12", "crm", None, 100.0, ("0003*210",), ("0003*410",)))
    for ev in (
        event(
            "Newchannel",
            Uniqueid="1.1",
            Linkedid=CALL,
            Channel="PJSIP/210-01",
            ChannelState="6",
            CallerIDNum="210",
        ),
        event(
            "Newchannel", Uniqueid="1.2", Linkedid=CALL, Channel="PJSIP/node2-02", ChannelState="0"
        ),
        event(
            "DialBegin",
            Uniqueid="1.1",
            Channel="PJSIP/210-01",
            DestUniqueid="1.2",
            DestChannel="PJSIP/node2-02",
            DialString="410@node2",
        ),
    ):
        one.apply(ev, 101.0)
    ring_in(two, "210")


def ring_in(two: CallTracker, caller: str) -> None:
    """A call from node1's trunk rings 410 on node2, as node2 reports it."""
    for ev in (
        event(
            "Newchannel",
            Uniqueid="1.1",
            Linkedid="1.1",
            Channel="PJSIP/node1-01",
            ChannelState="4",
            CallerIDNum=caller,
        ),
        event(
            "Newchannel", Uniqueid="1.2", Linkedid="1.1", Channel="PJSIP/410-02", ChannelState="0"
        ),
        event(
            "DialBegin",
            Uniqueid="1.1",
            Channel="PJSIP/node1-01",
            DestUniqueid="1.2",
            DestChannel="PJSIP/410-02",
            DialString="410",
        ),
    ):
        two.apply(ev, 101.0)


def test_ids_differ_across_nodes_but_not_on_the_first() -> None:
    """The first node keeps the historic ids (a bridge that grows a node keeps its calls'
    ids); another node's id covers its name; API call ids are kept as they are."""
    assert phone_call_id("1.1") == phone_call_id("1.1", "")
    assert phone_call_id("1.1", "node2") != phone_call_id("1.1")
    assert phone_call_id(CALL, "node2") == CALL


def test_the_trunk_leg_is_the_extension_of_the_other_node() -> None:
    """On node1 the leg dialled as 410@node2 is party 0003*410 (not a public number 410)."""
    one, two, _ = trackers()
    place_trunk_call(one, two)
    call = one.calls[CALL]
    assert sorted(call.parties) == ["0003*210", "0003*410"]
    assert call.parties["0003*410"].channels == {"1.2"}


def test_a_trunk_call_is_listed_once_by_the_node_that_placed_it() -> None:
    """410's list shows node1's call (both parties), not node2's half of it; the half still
    shows where no other node lists the call."""
    one, two, cluster = trackers()
    place_trunk_call(one, two)
    assert [c.id for c in cluster.calls_of({"0003*410"})] == [CALL]
    assert [c.id for c in cluster.calls_of({"0003*210"})] == [CALL]
    [half] = two.calls
    assert cluster.node_of(half) == "node2"
    assert cluster.node_of(CALL) == "node1"
    assert cluster.far_half("node2", half)
    assert not cluster.far_half("node1", CALL)
    assert list(cluster.calls) == [CALL]
    assert half not in cluster.calls
    one.forget(CALL)  # remembered: its last effects are told apart too
    assert cluster.far_half("node2", half)


def test_a_call_ringing_in_through_a_trunk_that_no_node_dials_is_shown() -> None:
    """Node2's call from the trunk while node1 has no call dialling node2 (e.g. node1 is not
    one of ours): it is the only view of the call, so it is listed."""
    _, two, cluster = trackers()
    ring_in(two, "5551234")
    [call] = two.calls
    assert not cluster.far_half("node2", call)
    assert [c.id for c in cluster.calls_of({"0003*410"})] == [call]


def test_channels_of_a_call_are_those_of_its_node() -> None:
    one, two, cluster = trackers()
    place_trunk_call(one, two)
    assert cluster.channels_of(CALL)["1.2"].name == "PJSIP/node2-02"
    [half] = two.calls
    assert cluster.channels_of(half)["1.2"].name == "PJSIP/410-02"
    assert cluster.channels_of("0" * 20) == {}


def test_a_far_half_found_up_at_a_resync_is_still_a_far_half() -> None:
    """Node2 reconnects while node1's trunk call to 410 is up (found by the soak, issue 27):
    CoreShowChannels has node2's trunk leg already Up, not ringing. It is the call's source
    (from its Dial), so the half is told apart: nothing of it is listed or fires."""
    one, two, cluster = trackers()
    place_trunk_call(one, two)
    two.forget(next(iter(two.calls)))
    snapshot = [
        up("7.1", "7.1", "PJSIP/node1-07", "210", "Dial", "PJSIP/410,30", 3),
        up("7.2", "7.1", "PJSIP/410-08", "410", "AppDial", "(Outgoing Line)", 3),
    ]
    two.mark(110.0)
    effects = two.resync(snapshot, {}, 110.0)
    assert effects
    assert all(cluster.far_half("node2", e.call_id) for e in effects)
    assert [c.id for c in cluster.calls_of({"0003*410"})] == [CALL]


def test_a_parked_trunk_leg_found_at_a_resync_keeps_its_far_half_apart() -> None:
    """210 called 410 through the trunk and parked it, then the bridge restarted (found by the
    soak, issue 27): node1's parked trunk leg has no dialler left; it is still the planned 410,
    so node2's half stays a far half (no second record, no webhooks of its own)."""
    one, two, cluster = trackers()
    meta = CallMeta("0003*210", "12", "crm", None, 100.0, ("0003*210",), ("0003*410",))
    parked = up("1.2", CALL, "PJSIP/node2-02", "410", "Park", "default:701", 5)
    one.mark(110.0)
    one.resync([parked], {CALL: meta}, 110.0)
    assert one.calls[CALL].parties["0003*410"].channels == {"1.2"}
    far = [
        up("7.1", "7.1", "PJSIP/node1-07", "210", "Dial", "PJSIP/410,30", 8),
        up("7.2", "7.1", "PJSIP/410-08", "410", "AppDial", "(Outgoing Line)", 8),
    ]
    two.mark(110.0)
    effects = two.resync(far, {}, 110.0)
    assert effects
    assert all(cluster.far_half("node2", e.call_id) for e in effects)
    assert [c.id for c in cluster.calls_of({"0003*410"})] == [CALL]


def test_a_call_from_a_peer_extension_is_a_far_half_before_the_peer_dials() -> None:
    """Node2's half of 210's trunk call arrives before node1's call is seen (node2's events
    first, or node2 resynced first at a bridge's start; found by the soak, issue 27): its
    caller is node1's extension 210, so it is a far half from its first leg on."""
    _, two, cluster = trackers()
    ring_in(two, "210")
    [half] = two.calls
    assert cluster.far_half("node2", half)
    assert list(cluster.calls) == []


def test_a_trunk_leg_transferred_away_is_not_a_far_half_at_a_resync() -> None:
    """210 called 410 through the trunk; 210 transferred the trunk leg (410) to 025, so that
    leg now runs Dial(PJSIP/025) on node1; then the bridge restarted (found by the 20-minute
    soak, issue 27, seed 2027). At the resync the leg looks like a call ringing in from node2's
    410, but it did not begin its call (its Linkedid is the API call's): the call is node1's
    own, listed, not a far half (it was closed as gone, 2 s before its end, and its end never
    recorded)."""
    one, _, cluster = trackers()
    meta = CallMeta("0003*210", "12", "crm", None, 100.0, ("0003*210",), ("0003*410",))
    legs = [
        up("1.2", CALL, "PJSIP/node2-02", "410", "Dial", "PJSIP/025,25", 5),
        up("1.3", CALL, "PJSIP/025-03", "025", "AppDial", "(Outgoing Line)", 2),
    ]
    one.mark(110.0)
    one.resync(legs, {CALL: meta}, 110.0)
    assert not cluster.far_half("node1", CALL)
    assert list(cluster.calls) == [CALL]
