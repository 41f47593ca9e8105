"""Conference invites on the real sandbox: a phone and the trunk end up in one ConfBridge room."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bridge.ami.client import AmiClient
from tests.polling import until, wait_for
from tests.system.conftest import Sandbox
from tests.system.daemon import RunningBridge
from tests.system.test_make_call import _gone, hang_up

pytestmark = pytest.mark.system


def invite(bridge: RunningBridge, destination: str, query: str) -> tuple[int, Any]:
    return bridge.request(
        "POST",
        f"/uapi/phoneCalls/@me/conferenceInvite?{query}",
        {
            "extension": "260",
            "phoneCallView": [
                {"source": ["260"], "destination": [destination], "callerId": "Conference <260>"}
            ],
        },
    )


def members(sandbox: Sandbox, room: str) -> set[str]:
    """The channels `confbridge list ROOM` shows (names without the -suffix)."""
    out = sandbox.cli(f"confbridge list {room}")
    return {
        line.split()[0].rsplit("-", 1)[0] for line in out.splitlines() if line.startswith("PJSIP/")
    }


async def _all_gone(ami: AmiClient, ids: list[str]) -> bool:
    return all([await _gone(ami, call_id) for call_id in ids])


async def test_two_invites_meet_in_one_room(
    bridge: RunningBridge, ami: AmiClient, sandbox: Sandbox
) -> None:
    """024 and 5551234 (the trunk) are invited to room 7 of 260: confbridge list shows both,
    List shows both calls on 260, DELETE ends them."""
    ids = []
    try:
        for destination in ("024", "5551234"):
            status, body = await asyncio.to_thread(invite, bridge, destination, "number=7")
            assert status == 202, body
            assert body[0]["extension"] == "0003*260"
            ids.append(body[0]["id"])
        room = await asyncio.to_thread(
            wait_for,
            lambda: members(sandbox, "uapi-0003-260-7") == {"PJSIP/024", "PJSIP/trunk"} and "ok",
            15,
            0.3,
            "both invited parties in the room",
        )
        assert room == "ok"
        status, listed = await asyncio.to_thread(bridge.request, "GET", "/uapi/phoneCalls/@me/260")
        assert status == 200
        assert {c["id"] for c in listed["entry"]} == set(ids)
        for call_id in ids:
            status, _ = await asyncio.to_thread(
                bridge.request, "DELETE", f"/uapi/phoneCalls/@me/260/{call_id}"
            )
            assert status == 200
        await until(lambda: _all_gone(ami, ids), 10)
    finally:
        for call_id in ids:
            await hang_up(ami, call_id)
    assert members(sandbox, "uapi-0003-260-7") == set()
