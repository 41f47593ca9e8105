"""Issue 26's in-call actions on real calls in the sandbox: DTMF, mute, attended transfer,
conference participants, custom SIP headers."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge.ami.client import AmiClient
from bridge.ami.message import AmiMessage
from bridge.config import AmiConfig
from tests.polling import until, wait_for
from tests.system.conftest import Sandbox
from tests.system.daemon import RunningBridge, free_port
from tests.system.test_call_control import put, talking
from tests.system.test_conference import invite, members
from tests.system.test_list_calls import poll_views, shown
from tests.system.test_make_call import hang_up, legs, make_call

pytestmark = pytest.mark.system


@contextlib.asynccontextmanager
async def listening(sandbox: Sandbox, events: list[AmiMessage]) -> AsyncIterator[AmiClient]:
    """A link of the test's own that also reads the `dtmf` class (DTMFBegin/End): the
    sandbox's uapi-observer user (manager.conf), not the bridge's."""
    config = AmiConfig(port=sandbox.ami_port, username="uapi-observer", secret="sandbox-observer")
    client = AmiClient(
        config, events=(), name="incall-test", event_classes=("call", "system", "dtmf")
    )
    client.add_event_handler(events.append)
    await client.start()
    assert await client.wait_connected(10)
    try:
        yield client
    finally:
        await client.close()


async def test_dtmf_sent_on_210s_view_reaches_024(
    bridge: RunningBridge, sandbox: Sandbox, ami: AmiClient
) -> None:
    """SendDTMF 123# on 210's view: Asterisk sends the four digits, in order, to 024's phone
    (DTMFEnd with Direction: Sent on 024's channel)."""
    events: list[AmiMessage] = []
    async with listening(sandbox, events):
        call_id = await talking(bridge, "024")
        try:
            status, body = await put(
                bridge, call_id, {"action": "SendDTMF", "phoneCallViewId": "00", "digits": "123#"}
            )
            assert status == 200, body

            def sent() -> str:
                return "".join(
                    e["Digit"]
                    for e in events
                    if e.get("Event") == "DTMFEnd"
                    and e.get("Direction") == "Sent"
                    and e.get("Channel", "").startswith("PJSIP/024-")
                )

            await until(lambda: sent() == "123#", 10, what=f"024 got {sent()!r}")
        finally:
            await hang_up(ami, call_id)


async def test_mute_out_on_024_shows_in_list(bridge: RunningBridge, ami: AmiClient) -> None:
    """Mute (out) on 024's view: Asterisk accepts MuteAudio, List shows `muted: out` on 024's
    view only; Unmute clears it."""
    call_id = await talking(bridge, "024")
    try:
        views: dict[str, dict[str, Any]] = await asyncio.to_thread(
            shown, bridge, f"@me/210/{call_id}"
        )
        view = views["0003*024"]["id"]
        status, body = await put(
            bridge, call_id, {"action": "Mute", "phoneCallViewId": view, "direction": "out"}
        )
        assert status == 200, body
        views = await asyncio.to_thread(shown, bridge, f"@me/210/{call_id}")
        assert views["0003*024"]["muted"] == "out"
        assert "muted" not in views["0003*210"]
        status, body = await put(
            bridge, call_id, {"action": "Unmute", "phoneCallViewId": view, "direction": "out"}
        )
        assert status == 200, body
        views = await asyncio.to_thread(shown, bridge, f"@me/210/{call_id}")
        assert "muted" not in views["0003*024"]
    finally:
        await hang_up(ami, call_id)


@contextlib.contextmanager
def traced_phone(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """A SIPp UAS of the test's own (answers every call) that writes every SIP message it
    gets to a file (-trace_msg); yields (its port, the file)."""
    port, log = free_port(), tmp_path / "sipp-messages.log"
    proc = subprocess.Popen(
        [
            "sipp",
            "-sn",
            "uas",
            "-i",
            "127.0.0.1",
            "-p",
            str(port),
            "-mp",
            str(free_port()),
            "-cp",
            str(free_port()),
            "-nostdin",
            "-trace_msg",
            "-message_file",
            str(log),
        ],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield port, log
    finally:
        proc.terminate()
        proc.wait(10)


def invites(log: Path) -> list[str]:
    """The INVITEs in SIPp's message log."""
    text = log.read_text() if log.exists() else ""
    return [
        m
        for m in text.split("----------------------------------------------- ")
        if "INVITE sip:" in m
    ]


async def test_sip_headers_reach_the_phone(
    tmp_path: Path, sandbox: Sandbox, ami: AmiClient
) -> None:
    """A simple call (sipHeaders {"X-Crm-Id": "42", ...}) and a conference invite (43) to
    public numbers: the INVITEs the phone gets carry the headers, values intact (public
    numbers are dialled to the test's traced SIPp through the trunk endpoint)."""
    odd = 'a,b=c;"d" ${X} $[1+1]'
    ids: list[str] = []
    with traced_phone(tmp_path) as (port, log):
        public = f"PJSIP/trunk/sip:{{number}}@127.0.0.1:{port}"
        bridge = RunningBridge(tmp_path, sandbox, {"dialing": {"public": public}})
        try:
            await asyncio.to_thread(wait_for, lambda: bridge.health()[0] == 200, 20)
            status, body = await asyncio.to_thread(
                make_call,
                bridge,
                {
                    "extension": "210",
                    "phoneCallView": [
                        {
                            "source": ["210"],
                            "destination": ["5551234"],
                            "sipHeaders": {"X-Crm-Id": "42", "X-Odd": odd},
                        }
                    ],
                },
            )
            assert status == 202, body
            ids.append(body[0]["id"])
            status, body = await asyncio.to_thread(
                bridge.request,
                "POST",
                "/uapi/phoneCalls/@me/conferenceInvite",
                {
                    "extension": "260",
                    "phoneCallView": [
                        {"destination": ["5559876"], "sipHeaders": {"X-Crm-Id": "43"}}
                    ],
                },
            )
            assert status == 202, body
            ids.append(body[0]["id"])

            def got() -> list[str]:
                return [m for m in invites(log) if "X-Crm-Id:" in m]

            await until(lambda: len(got()) == 2, 15, what=f"INVITEs: {invites(log)}")
            simple = next(m for m in got() if "sip:5551234@" in m)
            conference = next(m for m in got() if "sip:5559876@" in m)
            assert "\nX-Crm-Id: 42\r" in simple or "\nX-Crm-Id: 42\n" in simple, simple
            assert f"X-Odd: {odd}" in simple, simple
            assert "X-Crm-Id: 43" in conference, conference
        finally:
            for call_id in ids:
                await hang_up(ami, call_id)
            bridge.stop()


async def test_conference_participants_listed_muted_and_kicked(
    bridge: RunningBridge, sandbox: Sandbox, ami: AmiClient
) -> None:
    """024 and the trunk invited to room 8 of 260: GET lists both; Mute one (ConfBridge's
    own list shows it muted), Kick the other (it leaves the room)."""
    url = "/uapi/extensions/@me/260/conference/participants"
    room, ids = "uapi-0003-260-8", []
    try:
        for destination in ("024", "5551234"):
            status, body = await asyncio.to_thread(invite, bridge, destination, "number=8")
            assert status == 202, body
            ids.append(body[0]["id"])
        listed: list[dict[str, Any]] = []

        def both() -> bool:
            nonlocal listed
            status, listed = bridge.request("GET", f"{url}?number=8")
            return status == 200 and {p["number"] for p in listed} == {"0003*024", "5551234"}

        await asyncio.to_thread(wait_for, both, 15, 0.3, "both invited parties listed")
        by_number = {p["number"]: p for p in listed}
        # what the bridge rebuilds from at login names the same participants
        entries = await ami.send_list({"Action": "ConfbridgeList", "Conference": room})
        assert {e.get("Uniqueid") for e in entries if e.get("Event") == "ConfbridgeList"} == {
            p["id"] for p in listed
        }
        assert {p["phoneCallId"] for p in listed} == set(ids)
        phone, trunk = by_number["0003*024"], by_number["5551234"]
        status, body = await asyncio.to_thread(
            bridge.request, "PUT", f"{url}/{phone['id']}?number=8", {"action": "Mute"}
        )
        assert (status, body["muted"]) == (200, True), body
        cli = sandbox.cli(f"confbridge list {room}")
        line = next(x for x in cli.splitlines() if x.startswith("PJSIP/024-"))
        assert "m" in line.split()[1], cli  # the Flags column: m = muted
        status, _ = await asyncio.to_thread(
            bridge.request, "PUT", f"{url}/{trunk['id']}?number=8", {"action": "Kick"}
        )
        assert status == 204
        await asyncio.to_thread(
            wait_for,
            lambda: members(sandbox, room) == {"PJSIP/024"},
            10,
            0.3,
            "the trunk left the room",
        )
        status, listed = await asyncio.to_thread(bridge.request, "GET", f"{url}?number=8")
        assert [p["number"] for p in listed] == ["0003*024"]
        assert listed[0]["muted"] is True
    finally:
        for call_id in ids:
            await hang_up(ami, call_id)


async def _bridged(ami: AmiClient, *names: str) -> bool:
    """The named endpoints' live channels share one bridge (and nothing else is in it)."""
    chans = await ami.send_list({"Action": "CoreShowChannels"})
    bridges = {c["Channel"].rsplit("-", 1)[0]: c.get("BridgeId", "") for c in chans}
    ids = {bridges.get(n, "") for n in names}
    return len(ids) == 1 and "" not in ids


async def _transferring(bridge: RunningBridge, call_id: str) -> str:
    """210 talking to 024; AttendedTransfer on 210's view to 025 (the sandbox's 212: it
    answers after 3 s); returns once 210 and 025 talk while 024 hears music on hold."""
    status, body = await put(
        bridge,
        call_id,
        {"action": "AttendedTransfer", "phoneCallViewId": "00", "sendCallTo": "025"},
    )
    assert status == 200, body
    views = await poll_views(
        bridge, f"@me/210/{call_id}", {"0003*210": "5", "0003*025": "5"}, within=15
    )
    assert "onHold" in views["0003*024"], views
    return str(views["0003*025"]["id"])


async def test_attended_transfer_completes(bridge: RunningBridge, ami: AmiClient) -> None:
    """AttendedTransfer 210 -> 025, then CompleteTransfer: 210 leaves, 024 talks to 025."""
    call_id = await talking(bridge, "024")
    try:
        await _transferring(bridge, call_id)
        status, body = await put(
            bridge, call_id, {"action": "CompleteTransfer", "phoneCallViewId": "00"}
        )
        assert status in (200, 204), body
        await until(lambda: _bridged(ami, "PJSIP/024", "PJSIP/025"), 10)
        chans = await legs(ami, call_id)
        assert "PJSIP/210" not in chans, chans
        views = await poll_views(
            bridge,
            f"@me/210/{call_id}",  # still charged to 210
            {"0003*024": "5", "0003*025": "5"},
        )
        assert "onHold" not in views["0003*024"]
    finally:
        await hang_up(ami, call_id)


async def test_attended_transfer_cancelled_returns(bridge: RunningBridge, ami: AmiClient) -> None:
    """AttendedTransfer 210 -> 025, then CancelTransfer: 025 hangs up, 210 and 024 talk."""
    call_id = await talking(bridge, "024")
    try:
        await _transferring(bridge, call_id)
        status, body = await put(
            bridge, call_id, {"action": "CancelTransfer", "phoneCallViewId": "00"}
        )
        assert status == 200, body
        await until(lambda: _bridged(ami, "PJSIP/210", "PJSIP/024"), 10)
        assert "PJSIP/025" not in await legs(ami, call_id)
        status, body = await put(
            bridge, call_id, {"action": "CompleteTransfer", "phoneCallViewId": "00"}
        )
        assert (status, body["error"]["code"]) == (400, "pc_phonecallview_invalid")
    finally:
        await hang_up(ami, call_id)
