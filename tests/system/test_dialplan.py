"""extensions_uapi.conf on the real Asterisk: the make-call contexts the next issue builds on."""

from __future__ import annotations

import secrets
import time
from typing import Any

import pytest

from bridge.ami.client import AmiClient
from bridge.ami.events import TRACKED_EVENTS
from bridge.ami.message import AmiMessage as Message
from tests.polling import until
from tests.system.test_bridge_link import ami_config

pytestmark = pytest.mark.system


async def test_parallel_sources_then_destination_then_duration(sandbox: Any) -> None:
    """Sources ring at once, the first to answer wins, the destination is called, S() ends it."""
    call_id = secrets.token_hex(10)
    seen: list[Message] = []
    client = AmiClient(ami_config(sandbox), events=TRACKED_EVENTS, name="dialplan-test")
    stamps: dict[tuple[str, str], float] = {}

    def record(m: Message) -> None:
        if m.get("Linkedid") != call_id:
            return
        seen.append(m)
        what = m["ChannelStateDesc"] if m.get("Event") == "Newstate" else m.get("Event")
        stamps.setdefault((str(what), m["Channel"].split("-")[0]), time.monotonic())

    client.add_event_handler(record)
    await client.start()
    assert await client.wait_connected(10)
    try:
        await client.send(
            {
                "Action": "Originate",
                "Channel": "Local/s@uapi-source/n",
                "Context": "uapi-destination",
                "Exten": "s",
                "Priority": "1",
                "Async": "true",
                "ChannelId": call_id,
                "OtherChannelId": f"{call_id}-2",
                "Timeout": "15000",
                "Variable": [
                    f"UAPI_CALL_ID={call_id}",
                    "UAPI_SOURCES=PJSIP/025&PJSIP/026",
                    "UAPI_SOURCE_CID=Shown To Source <4242425>",
                    "UAPI_DESTINATION=PJSIP/5551234@trunk",
                    "UAPI_DEST_CID=Shown To Dest <210>",
                    "UAPI_WAIT=10",
                    "UAPI_DIAL_OPTS=S(2)",
                ],
            }
        )

        def hangups() -> dict[str, str]:
            return {
                m["Channel"].split("-")[0]: m["Cause-txt"]
                for m in seen
                if m.get("Event") == "Hangup"
            }

        await until(lambda: {"PJSIP/025", "PJSIP/026", "PJSIP/trunk"} <= set(hangups()), 20)
    finally:
        await client.close()
    ups = [
        m["Channel"].split("-")[0]
        for m in seen
        if m.get("Event") == "Newstate" and m["ChannelStateDesc"] == "Up"
    ]
    assert ups.index("PJSIP/025") < ups.index("PJSIP/trunk")  # destination only after answer
    assert "PJSIP/026" not in ups  # the never-answering source just stopped ringing
    assert hangups()["PJSIP/026"] == "Answered elsewhere"
    source_leg = next(
        m
        for m in seen
        if m.get("Event") == "NewConnectedLine" and m["Channel"].startswith("PJSIP/025")
    )
    assert source_leg["ConnectedLineNum"] == "4242425"  # the source sees callerId
    trunk_leg = next(
        m for m in seen if m.get("Event") == "Newchannel" and m["Channel"].startswith("PJSIP/trunk")
    )
    dial = next(
        m
        for m in seen
        if m.get("Event") == "DialBegin" and m["DestChannel"] == trunk_leg["Channel"]
    )
    assert dial["DialString"] == "5551234@trunk"
    assert dial["CallerIDNum"] == "210"  # the destination sees callerIdDestination
    talk = stamps[("Hangup", "PJSIP/trunk")] - stamps[("Up", "PJSIP/trunk")]
    assert 1.5 < talk < 4, talk  # S(2): hung up about 2 s after the destination answered
