"""Presence on the real sandbox: phone 028 REGISTERs and unregisters, and a real call moves
its status online -> ringing -> busy -> online."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bridge.ami.client import AmiClient
from tests.conftest import HELPDESK, ROOT
from tests.polling import until, wait_for
from tests.system.daemon import RunningBridge
from tests.system.test_make_call import _gone, hang_up, make_call, view

pytestmark = pytest.mark.system
SCENARIO = ROOT / "config" / "sipp" / "register.xml"


def register(expires: int, cwd: Path) -> None:
    """One REGISTER of 028 (0: unregister) from 127.0.0.1:15069; fails the test on error."""
    proc = subprocess.run(
        [
            "sipp",
            "127.0.0.1:15060",
            "-sf",
            str(SCENARIO),
            "-key",
            "expires",
            str(expires),
            "-key",
            "contact_port",
            "15068",
            "-i",
            "127.0.0.1",
            "-p",
            "15069",
            "-mp",
            "15202",
            "-cp",
            "15088",
            "-m",
            "1",
            "-nostdin",
            "-timeout",
            "10s",
            "-timeout_error",
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]


def presence(bridge: RunningBridge) -> dict[str, Any]:
    status, body = bridge.request("GET", "/uapi/extensions/14/028/presence", token=HELPDESK)
    assert status == 200, body
    entry: dict[str, Any] = body["entry"][0]
    return entry


def registration(bridge: RunningBridge) -> str:
    return str(presence(bridge)["registration"][0]["registration"])


async def test_registration_and_status_follow_the_phone(
    bridge: RunningBridge, ami: AmiClient, tmp_path: Path
) -> None:
    """REGISTER: 1 (with expire), online; a call 210 -> 028: ringing then busy, online after
    DELETE; unregister: -1."""
    await asyncio.to_thread(register, 0, tmp_path)
    try:
        await asyncio.to_thread(register, 120, tmp_path)
        await asyncio.to_thread(wait_for, lambda: registration(bridge) == "1", 10)
        # the user agent and expiry follow from one PJSIPShowContacts after the event
        now = await asyncio.to_thread(
            wait_for, lambda: (p := presence(bridge))["registration"][0]["agent"] and p, 5
        )
        assert now["registration"][0]["agent"] == "uapi-sandbox-028"
        assert "expire" in now["registration"][0]
        await asyncio.to_thread(wait_for, lambda: presence(bridge)["status"] == "1", 10)
        _, body = await asyncio.to_thread(
            make_call, bridge, view(["210"], "028"), token=HELPDESK, user="12"
        )
        call_id = body[0]["id"]
        seen: list[str] = []
        try:

            def status_now() -> bool:
                status: str = presence(bridge)["status"]
                if not seen or seen[-1] != status:
                    seen.append(status)
                return status == "3"

            await asyncio.to_thread(wait_for, status_now, 15, 0.1)
            assert seen[-2:] == ["2", "3"], seen
            status, _ = await asyncio.to_thread(
                bridge.request, "DELETE", f"/uapi/phoneCalls/12/210/{call_id}", None, HELPDESK
            )
            assert status == 200
            await until(lambda: _gone(ami, call_id), 10)
        finally:
            await hang_up(ami, call_id)
        await asyncio.to_thread(wait_for, lambda: presence(bridge)["status"] == "1", 10)
    finally:
        await asyncio.to_thread(register, 0, tmp_path)
    await asyncio.to_thread(wait_for, lambda: registration(bridge) == "-1", 10)
