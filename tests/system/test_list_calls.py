"""GET /uapi/phoneCalls/... against the real sandbox: what List shows of real calls."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import pytest

from bridge.ami.client import AmiClient
from bridge.domain.callids import phone_call_id
from tests.conftest import CRM, HELPDESK
from tests.polling import until, wait_for
from tests.system.daemon import RunningBridge
from tests.system.test_make_call import _gone, delete, hang_up, legs, make_call, view

pytestmark = pytest.mark.system


def list_calls(bridge: RunningBridge, path: str, token: str = CRM) -> tuple[int, Any]:
    return bridge.request("GET", f"/uapi/phoneCalls/{path}", token=token)


def shown(bridge: RunningBridge, path: str, token: str = CRM) -> dict[str, dict[str, Any]]:
    """The views of the one call List shows at `path`, by extension ({} if none)."""
    status, body = list_calls(bridge, path, token)
    if status == 204:
        return {}
    assert status == 200, body
    return {v["extension"]: v for v in body["entry"][0]["phoneCallView"]}


async def poll_views(
    bridge: RunningBridge, path: str, want: dict[str, str], token: str = CRM, within: float = 10
) -> dict[str, dict[str, Any]]:
    """Polls List until the views have these statuses ({extension: status})."""
    latest: dict[str, dict[str, Any]] = {}

    async def check() -> bool:
        nonlocal latest
        latest = await asyncio.to_thread(shown, bridge, path, token)
        return {k: latest.get(k, {}).get("status") for k in want} == want

    await until(check, within)
    return latest


async def test_list_follows_a_call_to_a_public_number(
    bridge: RunningBridge, ami: AmiClient
) -> None:
    """210 -> 5551234: List shows both views on call (5); DELETE ends it; then 204."""
    _, body = await asyncio.to_thread(make_call, bridge, view(["210"], "5551234"))
    call_id = body[0]["id"]
    try:
        views = await poll_views(bridge, f"@me/210/{call_id}", {"0003*210": "5", "5551234": "5"})
    finally:
        status, _ = await asyncio.to_thread(delete, bridge, f"210/{call_id}")
    assert status == 200
    assert (views["0003*210"]["id"], views["5551234"]["id"]) == ("00", "01")
    assert views["0003*210"]["flow"] == "4"
    assert views["0003*210"]["source"] == ["0003*210"]
    assert views["0003*210"]["destination"] == ["5551234"]
    assert "answered" in views["0003*210"]
    await until(lambda: _gone(ami, call_id), 5)
    await until(lambda: _list_empty(bridge, f"@me/210/{call_id}"), 5)
    assert not await legs(ami, call_id)


async def _list_empty(bridge: RunningBridge, path: str) -> bool:
    status, _ = await asyncio.to_thread(list_calls, bridge, path)
    return status == 204


async def test_first_source_wins_in_list(bridge: RunningBridge, ami: AmiClient) -> None:
    """025 and 026 ring (3) together; 025 answers, 026 stops (disposition 3), 024 is on call."""
    _, body = await asyncio.to_thread(
        make_call, bridge, view(["025", "026"], "024"), token=HELPDESK, user="12"
    )
    call_id = body[0]["id"]
    path = f"13/@self/{call_id}"  # 025 is Jane's; the helpdesk app acts for her
    try:
        await poll_views(bridge, path, {"0003*025": "3", "0003*026": "3"}, HELPDESK)
        views = await poll_views(
            bridge, path, {"0003*025": "5", "0003*024": "5"}, HELPDESK, within=12
        )
        assert views["0003*026"]["status"] == "0"
        assert views["0003*026"]["disposition"] == "3"
    finally:
        await hang_up(ami, call_id)


async def test_phone_to_phone_call_is_listed_for_both_extensions(
    bridge: RunningBridge,
    ami: AmiClient,
) -> None:
    """A call placed on Asterisk directly, 210 -> 024: each owner's List shows it, same id."""
    linkedid = f"1700000000.{secrets.randbelow(10**6)}"
    await ami.send(
        {
            "Action": "Originate",
            "Channel": "PJSIP/210",
            "Context": "uapi-phones",
            "Exten": "024",
            "Priority": "1",
            "Async": "true",
            "ChannelId": linkedid,
        }
    )
    call_id = phone_call_id(linkedid)
    try:
        mine = await poll_views(bridge, f"@me/210/{call_id}", {"0003*210": "5", "0003*024": "5"})
        theirs = await poll_views(
            bridge, f"13/024/{call_id}", {"0003*210": "5", "0003*024": "5"}, HELPDESK
        )
    finally:
        await hang_up(ami, linkedid)
    assert mine["0003*210"]["source"] == theirs["0003*024"]["source"] == ["0003*210"]
    assert mine["0003*210"]["destination"] == ["0003*024"]
    assert theirs["0003*024"]["callerId"].endswith("<210>")
    assert mine["0003*210"]["callerId"].endswith("<024>")


async def test_restart_keeps_the_call_and_its_id(bridge: RunningBridge, ami: AmiClient) -> None:
    """The bridge restarts mid-call: List shows the same call, id and views; a call that
    ended while the bridge was down is not shown."""
    _, body = await asyncio.to_thread(make_call, bridge, view(["210"], "024"))
    call_id = body[0]["id"]
    path = f"@me/210/{call_id}"
    try:
        before = await poll_views(bridge, path, {"0003*210": "5", "0003*024": "5"})
        assert bridge.stop() == 0
        bridge.start()
        wait_for(lambda: bridge.health()[1].get("ami") == "connected", 20)
        after = await poll_views(bridge, path, {"0003*210": "5", "0003*024": "5"})
        assert {k: (v["id"], v["source"], v["destination"]) for k, v in after.items()} == {
            k: (v["id"], v["source"], v["destination"]) for k, v in before.items()
        }
        status, listed = await asyncio.to_thread(list_calls, bridge, "@me/210")
        assert status == 200
        assert [c["id"] for c in listed["entry"]] == [call_id]
        assert bridge.stop() == 0
    finally:
        await hang_up(ami, call_id)
    bridge.start()
    wait_for(lambda: bridge.health()[1].get("ami") == "connected", 20)
    status, _ = await asyncio.to_thread(list_calls, bridge, path)
    assert status == 204
