"""Queue agents on the real sandbox: 024 logged in is rung by a call to the queue; paused, it
is not; logged out, it leaves the queue."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from bridge.ami.client import AmiClient
from tests.conftest import HELPDESK
from tests.polling import until
from tests.system.conftest import Sandbox
from tests.system.daemon import RunningBridge
from tests.system.test_make_call import _gone, hang_up, legs, make_call, view

pytestmark = pytest.mark.system
AGENT = "/uapi/extensions/14/500/queue/agents/024"


def set_status(bridge: RunningBridge, status: str) -> dict[str, Any]:
    code, body = bridge.request("PUT", AGENT, {"status": status}, HELPDESK)
    assert code == 200, body
    entry: dict[str, Any] = body[0]
    return entry


async def call_queue(bridge: RunningBridge) -> str:
    """210 calls the queue (0003*500) through the bridge; returns the call id."""
    _, body = await asyncio.to_thread(
        make_call, bridge, view(["210"], "500"), token=HELPDESK, user="12"
    )
    call_id: str = body[0]["id"]
    return call_id


async def test_agent_login_pause_logout(
    bridge: RunningBridge, ami: AmiClient, sandbox: Sandbox
) -> None:
    """Logged in: the queue rings 024; paused: a new caller waits and 024 is not rung;
    logged out: 024 is no member of queue 500."""
    try:
        assert (await asyncio.to_thread(set_status, bridge, "1"))["status"] == "1"
        assert "PJSIP/024" in sandbox.cli("queue show 500")
        call_id = await call_queue(bridge)
        try:
            await until(lambda: _has_leg(ami, call_id, "PJSIP/024"), 10)
        finally:
            await hang_up(ami, call_id)
        await until(lambda: _gone(ami, call_id), 10)

        assert (await asyncio.to_thread(set_status, bridge, "2"))["status"] == "2"
        assert "paused" in sandbox.cli("queue show 500").lower()
        call_id = await call_queue(bridge)
        try:
            waited = time.monotonic() + 4  # the queue retries every second: long enough
            while time.monotonic() < waited:
                assert "PJSIP/024" not in await legs(ami, call_id)
                await asyncio.sleep(0.2)
            assert "PJSIP/210" in await legs(ami, call_id)  # the caller still waits
        finally:
            await hang_up(ami, call_id)
        await until(lambda: _gone(ami, call_id), 10)
    finally:
        out = await asyncio.to_thread(set_status, bridge, "0")
    assert out["status"] == "0"
    assert "PJSIP/024" not in sandbox.cli("queue show 500")


async def _has_leg(ami: AmiClient, call_id: str, name: str) -> bool:
    return name in await legs(ami, call_id)
