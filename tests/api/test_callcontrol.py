"""PUT /uapi/phoneCalls/{userId}/{extension}/{phoneCallId}: every failure code (nothing reaches
Asterisk), and the AMI actions each action sends. The real calls are in tests/system."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from bridge.domain.tracker import CallTracker
from tests.api.conftest import ReactingPbx
from tests.api.test_calllist import live
from tests.conftest import Api
from tests.domain.replay import load, replay


class TrackingPbx(ReactingPbx):
    """Records actions; answers Park and MixMonitor with the events Asterisk would send."""

    def react(self, action: Any, tracker: CallTracker) -> None:
        by_name = {c.name: c for c in tracker.channels.values()}
        if action["Action"] == "Park":
            tracker.apply(
                {
                    "Event": "ParkedCall",
                    "ParkeeUniqueid": by_name[action["Channel"]].uniqueid,
                    "ParkingSpace": "701",
                    "ParkerDialString": "PJSIP/210",
                },
                1.8e9,
            )
        if action["Action"] == "MixMonitor":
            tracker.apply(
                {"Event": "MixMonitorStart", "Uniqueid": by_name[action["Channel"]].uniqueid}, 1.8e9
            )


@pytest.fixture
def pbx(api: Api) -> TrackingPbx:
    fake = TrackingPbx(api)
    api.plug(fake)
    return fake


async def put(api: Api, body: Any, call_id: str, extension: str = "210") -> tuple[int, Any]:
    resp = await api.client.put(
        f"/uapi/phoneCalls/@me/{extension}/{call_id}", json=body, headers=api.auth()
    )
    raw = await resp.read()
    return resp.status, (await resp.json()) if raw else None


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"phoneCallViewId": "00"}, "pc_action_invalid"),
        ({"action": "Dance", "phoneCallViewId": "00"}, "pc_action_invalid"),
        ([{"action": "Park"}], "pc_action_invalid"),
        ({"action": "Park"}, "pc_phonecallview_invalid"),
        ({"action": "Park", "phoneCallViewId": "07"}, "pc_phonecallview_invalid"),
        (
            {"action": "UnPark", "phoneCallViewId": "01", "sendCallTo": "024"},
            "pc_phonecallview_invalid",
        ),  # nothing is parked
        ({"action": "OffHold", "phoneCallViewId": "00"}, "pc_phonecallview_invalid"),
        ({"action": "StopRecording", "phoneCallViewId": "00"}, "pc_phonecallview_invalid"),
        (
            {"action": "PickUp", "phoneCallViewId": "01", "sendCallTo": "024"},
            "pc_phonecallview_invalid",
        ),  # not ringing
        ({"action": "Park", "phoneCallViewId": "00", "maxInParking": 5}, "pc_maxinparking_invalid"),
        (
            {"action": "Park", "phoneCallViewId": "00", "maxInParking": "3601"},
            "pc_maxinparking_invalid",
        ),
        (
            {"action": "Park", "phoneCallViewId": "00", "maxInParking": ""},
            "pc_maxinparking_invalid",
        ),  # empty is invalid, not the default
        (
            {
                "action": "BargeIn",
                "phoneCallViewId": "00",
                "sendCallTo": "024",
                "waitForPickup": "",
            },
            "pc_timeout_invalid",
        ),
        ({"action": "BargeIn", "phoneCallViewId": "00"}, "pc_sendcallto_invalid"),
        (
            {"action": "BargeIn", "phoneCallViewId": "00", "sendCallTo": "5551234"},
            "pc_sendcallto_invalid",
        ),
        (
            {"action": "BargeIn", "phoneCallViewId": "00", "sendCallTo": "0003*999"},
            "pc_sendcallto_invalid",
        ),
        (
            {"action": "Transfer", "phoneCallViewId": "00", "sendCallTo": "5550000"},
            "pc_sendcallto_invalid",
        ),  # public, and the call was made without allowPublicTransfer
        (
            {"action": "Transfer", "phoneCallViewId": "00", "sendCallTo": "12ab"},
            "pc_sendcallto_invalid",
        ),
        (
            {"action": "BargeIn", "phoneCallViewId": "00", "sendCallTo": "0004*300"},
            "pc_sendcallto_invalid",
        ),  # another organization's phone: as if unknown
        (
            {
                "action": "BargeIn",
                "phoneCallViewId": "00",
                "sendCallTo": "024",
                "waitForPickup": "0",
            },
            "pc_timeout_invalid",
        ),
        (
            {
                "action": "Monitor",
                "phoneCallViewId": "00",
                "sendCallTo": "024",
                "waitForPickup": "soon",
            },
            "pc_timeout_invalid",
        ),
        (
            {
                "action": "BargeIn",
                "phoneCallViewId": "00",
                "sendCallTo": "024",
                "callerId": "Boss <1>\r\nAction: Hangup",
            },
            "pc_callerid_invalid",
        ),
        (
            {
                "action": "BargeIn",
                "phoneCallViewId": "00",
                "sendCallTo": "024",
                "callerId": "no number",
            },
            "pc_callerid_invalid",
        ),
        (
            {"action": "StartRecording", "phoneCallViewId": "00", "format": "mp3"},
            "pc_format_invalid",
        ),
        (
            {"action": "Whisper", "phoneCallViewId": "00", "sendCallTo": "024", "private": "maybe"},
            "pc_private_invalid",
        ),
        (
            {
                "action": "Transfer",
                "phoneCallViewId": "00",
                "sendCallTo": "024",
                "transferNumber": "0003*027",
            },
            "pc_transfernumber_invalid",
        ),
        (
            {
                "action": "Transfer",
                "phoneCallViewId": "00",
                "sendCallTo": "024",
                "transferFromNumber": "5550000",
            },
            "pc_transferfromnumber_invalid",
        ),
        *[
            ({"action": "SendDTMF", "phoneCallViewId": "00", "digits": d}, "pc_digits_invalid")
            for d in (None, "", "12a", "1" * 33, "1\r\nAction: Hangup", 123, ["1"], "1 2", "E")
        ],
        *[
            (
                {"action": "SendDTMF", "phoneCallViewId": "00", "digits": "1", "duration": d},
                "pc_duration_invalid",
            )
            for d in (99, "1001", "fast", 1.5, "2 50", "-250")
        ],
        (
            {"action": "SendDTMF", "phoneCallViewId": "07", "digits": "1"},
            "pc_phonecallview_invalid",
        ),
        ({"action": "SendDTMF", "digits": "1"}, "pc_phonecallview_invalid"),
        *[
            ({"action": a, "phoneCallViewId": "00", "direction": d}, "pc_direction_invalid")
            for a in ("Mute", "Unmute")
            for d in ("", "IN", "all", 1, None, "out\r\nX: y")
        ],
        ({"action": "Mute", "phoneCallViewId": "09"}, "pc_phonecallview_invalid"),
        ({"action": "AttendedTransfer", "phoneCallViewId": "00"}, "pc_sendcallto_invalid"),
        (
            {"action": "AttendedTransfer", "phoneCallViewId": "00", "sendCallTo": "0004*300"},
            "pc_sendcallto_invalid",
        ),  # another organization's phone: as if unknown
        (
            {"action": "AttendedTransfer", "phoneCallViewId": "00", "sendCallTo": "5550000"},
            "pc_sendcallto_invalid",
        ),  # public, without allowPublicTransfer
        (
            {
                "action": "AttendedTransfer",
                "phoneCallViewId": "00",
                "sendCallTo": "024\r\nAction: Hangup",
            },
            "pc_sendcallto_invalid",
        ),
        (
            {
                "action": "AttendedTransfer",
                "phoneCallViewId": "00",
                "sendCallTo": "024",
                "waitForPickup": "0",
            },
            "pc_timeout_invalid",
        ),
        (
            {"action": "AttendedTransfer", "phoneCallViewId": "05", "sendCallTo": "024"},
            "pc_phonecallview_invalid",
        ),
        ({"action": "CompleteTransfer", "phoneCallViewId": "00"}, "pc_phonecallview_invalid"),
        ({"action": "CancelTransfer", "phoneCallViewId": "00"}, "pc_phonecallview_invalid"),
        ({"action": "CancelTransfer"}, "pc_phonecallview_invalid"),
    ],
)
async def test_each_failure_code_and_nothing_reaches_asterisk(
    api: Api,
    pbx: TrackingPbx,
    body: Any,
    code: str,
) -> None:
    """Each bad request answers 400 with its code and sends no AMI action."""
    call_id = live(api)
    status, answer = await put(api, body, call_id)
    assert (status, answer["error"]["code"]) == (400, code), answer
    assert pbx.sent == []


async def test_unknown_call_and_another_users_extension(api: Api, pbx: TrackingPbx) -> None:
    """An id that is not a live call of the extension: pc_phonecall_invalid; 024 (Jane's) in
    the path: extension_invalid."""
    call_id = live(api)
    body = {"action": "Park", "phoneCallViewId": "00"}
    assert (await put(api, body, "0" * 20))[1]["error"]["code"] == "pc_phonecall_invalid"
    assert (await put(api, body, call_id, "026"))[1]["error"]["code"] == "pc_phonecall_invalid"
    assert (await put(api, body, call_id, "024"))[1]["error"]["code"] == "extension_invalid"
    assert pbx.sent == []


async def test_pbx_down_is_503(api: Api, pbx: TrackingPbx) -> None:
    """Without the AMI link no action is tried."""
    call_id = live(api)
    pbx.connected = False
    status, body = await put(api, {"action": "Park", "phoneCallViewId": "00"}, call_id)
    assert (status, body["error"]["code"]) == (503, "pbx_unavailable")


async def test_park_parks_the_party_the_view_talks_to(api: Api, pbx: TrackingPbx) -> None:
    """Park on 210's view parks the public party, rings 210 back on timeout, frees 210; the
    answer is an array with the parked view."""
    call_id = live(api)
    status, body = await put(
        api, {"action": "Park", "phoneCallViewId": "00", "maxInParking": "60"}, call_id
    )
    assert status == 200
    park = pbx.sent[0]
    assert park["Channel"].startswith("PJSIP/trunk-")
    assert park["TimeoutChannel"].startswith("PJSIP/210-")
    assert (park["Timeout"], park["Parkinglot"]) == ("60000", "default")
    assert [a["Action"] for a in pbx.sent[1:]] == ["Hangup"]
    views = {v["extension"]: v for v in body[0]["phoneCallView"]}
    assert (views["5551234"]["parkedPos"], views["5551234"]["parkedBy"]) == ("701", "0003*210")


async def test_unpark_rings_the_phone_into_the_parked_space(api: Api, pbx: TrackingPbx) -> None:
    """UnPark originates sendCallTo into uapi-unpark with the space, as part of this call."""
    call_id = live(api)
    await put(api, {"action": "Park", "phoneCallViewId": "00"}, call_id)
    pbx.sent.clear()
    status, _ = await put(
        api,
        {
            "action": "UnPark",
            "phoneCallViewId": "01",
            "sendCallTo": "0003*024",
            "waitForPickup": "20",
            "callerId": "John Doe <42420042>",
        },
        call_id,
    )
    assert status == 200
    [orig] = pbx.sent
    assert (orig["Channel"], orig["Context"], orig["Timeout"]) == (
        "PJSIP/024",
        "uapi-unpark",
        "20000",
    )
    assert orig["CallerID"] == "John Doe <42420042>"
    assert "UAPI_PARK_SPACE=701" in orig["Variable"]
    assert orig["ChannelId"].startswith(f"{call_id}-")
    tracker = api.services.nodes.first.tracker
    tracker.apply(
        {
            "Event": "Newchannel",
            "Uniqueid": orig["ChannelId"],
            "Channel": "PJSIP/024-000000aa",
            "Linkedid": orig["ChannelId"],
            "ChannelState": "5",
        },
        1.8e9,
    )
    assert "0003*024" in tracker.calls[call_id].parties  # the new leg is part of the call


async def test_transfer_redirects_the_far_party(api: Api, pbx: TrackingPbx) -> None:
    """Transfer sets the target on the far party's channel, then redirects it."""
    call_id = live(api)
    status, _ = await put(
        api,
        {
            "action": "Transfer",
            "phoneCallViewId": "00",
            "sendCallTo": "024",
            "transferFromNumber": "210",
        },
        call_id,
    )
    assert status == 200
    sets = {a["Variable"]: a["Value"] for a in pbx.sent if a["Action"] == "Setvar"}
    assert sets["UAPI_TRANSFER_TO"] == "PJSIP/024"
    redirect = pbx.sent[-1]
    assert (redirect["Action"], redirect["Context"]) == ("Redirect", "uapi-transfer")
    assert redirect["Channel"].startswith("PJSIP/trunk-")


async def test_public_transfer_needs_allow_public_transfer(api: Api, pbx: TrackingPbx) -> None:
    """With allowPublicTransfer at make-call time a public sendCallTo goes through dialing."""
    call_id = live(api)
    call = api.services.nodes.first.tracker.calls[call_id]
    assert call.meta is not None
    call.meta = dataclasses.replace(call.meta, allow_public_transfer=True)
    status, _ = await put(
        api, {"action": "Transfer", "phoneCallViewId": "00", "sendCallTo": "5550000"}, call_id
    )
    assert status == 200
    sets = {a["Variable"]: a["Value"] for a in pbx.sent if a["Action"] == "Setvar"}
    assert sets["UAPI_TRANSFER_TO"] == "PJSIP/5550000@trunk"


@pytest.mark.parametrize(
    ("body", "opts"),
    [
        ({"action": "BargeIn"}, "qBE"),
        ({"action": "Monitor"}, "qE"),
        ({"action": "Whisper"}, "qwE"),
        ({"action": "Whisper", "private": 1}, "qWE"),
    ],
)
async def test_spy_actions_ring_the_phone_into_chanspy(
    api: Api, pbx: TrackingPbx, body: dict[str, Any], opts: str
) -> None:
    """BargeIn, Monitor, Whisper (private or not) differ only in ChanSpy's options."""
    call_id = live(api)
    status, _ = await put(api, {**body, "phoneCallViewId": "00", "sendCallTo": "024"}, call_id)
    assert status == 200
    [orig] = pbx.sent
    assert orig["Context"] == "uapi-spy"
    assert f"UAPI_SPY_OPTS={opts}" in orig["Variable"]
    assert any(v.startswith("UAPI_TARGET=PJSIP/210-") for v in orig["Variable"])


async def test_recording_start_and_stop(api: Api, pbx: TrackingPbx) -> None:
    """StartRecording names the file after the call and view, in ARI's recording directory
    beside the monitor directory (issue 25); the view shows `recording`."""
    call_id = live(api)
    status, body = await put(
        api, {"action": "StartRecording", "phoneCallViewId": "00", "format": "wav49"}, call_id
    )
    assert status == 200
    assert pbx.sent[0]["File"].startswith(f"../recording/uapi-{call_id}-00-")
    assert pbx.sent[0]["File"].endswith(".WAV")
    assert "recording" in body["phoneCallView"][0]
    status, _ = await put(api, {"action": "StopRecording", "phoneCallViewId": "00"}, call_id)
    assert status == 200
    assert pbx.sent[-1]["Action"] == "StopMixMonitor"


async def test_voicemail_box_from_the_config_template(api: Api, pbx: TrackingPbx) -> None:
    """TransferToVoicemail sends the far party to 024's box (dialing.voicemail)."""
    call_id = live(api)
    status, _ = await put(
        api,
        {"action": "TransferToVoicemail", "phoneCallViewId": "00", "sendCallTo": "024"},
        call_id,
    )
    assert status == 200
    sets = {a["Variable"]: a["Value"] for a in pbx.sent if a["Action"] == "Setvar"}
    assert sets["UAPI_MAILBOX"] == "024@default"
    assert pbx.sent[-1]["Context"] == "uapi-voicemail"


@pytest.mark.parametrize(
    ("body", "redirected"),
    [
        ({"transferFromNumber": "210"}, "PJSIP/trunk-"),  # 210 transfers the public party
        ({"transferFromNumber": "0003*210", "transferNumber": "5551234"}, "PJSIP/trunk-"),
        ({"transferFromNumber": "5551234"}, "PJSIP/210-"),  # the public party transfers 210
        ({}, "PJSIP/trunk-"),  # nothing named: the path's extension (210) transfers
        ({"transferFromNumber": 5551234}, "PJSIP/210-"),
    ],
)
async def test_transfer_without_a_view(
    api: Api, pbx: TrackingPbx, body: dict[str, Any], redirected: str
) -> None:
    """Without phoneCallViewId (4PSA's MCP server) the transferring party is the one
    transferFromNumber names, else the path's extension; the other party is moved."""
    call_id = live(api)
    status, _ = await put(api, {"action": "Transfer", "sendCallTo": "024", **body}, call_id)
    assert status == 200
    redirect = pbx.sent[-1]
    assert (redirect["Action"], redirect["Context"]) == ("Redirect", "uapi-transfer")
    assert redirect["Channel"].startswith(redirected)


async def test_transfer_to_voicemail_without_a_view(api: Api, pbx: TrackingPbx) -> None:
    """TransferToVoicemail with transferFromNumber and transferNumber, no view."""
    call_id = live(api)
    status, _ = await put(
        api,
        {
            "action": "TransferToVoicemail",
            "sendCallTo": "024",
            "transferFromNumber": "210",
            "transferNumber": "5551234",
        },
        call_id,
    )
    assert status == 200
    assert (pbx.sent[-1]["Context"], pbx.sent[-1]["Channel"][:12]) == (
        "uapi-voicemail",
        "PJSIP/trunk-",
    )


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({}, ["transferFromNumber is missing", "0003*210", "not a party"]),
        ({"transferFromNumber": "5550000"}, ["'5550000' is not a party", "not a party"]),
    ],
)
async def test_transfer_without_a_view_that_nothing_decides(
    api: Api, pbx: TrackingPbx, body: dict[str, Any], words: list[str]
) -> None:
    """A call charged to 210 without 210 in it, and no usable transferFromNumber:
    pc_phonecallview_invalid saying what is missing (never "None"); nothing is sent."""
    call_id = live(api, "parallel_sources")
    call = api.services.nodes.first.tracker.calls[call_id]
    assert call.meta is not None
    api.services.nodes.first.tracker.annotate(
        call_id, dataclasses.replace(call.meta, extension="0003*210")
    )
    status, answer = await put(api, {"action": "Transfer", "sendCallTo": "024", **body}, call_id)
    assert (status, answer["error"]["code"]) == (400, "pc_phonecallview_invalid")
    message = answer["error"]["message"]
    assert "phoneCallViewId" in message
    assert all(w in message for w in words), message
    assert "None" not in message
    assert pbx.sent == []


async def test_other_actions_still_need_the_view(api: Api, pbx: TrackingPbx) -> None:
    """Park without phoneCallViewId: pc_phonecallview_invalid naming the missing field."""
    call_id = live(api)
    status, answer = await put(api, {"action": "Park"}, call_id)
    assert (status, answer["error"]["code"]) == (400, "pc_phonecallview_invalid")
    assert "phoneCallViewId is missing" in answer["error"]["message"]


async def test_send_dtmf_plays_each_digit_received_on_the_views_channel(
    api: Api, pbx: TrackingPbx
) -> None:
    """SendDTMF: one PlayDTMF per digit, in order, with Receive: yes on 210's channel (so the
    digits cross the bridge to its peer), at the duration asked (default 250 ms)."""
    call_id = live(api)
    status, body = await put(
        api, {"action": "SendDTMF", "phoneCallViewId": "00", "digits": "12*#AD"}, call_id
    )
    assert status == 200, body
    assert [a["Digit"] for a in pbx.sent] == list("12*#AD")
    assert {(a["Action"], a["Receive"], a["Duration"]) for a in pbx.sent} == {
        ("PlayDTMF", "yes", "250")
    }
    assert all(a["Channel"].startswith("PJSIP/210-") for a in pbx.sent)
    pbx.sent.clear()
    await put(
        api,
        {"action": "SendDTMF", "phoneCallViewId": "01", "digits": "9", "duration": "1000"},
        call_id,
    )
    assert [(a["Channel"][:12], a["Duration"]) for a in pbx.sent] == [("PJSIP/trunk-", "1000")]


@pytest.mark.parametrize(
    ("direction", "ami", "shown"),
    [(None, "in", "out"), ("out", "in", "out"), ("in", "out", "in"), ("both", "all", "both")],
)
async def test_mute_shows_in_the_view_until_unmuted(
    api: Api, pbx: TrackingPbx, direction: str | None, ami: str, shown: str
) -> None:
    """Mute maps the party's direction to MuteAudio's (out: nobody hears the party = the
    audio coming in from its phone); the view shows `muted` until Unmute clears it."""
    call_id = live(api)
    body: dict[str, Any] = {"action": "Mute", "phoneCallViewId": "01"}
    if direction is not None:
        body["direction"] = direction
    status, answer = await put(api, body, call_id)
    assert status == 200, answer
    [mute] = pbx.sent
    assert (mute["Action"], mute["Direction"], mute["State"]) == ("MuteAudio", ami, "on")
    assert mute["Channel"].startswith("PJSIP/trunk-")
    views = {v["id"]: v for v in answer["phoneCallView"]}
    assert views["01"]["muted"] == shown
    assert "muted" not in views["00"]
    status, answer = await put(api, {**body, "action": "Unmute"}, call_id)
    assert (pbx.sent[-1]["State"], pbx.sent[-1]["Direction"]) == ("off", ami)
    assert "muted" not in answer["phoneCallView"][1]


async def test_unmute_one_direction_keeps_the_other(api: Api, pbx: TrackingPbx) -> None:
    """Muted both ways, unmuting `in` leaves `out`."""
    call_id = live(api)
    await put(api, {"action": "Mute", "phoneCallViewId": "00", "direction": "both"}, call_id)
    _, answer = await put(
        api, {"action": "Unmute", "phoneCallViewId": "00", "direction": "in"}, call_id
    )
    assert answer["phoneCallView"][0]["muted"] == "out"


async def test_attended_transfer_holds_the_peer_and_dials_the_target(
    api: Api, pbx: TrackingPbx
) -> None:
    """AttendedTransfer on 210's view: 210's channel gets the target, the wait and the peer
    (inherited by the target's leg), the peer gets the fallback target; one Redirect moves
    210 to uapi-atxfer and the peer to uapi-atxfer-held. A second one is refused; Complete
    hangs 210 up; Cancel hangs up the target's legs."""
    call_id = live(api)
    status, body = await put(
        api,
        {
            "action": "AttendedTransfer",
            "phoneCallViewId": "00",
            "sendCallTo": "024",
            "waitForPickup": "20",
        },
        call_id,
    )
    assert status == 200, body
    sets = {
        (a["Channel"][:12], a["Variable"]): a["Value"] for a in pbx.sent if a["Action"] == "Setvar"
    }
    assert sets[("PJSIP/210-00", "UAPI_ATXFER_TO")] == "PJSIP/024"
    assert sets[("PJSIP/210-00", "UAPI_WAIT")] == "20"
    assert sets[("PJSIP/210-00", "_UAPI_ATXFER_PEER")].startswith("PJSIP/trunk-")
    assert sets[("PJSIP/trunk-", "UAPI_TRANSFER_TO")] == "PJSIP/024"
    redirect = pbx.sent[-1]
    assert (redirect["Action"], redirect["Context"], redirect["ExtraContext"]) == (
        "Redirect",
        "uapi-atxfer",
        "uapi-atxfer-held",
    )
    assert redirect["Channel"].startswith("PJSIP/210-")
    assert redirect["ExtraChannel"].startswith("PJSIP/trunk-")
    pbx.sent.clear()
    again = {"action": "AttendedTransfer", "phoneCallViewId": "00", "sendCallTo": "024"}
    assert (await put(api, again, call_id))[1]["error"]["code"] == "pc_phonecallview_invalid"
    assert pbx.sent == []
    tracker = api.services.nodes.first.tracker
    tracker.apply(
        {
            "Event": "Newchannel",
            "Uniqueid": "t.1",
            "Channel": "PJSIP/024-000000aa",
            "Linkedid": call_id,
            "ChannelState": "6",
        },
        1.8e9,
    )
    status, _ = await put(api, {"action": "CancelTransfer", "phoneCallViewId": "00"}, call_id)
    assert status == 200
    assert pbx.sent == [{"Action": "Hangup", "Channel": "PJSIP/024-000000aa"}]
    pbx.sent.clear()
    status, _ = await put(api, {"action": "CompleteTransfer", "phoneCallViewId": "00"}, call_id)
    assert status == 200
    assert [a["Action"] for a in pbx.sent] == ["Hangup"]
    assert pbx.sent[0]["Channel"].startswith("PJSIP/210-")


def test_a_transfer_ends_when_its_target_leaves() -> None:
    """The tracker forgets a transfer once the target (or the transferring party) leaves."""
    tracker = CallTracker({"PJSIP/210": "0003*210", "PJSIP/024": "0003*024"}.get)
    script = load("two_party")
    for _ in replay(tracker, script, 1.0):
        pass
    call = tracker.calls[script.call_id]
    tracker.apply(
        {
            "Event": "Newchannel",
            "Uniqueid": "t.1",
            "Channel": "PJSIP/024-000000aa",
            "Linkedid": script.call_id,
            "ChannelState": "6",
        },
        1.8e9,
    )
    tracker.mark_transfer(call.id, "0003*210", "0003*024")
    assert call.parties["0003*210"].transferring_to == "0003*024"
    tracker.apply({"Event": "Hangup", "Uniqueid": "t.1"}, 1.8e9)
    assert call.parties["0003*210"].transferring_to is None
