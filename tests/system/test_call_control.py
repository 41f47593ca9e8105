"""PUT /uapi/phoneCalls/... actions on real calls in the sandbox: park, unpark, transfer, hold,
recording, barge-in."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import pytest

from bridge.ami.client import AmiClient
from bridge.errors import AmiActionFailed
from tests.polling import until, wait_for
from tests.system.daemon import RunningBridge
from tests.system.test_list_calls import poll_views, shown
from tests.system.test_make_call import hang_up, legs, make_call, view

pytestmark = pytest.mark.system


def act(
    bridge: RunningBridge, call_id: str, body: dict[str, Any], extension: str = "210"
) -> tuple[int, Any]:
    return bridge.request("PUT", f"/uapi/phoneCalls/@me/{extension}/{call_id}", body)


async def talking(bridge: RunningBridge, destination: str = "5551234") -> str:
    """A call 210 -> destination with both parties on call; returns its id."""
    _, body = await asyncio.to_thread(make_call, bridge, view(["210"], destination))
    call_id: str = body[0]["id"]
    other = (
        destination
        if not destination.isdigit() or len(destination) > 3
        else (f"0003*{destination}")
    )
    await poll_views(bridge, f"@me/210/{call_id}", {"0003*210": "5", other: "5"})
    return call_id


async def parked_spaces(ami: AmiClient) -> dict[str, str]:
    """{channel: space} of the parked calls Asterisk reports."""
    events = await ami.send_list({"Action": "ParkedCalls"})
    return {e["ParkeeChannel"]: e["ParkingSpace"] for e in events if e.get("Event") == "ParkedCall"}


async def put(
    bridge: RunningBridge, call_id: str, body: dict[str, Any], extension: str = "210"
) -> tuple[int, Any]:
    return await asyncio.to_thread(act, bridge, call_id, body, extension)


async def test_park_then_unpark_to_another_phone(bridge: RunningBridge, ami: AmiClient) -> None:
    """210 parks the public party (Asterisk lists it parked); UnPark to 024 bridges them."""
    call_id = await talking(bridge)
    try:
        status, body = await put(bridge, call_id, {"action": "Park", "phoneCallViewId": "00"})
        assert status == 200, body
        [parked_call] = body
        trunk = {v["extension"]: v for v in parked_call["phoneCallView"]}["5551234"]
        assert trunk["parkedBy"] == "0003*210"
        assert trunk["parkedPos"] in {str(n) for n in range(701, 721)}
        spaces = await parked_spaces(ami)
        assert trunk["parkedPos"] in spaces.values()
        await until(lambda: _without(ami, call_id, "PJSIP/210"), 5)  # the parker is free

        status, body = await put(
            bridge,
            call_id,
            {
                "action": "UnPark",
                "sendCallTo": "024",
                "phoneCallViewId": trunk["id"],
                "callerId": "Parked <5551234>",
            },
        )
        assert status == 200, body
        await poll_views(bridge, f"@me/210/{call_id}", {"0003*024": "5", "5551234": "5"})
        await until(lambda: _unparked(bridge, call_id), 3)  # UnParkedCall may come after Up
        assert not await parked_spaces(ami)
        chans = await legs(ami, call_id)
        assert chans.get("PJSIP/024") == "Up"
    finally:
        await hang_up(ami, call_id)


async def _unparked(bridge: RunningBridge, call_id: str) -> bool:
    views = await asyncio.to_thread(shown, bridge, f"@me/210/{call_id}")
    return "parked" not in views["5551234"]


async def _without(ami: AmiClient, call_id: str, name: str) -> bool:
    return name not in await legs(ami, call_id)


async def test_park_timeout_rings_the_parker_back(bridge: RunningBridge, ami: AmiClient) -> None:
    """maxInParking=10: when it runs out Asterisk rings 210 again, and List shows it on call."""
    call_id = await talking(bridge)
    try:
        status, _ = await put(
            bridge, call_id, {"action": "Park", "phoneCallViewId": "00", "maxInParking": 10}
        )
        assert status == 200
        await until(lambda: _without(ami, call_id, "PJSIP/210"), 5)
        started = time.monotonic()
        views = await poll_views(
            bridge, f"@me/210/{call_id}", {"0003*210": "5", "5551234": "5"}, within=25
        )
        assert time.monotonic() - started > 5
        assert "parked" not in views["5551234"]
    finally:
        await hang_up(ami, call_id)


async def test_unpark_to_a_phone_that_never_answers_leaves_it_parked(
    bridge: RunningBridge,
    ami: AmiClient,
) -> None:
    """UnPark to 026 (never answers) with waitForPickup=2: after it gave up, still parked."""
    call_id = await talking(bridge)
    try:
        status, body = await put(bridge, call_id, {"action": "Park", "phoneCallViewId": "00"})
        assert status == 200
        space = {v["extension"]: v for v in body[0]["phoneCallView"]}["5551234"]["parkedPos"]
        status, _ = await put(
            bridge,
            call_id,
            {
                "action": "UnPark",
                "sendCallTo": "026",
                "waitForPickup": "2",
                "phoneCallViewId": "01",
            },
        )
        assert status == 200
        # 026's leg is not linked to the call until it answers: look for it by name.
        await until(lambda: _ringing_anywhere(ami, "PJSIP/026"), 5)
        views = await asyncio.to_thread(shown, bridge, f"@me/210/{call_id}")
        assert views["0003*026"]["status"] == "3"  # List shows who is being offered the call
        await until(lambda: _gone_anywhere(ami, "PJSIP/026"), 8)
        assert space in (await parked_spaces(ami)).values()
        views = await asyncio.to_thread(shown, bridge, f"@me/210/{call_id}")
        assert views["5551234"]["parkedPos"] == space
    finally:
        await hang_up(ami, call_id)


async def _ringing_anywhere(ami: AmiClient, prefix: str) -> bool:
    chans = await ami.send_list({"Action": "CoreShowChannels"})
    return any(
        c["Channel"].startswith(prefix) and c["ChannelStateDesc"] == "Ringing" for c in chans
    )


async def _gone_anywhere(ami: AmiClient, prefix: str) -> bool:
    chans = await ami.send_list({"Action": "CoreShowChannels"})
    return not any(c["Channel"].startswith(prefix) for c in chans)


async def test_blind_transfer_of_the_far_party(bridge: RunningBridge, ami: AmiClient) -> None:
    """210 transfers the public party to 024: they talk, 210 has left."""
    call_id = await talking(bridge)
    try:
        status, body = await put(
            bridge, call_id, {"action": "Transfer", "sendCallTo": "024", "phoneCallViewId": "00"}
        )
        assert status == 200, body
        views = await poll_views(bridge, f"@me/210/{call_id}", {"0003*024": "5", "5551234": "5"})
        assert views["0003*210"]["status"] == "0"
        assert "PJSIP/210" not in await legs(ami, call_id)
    finally:
        await hang_up(ami, call_id)


async def test_hold_and_take_off_hold(bridge: RunningBridge, ami: AmiClient) -> None:
    """OnHold: the public party hears music (onHold), 210 is the holder; OffHold: talking."""
    call_id = await talking(bridge)
    try:
        status, body = await put(bridge, call_id, {"action": "OnHold", "phoneCallViewId": "00"})
        assert status == 200, body
        views = {v["extension"]: v for v in body["phoneCallView"]}
        assert "onHold" in views["5551234"]
        assert views["0003*210"]["holder"] == "1"
        chans = await ami.send_list({"Action": "CoreShowChannels"})
        trunk = next(c for c in chans if c["Linkedid"] == call_id and "trunk" in c["Channel"])
        assert trunk["Application"] == "MusicOnHold"
        status, body = await put(bridge, call_id, {"action": "OffHold", "phoneCallViewId": "00"})
        assert status == 200, body
        views = {v["extension"]: v for v in body["phoneCallView"]}
        assert "onHold" not in views["5551234"]
        assert "holder" not in views["0003*210"]
        await poll_views(bridge, f"@me/210/{call_id}", {"0003*210": "5", "5551234": "5"})
    finally:
        await hang_up(ami, call_id)


async def test_recording_lands_in_the_recording_directory(
    bridge: RunningBridge, ami: AmiClient, sandbox: Any
) -> None:
    """StartRecording shows `recording`; StopRecording ends it and the wav file exists in
    ARI's stored-recordings directory (issue 25), not the monitor directory."""
    call_id = await talking(bridge)
    try:
        status, body = await put(
            bridge, call_id, {"action": "StartRecording", "phoneCallViewId": "00", "format": "wav"}
        )
        assert status == 200, body
        assert "recording" in {v["extension"]: v for v in body["phoneCallView"]}["0003*210"]
        await asyncio.sleep(1)
        status, body = await put(
            bridge, call_id, {"action": "StopRecording", "phoneCallViewId": "00"}
        )
        assert status == 200, body
        assert "recording" not in {v["extension"]: v for v in body["phoneCallView"]}["0003*210"]
        spool = sandbox.root / "var" / "spool" / "asterisk"
        assert not list((spool / "monitor").glob(f"uapi-{call_id}-*"))
        files = list((spool / "recording").glob(f"uapi-{call_id}-00-*.wav"))
        assert len(files) == 1
        # A WAV file; the SIPp phones send no audio, so MixMonitor wrote its header only.
        assert files[0].read_bytes()[:4] == b"RIFF"
    finally:
        await hang_up(ami, call_id)


async def test_barge_in_joins_the_conversation(bridge: RunningBridge, ami: AmiClient) -> None:
    """BargeIn from 024 on 210's view: 024 answers and runs ChanSpy on 210's channel."""
    call_id = await talking(bridge)
    try:
        status, body = await put(
            bridge, call_id, {"action": "BargeIn", "sendCallTo": "024", "phoneCallViewId": "00"}
        )
        assert status == 200, body
        await poll_views(bridge, f"@me/210/{call_id}", {"0003*024": "5", "0003*210": "5"})
        chans = await ami.send_list({"Action": "CoreShowChannels"})
        spy = [c for c in chans if c["Channel"].startswith("PJSIP/024")]
        assert spy
        assert spy[0]["Application"] == "ChanSpy"
        assert "PJSIP/210" in spy[0]["ApplicationData"]
        assert "B" in spy[0]["ApplicationData"].split(",")[1]
    finally:
        await hang_up(ami, call_id)
        await _hang_up_spy(ami)


async def _hang_up_spy(ami: AmiClient) -> None:
    """The spying leg keeps its own Linkedid (ChanSpy bridges nothing): end it by name."""
    for chan in await ami.send_list({"Action": "CoreShowChannels"}):
        if chan["Channel"].startswith("PJSIP/024"):
            with contextlib.suppress(AmiActionFailed):
                await ami.send({"Action": "Hangup", "Channel": chan["Channel"]})
    await until(lambda: _gone_anywhere(ami, "PJSIP/024"), 5)


async def test_pick_up_a_call_ringing_on_another_phone(
    bridge: RunningBridge, ami: AmiClient
) -> None:
    """210 calls 026 (never answers); PickUp from 024 takes it: 210 talks to 024, 026 stops."""
    _, body = await asyncio.to_thread(make_call, bridge, view(["210"], "026"))
    call_id = body[0]["id"]
    try:
        views = await poll_views(bridge, f"@me/210/{call_id}", {"0003*026": "3"})
        status, answer = await put(
            bridge,
            call_id,
            {"action": "PickUp", "sendCallTo": "024", "phoneCallViewId": views["0003*026"]["id"]},
        )
        assert status == 200, answer
        await poll_views(bridge, f"@me/210/{call_id}", {"0003*210": "5", "0003*024": "5"})
        await until(lambda: _without(ami, call_id, "PJSIP/026"), 5)
    finally:
        await hang_up(ami, call_id)


@pytest.mark.parametrize(
    ("body", "opts"),
    [({"action": "Monitor"}, "qE"), ({"action": "Whisper", "private": "1"}, "qWE")],
)
async def test_monitor_and_whisper(
    bridge: RunningBridge, ami: AmiClient, body: dict[str, Any], opts: str
) -> None:
    """Monitor listens, a private Whisper talks to 210 only: ChanSpy with those options."""
    call_id = await talking(bridge)
    try:
        status, answer = await put(
            bridge, call_id, {**body, "sendCallTo": "024", "phoneCallViewId": "00"}
        )
        assert status == 200, answer
        await poll_views(bridge, f"@me/210/{call_id}", {"0003*024": "5"})
        chans = await ami.send_list({"Action": "CoreShowChannels"})
        [spy] = [c for c in chans if c["Channel"].startswith("PJSIP/024")]
        assert spy["Application"] == "ChanSpy"
        assert spy["ApplicationData"].split(",")[1] == opts
    finally:
        await hang_up(ami, call_id)
        await _hang_up_spy(ami)


async def test_transfer_to_voicemail(bridge: RunningBridge, ami: AmiClient) -> None:
    """The public party is sent to 024's voicemail box; 210 is free."""
    call_id = await talking(bridge)
    try:
        status, answer = await put(
            bridge,
            call_id,
            {"action": "TransferToVoicemail", "sendCallTo": "024", "phoneCallViewId": "00"},
        )
        assert status == 200, answer

        async def in_voicemail() -> bool:
            chans = await ami.send_list({"Action": "CoreShowChannels"})
            return any(
                c["Linkedid"] == call_id
                and c["Application"] == "VoiceMail"
                and c["ApplicationData"].startswith("024@default")
                for c in chans
            )

        await until(in_voicemail, 5)
        await until(lambda: _without(ami, call_id, "PJSIP/210"), 5)
    finally:
        await hang_up(ami, call_id)


async def test_a_parked_call_is_still_parked_after_a_restart(
    bridge: RunningBridge, ami: AmiClient
) -> None:
    """The bridge restarts while the call waits in the lot: List shows it parked, same space."""
    call_id = await talking(bridge)
    try:
        _, body = await put(bridge, call_id, {"action": "Park", "phoneCallViewId": "00"})
        space = {v["extension"]: v for v in body[0]["phoneCallView"]}["5551234"]["parkedPos"]
        assert bridge.stop() == 0
        bridge.start()
        wait_for(lambda: bridge.health()[1].get("ami") == "connected", 20)
        views = await asyncio.to_thread(shown, bridge, f"@me/210/{call_id}")
        assert views["5551234"]["parkedPos"] == space
        assert views["5551234"]["parkedBy"] == "0003*210"
    finally:
        await hang_up(ami, call_id)
