"""POST /uapi/phoneCalls/@me/simple through the running daemon: real SIPp phones ring and answer."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import urllib.error
import urllib.request
from typing import Any

import pytest

from bridge.ami.client import AmiClient
from bridge.errors import AmiActionFailed
from tests.conftest import CRM, HELPDESK
from tests.polling import until
from tests.system.daemon import RunningBridge

pytestmark = pytest.mark.system


def make_call(
    bridge: RunningBridge,
    body: dict[str, Any],
    *,
    token: str = CRM,
    user: str = "@me",
    **params: str,
) -> tuple[int, Any]:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    req = urllib.request.Request(
        f"{bridge.url}/uapi/phoneCalls/{user}/simple?{query}",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.status, json.loads(resp.read())


def view(sources: list[str], destination: str) -> dict[str, Any]:
    return {
        "extension": "210",
        "phoneCallView": [{"source": sources, "destination": [destination]}],
    }


async def legs(ami: AmiClient, call_id: str) -> dict[str, str]:
    """The call's live channels (name without the -suffix -> state), found by Linkedid."""
    chans = await ami.send_list({"Action": "CoreShowChannels"})
    return {
        c["Channel"].rsplit("-", 1)[0]: c["ChannelStateDesc"]
        for c in chans
        if c["Linkedid"] == call_id
    }


def all_up(ami: AmiClient, call_id: str, *names: str) -> Any:
    """A predicate for until(): every named endpoint has an Up leg in the call."""

    async def check() -> bool:
        now = await legs(ami, call_id)
        return all(now.get(n) == "Up" for n in names)

    return check


async def hang_up(ami: AmiClient, call_id: str) -> None:
    for chan in await ami.send_list({"Action": "CoreShowChannels"}):
        if chan["Linkedid"] == call_id:
            with contextlib.suppress(AmiActionFailed):
                await ami.send({"Action": "Hangup", "Channel": chan["Channel"]})
    await until(lambda: _gone(ami, call_id), 10)


async def _gone(ami: AmiClient, call_id: str) -> bool:
    return not await legs(ami, call_id)


async def test_extension_calls_public_number(bridge: RunningBridge, ami: AmiClient) -> None:
    """210 -> a public number: 202 with the id at once; both SIPp phones really answer."""
    status, body = await asyncio.to_thread(make_call, bridge, view(["210"], "5551234"))
    assert status == 202
    call_id = body[0]["id"]
    try:
        await until(all_up(ami, call_id, "PJSIP/210", "PJSIP/trunk"), 10)
    finally:
        await hang_up(ami, call_id)


async def test_first_source_to_answer_wins(bridge: RunningBridge, ami: AmiClient) -> None:
    """Sources 025 (answers after 3 s) and 026 (never): 025 wins, 026 stops, 024 is called.
    025 is Jane's and 026 John's: the organization app may ring both (a user app may not)."""
    _, body = await asyncio.to_thread(
        make_call, bridge, view(["025", "026"], "024"), token=HELPDESK, user="12"
    )
    call_id = body[0]["id"]
    try:
        await until(all_up(ami, call_id, "PJSIP/025", "PJSIP/024"), 12)
        assert "PJSIP/026" not in await legs(ami, call_id)
    finally:
        await hang_up(ami, call_id)


async def test_wait_for_pickup_ends_unanswered_call(bridge: RunningBridge, ami: AmiClient) -> None:
    """waitForPickup=2 on a source that never answers: the call is gone after about 2 s."""
    _, body = await asyncio.to_thread(make_call, bridge, view(["026"], "024"), waitForPickup="2")
    call_id = body[0]["id"]
    await until(lambda: _ringing(ami, call_id), 5)
    took = await until(lambda: _gone(ami, call_id), 8)
    assert took < 4, took


async def _ringing(ami: AmiClient, call_id: str) -> bool:
    return (await legs(ami, call_id)).get("PJSIP/026") == "Ringing"


async def test_call_duration_ends_the_call(bridge: RunningBridge, ami: AmiClient) -> None:
    """callDuration=3: the call ends by itself about 3 s after the destination answers."""
    _, body = await asyncio.to_thread(make_call, bridge, view(["210"], "024"), callDuration="3")
    call_id = body[0]["id"]

    await until(all_up(ami, call_id, "PJSIP/024"), 10)
    took = await until(lambda: _gone(ami, call_id), 8)
    assert 1.5 < took < 5, took


async def test_same_nonce_places_one_call(bridge: RunningBridge, ami: AmiClient) -> None:
    """The same nonce twice returns the same id and rings the phone once."""
    body = {**view(["210"], "024"), "nonce": "system-test-nonce"}
    _, first = await asyncio.to_thread(make_call, bridge, body)
    _, second = await asyncio.to_thread(make_call, bridge, body)
    call_id = first[0]["id"]
    assert second[0]["id"] == call_id
    try:
        await until(lambda: _ringing_or_up(ami, call_id), 10)
        chans = await ami.send_list({"Action": "CoreShowChannels"})
        assert (
            sum(
                1
                for c in chans
                if c["Channel"].startswith("Local/s@uapi-source") and c["Linkedid"] == call_id
            )
            == 2
        )  # one Local pair: one call
    finally:
        await hang_up(ami, call_id)


async def _ringing_or_up(ami: AmiClient, call_id: str) -> bool:
    return "PJSIP/024" in await legs(ami, call_id)


def delete(bridge: RunningBridge, path: str) -> tuple[int, Any]:
    return bridge.request("DELETE", f"/uapi/phoneCalls/@me/{path}")


async def test_delete_ends_the_call(bridge: RunningBridge, ami: AmiClient) -> None:
    """DELETE with the id ends every channel of the call; again it is pc_phonecall_invalid."""
    _, body = await asyncio.to_thread(make_call, bridge, view(["210"], "5551234"))
    call_id = body[0]["id"]

    await until(all_up(ami, call_id, "PJSIP/210", "PJSIP/trunk"), 10)
    status, answer = await asyncio.to_thread(delete, bridge, f"210/{call_id}")
    assert (status, answer) == (200, [{"id": call_id}])
    await until(lambda: _gone(ami, call_id), 5)
    status, answer = await asyncio.to_thread(delete, bridge, f"210/{call_id}")
    assert (status, answer["error"]["code"]) == (400, "pc_phonecall_invalid")


async def test_delete_phone_number_and_whole_extension(
    bridge: RunningBridge, ami: AmiClient
) -> None:
    """phoneNumber drops one party; without an id every call of the extension ends; then 204."""
    _, body = await asyncio.to_thread(make_call, bridge, view(["210"], "024"))
    call_id = body[0]["id"]

    await until(all_up(ami, call_id, "PJSIP/210", "PJSIP/024"), 10)
    status, _ = await asyncio.to_thread(delete, bridge, f"210/{call_id}?phoneNumber=5550000")
    assert status == 204  # not a party of this call: nothing is deleted
    assert "PJSIP/024" in await legs(ami, call_id)
    status, answer = await asyncio.to_thread(delete, bridge, "210")
    assert (status, answer) == (200, [{"id": call_id}])
    await until(lambda: _gone(ami, call_id), 5)
    status, _ = await asyncio.to_thread(delete, bridge, "210")
    assert status == 204


async def test_delete_a_phone_to_phone_call(
    bridge: RunningBridge, ami: AmiClient, sandbox: Any
) -> None:
    """A call placed on Asterisk directly (not by the API) can be hung up by extension."""
    linkedid = f"1700000000.{secrets.randbelow(10**6)}"
    await ami.send(
        {
            "Action": "Originate",
            "Channel": "PJSIP/210",
            "Context": "uapi-phones",
            "Exten": "026",
            "Priority": "1",
            "Async": "true",
            "ChannelId": linkedid,
        }
    )
    await until(lambda: _ringing(ami, linkedid), 10)
    status, answer = await asyncio.to_thread(delete, bridge, "@self")
    assert status == 200
    assert len(answer[0]["id"]) == 20
    await until(lambda: _gone(ami, linkedid), 5)
