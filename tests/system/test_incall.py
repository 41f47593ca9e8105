"""Issue 26's in-call actions on real calls in the sandbox: DTMF, mute, attended transfer,
conference participants, custom SIP headers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bridge.ami.client import AmiClient
from bridge.ami.message import AmiMessage
from bridge.config import AmiConfig
from tests.polling import until
from tests.system.conftest import Sandbox
from tests.system.daemon import RunningBridge
from tests.system.test_call_control import put, talking
from tests.system.test_list_calls import shown
from tests.system.test_make_call import hang_up

pytestmark = pytest.mark.system


@contextlib.asynccontextmanager
async def listening(sandbox: Sandbox, events: list[AmiMessage]) -> AsyncIterator[AmiClient]:
    """A link of the test's own that also reads the `dtmf` class (DTMFBegin/End): the
    sandbox's uapi-observer user (manager.conf), not the bridge's."""
    config = AmiConfig(port=sandbox.ami_port, username="uapi-observer", secret="sandbox-observer")
    client = AmiClient(config, events=(),
                       name="incall-test", event_classes=("call", "system", "dtmf"))
    client.add_event_handler(events.append)
    await client.start()
    assert await client.wait_connected(10)
    try:
        yield client
    finally:
        await client.close()


async def test_dtmf_sent_on_210s_view_reaches_024(bridge: RunningBridge, sandbox: Sandbox,
                                                  ami: AmiClient) -> None:
    """SendDTMF 123# on 210's view: Asterisk sends the four digits, in order, to 024's phone
    (DTMFEnd with Direction: Sent on 024's channel)."""
    events: list[AmiMessage] = []
    async with listening(sandbox, events):
        call_id = await talking(bridge, "024")
        try:
            status, body = await put(bridge, call_id, {"action": "SendDTMF",
                                                       "phoneCallViewId": "00",
                                                       "digits": "123#"})
            assert status == 200, body

            def sent() -> str:
                return "".join(e["Digit"] for e in events if e.get("Event") == "DTMFEnd"
                               and e.get("Direction") == "Sent"
                               and e.get("Channel", "").startswith("PJSIP/024-"))

            await until(lambda: sent() == "123#", 10, what=f"024 got {sent()!r}")
        finally:
            await hang_up(ami, call_id)


async def test_mute_out_on_024_shows_in_list(bridge: RunningBridge, ami: AmiClient) -> None:
    """Mute (out) on 024's view: Asterisk accepts MuteAudio, List shows `muted: out` on 024's
    view only; Unmute clears it."""
    call_id = await talking(bridge, "024")
    try:
        views: dict[str, dict[str, Any]] = await asyncio.to_thread(
            shown, bridge, f"@me/210/{call_id}")
        view = views["0003*024"]["id"]
        status, body = await put(bridge, call_id, {"action": "Mute", "phoneCallViewId": view,
                                                   "direction": "out"})
        assert status == 200, body
        views = await asyncio.to_thread(shown, bridge, f"@me/210/{call_id}")
        assert views["0003*024"]["muted"] == "out"
        assert "muted" not in views["0003*210"]
        status, body = await put(bridge, call_id, {"action": "Unmute", "phoneCallViewId": view,
                                                   "direction": "out"})
        assert status == 200, body
        views = await asyncio.to_thread(shown, bridge, f"@me/210/{call_id}")
        assert "muted" not in views["0003*024"]
    finally:
        await hang_up(ami, call_id)
