"""Call history against the real sandbox: records of real calls, and across a restart."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bridge.ami.client import AmiClient
from tests.polling import until, wait_for
from tests.system.daemon import RunningBridge
from tests.system.test_make_call import _gone, all_up, hang_up, make_call, view

pytestmark = pytest.mark.system


def record(bridge: RunningBridge, call_id: str, query: str = "") -> dict[str, Any] | None:
    """The call's history record as GET /uapi/cdr/@me shows it (None while it is not there)."""
    status, body = bridge.request("GET", f"/uapi/cdr/@me?count=50{query}")
    if status != 200:
        return None
    found: dict[str, Any] | None = body["entry"].get(call_id)
    return found


async def test_an_answered_call_is_recorded_with_its_duration(
    bridge: RunningBridge, ami: AmiClient
) -> None:
    """210 -> 024 with callDuration=2: one record, disposition 0, about 2 s talked, causes."""
    _, body = await asyncio.to_thread(make_call, bridge, view(["210"], "024"), callDuration="2")
    call_id = body[0]["id"]
    await until(lambda: _gone(ami, call_id), 15)
    rec = await asyncio.to_thread(wait_for, lambda: record(bridge, call_id), 5)
    assert rec is not None
    assert rec["extension"] == "0003*210"
    assert "ended" in rec
    views = {v["extension"]: v for v in rec["phoneCallView"]}
    assert set(views) == {"0003*210", "0003*024"}
    for v in views.values():
        assert v["disposition"] == "0"
        assert 1 <= int(v["duration"]) <= 4
        assert v["hangupCause"].isdigit()
    status, stats = bridge.request("GET", "/uapi/cdr/stats/@me?source=0003*210")
    assert status == 200
    assert int(stats["phoneCallStat"][1]["answered"]) >= 1


async def test_a_busy_destination_is_disposition_1(bridge: RunningBridge, ami: AmiClient) -> None:
    """210 -> 027 (busy): the record's 027 view is busy and the source filter finds it."""
    _, body = await asyncio.to_thread(make_call, bridge, view(["210"], "027"))
    call_id = body[0]["id"]
    await until(lambda: _gone(ami, call_id), 15)
    rec = await asyncio.to_thread(
        wait_for, lambda: record(bridge, call_id, "&destination=027&disposition=1"), 5
    )
    assert rec is not None
    views = {v["extension"]: v for v in rec["phoneCallView"]}
    assert views["0003*027"]["disposition"] == "1"
    assert views["0003*027"]["duration"] == "0"


async def test_a_call_that_ends_while_the_bridge_is_down_is_recorded(
    bridge: RunningBridge, ami: AmiClient
) -> None:
    """A call up when the bridge stops and gone when it is back: recorded once, ended."""
    _, body = await asyncio.to_thread(make_call, bridge, view(["210"], "5551234"))
    call_id = body[0]["id"]
    try:
        await until(all_up(ami, call_id, "PJSIP/210", "PJSIP/trunk"), 10)
    finally:
        assert bridge.stop() == 0
        await hang_up(ami, call_id)
    await until(lambda: _gone(ami, call_id), 10)
    bridge.start()
    await asyncio.to_thread(wait_for, lambda: bridge.health()[0] == 200, 20)
    rec = await asyncio.to_thread(wait_for, lambda: record(bridge, call_id), 10)
    assert rec is not None
    assert "ended" in rec
    views = {v["extension"]: v for v in rec["phoneCallView"]}
    assert views["0003*210"]["disposition"] == "0"  # it was answered: that much is known
    assert all("ended" in v for v in views.values())
    status, again = bridge.request("GET", "/uapi/cdr/@me?destination=5551234&count=100")
    assert status == 200
    assert list(again["entry"]).count(call_id) == 1
