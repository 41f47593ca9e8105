"""Callback calls on the real sandbox: the trunk is called twice and the two legs talk."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bridge.ami.client import AmiClient
from tests.polling import until, wait_for
from tests.system.daemon import RunningBridge
from tests.system.test_list_calls import poll_views
from tests.system.test_make_call import _gone, hang_up

pytestmark = pytest.mark.system


def callback(
    bridge: RunningBridge, source: str, destination: str, **params: str
) -> tuple[int, Any]:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return bridge.request(
        "POST",
        f"/uapi/phoneCalls/@me/callback?{query}",
        {
            "extension": "250",
            "phoneCallView": [
                {"source": [source], "destination": [destination], "callerId": "Callback <250>"}
            ],
        },
    )


async def test_callback_bridges_two_public_numbers(bridge: RunningBridge, ami: AmiClient) -> None:
    """Both public numbers answer (the SIPp trunk) and talk; List shows the call on the
    callback extension; DELETE ends it; the history has it on 250."""
    status, body = await asyncio.to_thread(callback, bridge, "5551234", "5559876")
    assert status == 202, body
    call_id = body[0]["id"]
    assert body[0]["extension"] == "0003*250"
    try:
        views = await poll_views(bridge, f"@me/250/{call_id}", {"5551234": "5", "5559876": "5"})
        assert views["5551234"]["source"] == ["5551234"]
        assert views["5559876"]["destination"] == ["5559876"]
        status, _ = await asyncio.to_thread(
            bridge.request, "DELETE", f"/uapi/phoneCalls/@me/250/{call_id}"
        )
        assert status == 200
        await until(lambda: _gone(ami, call_id), 10)
    finally:
        await hang_up(ami, call_id)

    def recorded() -> dict[str, Any] | None:
        status, cdr = bridge.request("GET", "/uapi/cdr/@me?source=5551234")
        found: dict[str, Any] | None = cdr["entry"].get(call_id) if status == 200 else None
        return found

    rec = await asyncio.to_thread(wait_for, recorded, 5)
    assert rec is not None
    assert rec["extension"] == "0003*250"
