"""Issue 23 against the real sandbox with real calls: recover after a receiver was down longer
than max_attempts, replay with the same webhook-id, both secrets during a rotation's overlap
(only the new one after), a custom Authorization header, and ordered delivery with a receiver
slow on DialIn."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from bridge.ami.client import AmiClient
from bridge.domain.views import iso
from tests.conftest import CRM, HELPDESK
from tests.polling import wait_for
from tests.system.daemon import RunningBridge, free_port, get
from tests.system.test_list_calls import poll_views
from tests.system.test_make_call import hang_up, make_call, view
from tests.system.test_webhooks import TYPES, Receiver, receiver, soon

pytestmark = pytest.mark.system
__all__ = ["receiver"]  # the fixture, used by name
PCE = "/uapi/extensions/{}/phoneCallEvents"


@pytest.fixture
def quick(tmp_path: Path, sandbox: Any) -> Iterator[RunningBridge]:
    """The bridge with loopback allow-listed, two attempts per delivery, quick retries."""
    running = RunningBridge(
        tmp_path,
        sandbox,
        {
            "webhooks": {
                "allow_networks": ["127.0.0.0/8"],
                "backoff_min": 0.5,
                "backoff_max": 1,
                "max_attempts": 2,
            }
        },
    )
    try:
        wait_for(lambda: running.health()[0] == 200, 20)
        yield running
    finally:
        running.stop()


async def api(
    bridge: RunningBridge, method: str, path: str, body: Any = None, token: str = CRM
) -> tuple[int, Any]:
    return await asyncio.to_thread(bridge.request, method, path, body, token)


async def register(
    bridge: RunningBridge, ext: str, kind: str, url: str, token: str = CRM, **extra: Any
) -> tuple[str, str]:
    """(the registration's path, its secret)."""
    code, body = await api(
        bridge,
        "POST",
        PCE.format(ext),
        {"type": TYPES[kind], "method": 1, "url": url, **extra},
        token,
    )
    assert code == 201, body
    return f"{PCE.format(ext)}/{TYPES[kind]}/{body['id']}", body["secret"]


async def answered_call(bridge: RunningBridge) -> str:
    """210 calls 024 through the API; returns the call id once both talk."""
    _, body = await asyncio.to_thread(make_call, bridge, view(["210"], "024"))
    call_id = str(body[0]["id"])
    await poll_views(bridge, f"@me/210/{call_id}", {"0003*210": "5", "0003*024": "5"})
    return call_id


def verifies(secret: str, hook: dict[str, Any]) -> bool:
    try:
        Webhook(secret).verify(hook["payload"], hook["headers"], json_parse=False)
    except WebhookVerificationError:
        return False
    return True


async def test_a_receiver_down_longer_than_max_attempts_gets_everything_after_recover(
    quick: RunningBridge,
    receiver: Receiver,
    ami: AmiClient,
) -> None:
    """DialOut, AnswerOut and Hangup fire while nothing listens; both attempts of each fail
    (given up). The receiver comes up: nothing arrives by itself; `recover` sends each once."""
    base = f"http://127.0.0.1:{receiver.port}"
    regs = [
        (await register(quick, "@me/210", kind, f"{base}/{kind}"))[0]
        for kind in ("DialOut", "AnswerOut", "Hangup")
    ]
    since = iso(time.time() - 5)
    call_id = await answered_call(quick)
    await hang_up(ami, call_id)

    async def given_up(reg: str) -> bool:
        _, log = await api(quick, "GET", f"{reg}/deliveries")
        return bool(log) and [a["outcome"] for a in log["entry"]].count("failed") == 1

    for reg in regs:
        deadline = time.monotonic() + 20
        while not await given_up(reg):
            assert time.monotonic() < deadline, f"{reg} not given up"
            await asyncio.sleep(0.3)
    await receiver.start()
    await asyncio.sleep(2)
    assert receiver.got == []  # given up: nothing comes by itself
    for reg in regs:
        code, body = await api(quick, "POST", f"{reg}/recover", {"since": since})
        assert (code, body) == (202, {"queued": 1})
    await soon(lambda: len(receiver.got) == 3, within=15)
    assert sorted(g["path"] for g in receiver.got) == ["/AnswerOut", "/DialOut", "/Hangup"]
    assert {g["params"]["CallID"] for g in receiver.got} == {call_id}
    code, body = await api(
        quick, "POST", f"{regs[0]}/recover", {"since": iso(time.time() - 8 * 86400)}
    )
    assert (code, body["error"]["code"]) == (400, "pce_since_invalid")


async def test_replay_rotation_and_a_custom_authorization_header(
    quick: RunningBridge,
    receiver: Receiver,
    ami: AmiClient,
) -> None:
    """The Hangup arrives with the registration's Authorization header and, inside a 5 s
    rotation overlap, verifies with the old and with the new secret; once the overlap is
    over, its replay (same webhook-id) verifies with the new secret only."""
    await receiver.start()
    url = f"http://127.0.0.1:{receiver.port}/hangup"
    reg, old = await register(
        quick, "@me/210", "Hangup", url, headers={"Authorization": "Bearer crm-receiver-token"}
    )
    call_id = await answered_call(quick)
    code, rotated = await api(quick, "POST", f"{reg}/secret/rotate", {"overlap": 5})
    assert code == 200
    new = rotated["secret"]
    await hang_up(ami, call_id)
    await soon(lambda: len(receiver.got) == 1)
    first = receiver.got[0]
    assert first["headers"]["Authorization"] == "Bearer crm-receiver-token"
    assert len(first["headers"]["webhook-signature"].split(" ")) == 2
    assert verifies(new, first)
    assert verifies(old, first)
    code, shown = await api(quick, "GET", f"{reg}/secret")
    assert (shown["secret"], shown.get("previous")) == (new, old)
    await asyncio.sleep(max(0.0, rotated_expiry(rotated) - time.time()) + 0.5)
    delivery_id = first["headers"]["webhook-id"]
    code, body = await api(quick, "POST", f"{reg}/deliveries/{delivery_id}/replay")
    assert (code, body) == (202, {"deliveryId": delivery_id})
    await soon(lambda: len(receiver.got) == 2)
    again = receiver.got[1]
    assert again["headers"]["webhook-id"] == delivery_id
    assert again["payload"] == first["payload"]
    assert verifies(new, again)
    assert not verifies(old, again)
    assert await api(quick, "GET", f"{reg}/secret") == (200, {"secret": new})
    code, body = await api(quick, "POST", f"{reg}/deliveries/nope/replay")
    assert (code, body["error"]["code"]) == (400, "pce_delivery_invalid")
    assert "crm-receiver-token" not in quick.log.read_text()
    code, metrics = await asyncio.to_thread(get, f"{quick.url}/metrics")
    assert code == 200
    assert 'uapi_webhook_registrations_disabled_total{cause="gone"} 0.0' in metrics


def rotated_expiry(rotated: dict[str, str]) -> float:
    return datetime.fromisoformat(rotated["previousExpires"].replace("Z", "+00:00")).timestamp()


class SlowOnDialIn(Receiver):
    """Takes 4 s to answer a DialIn (CallStatus CALLING); notes the order requests finish."""

    def __init__(self, port: int) -> None:
        super().__init__(port)
        self.finished: list[str] = []

    async def handle(self, request: web.Request) -> web.Response:
        answer = await super().handle(request)
        params = self.got[-1]["params"]
        if params.get("CallStatus") == "CALLING":
            await asyncio.sleep(4)
        self.finished.append(f"{params['CallStatus']}:{params['Sequence']}")
        return answer


async def test_ordered_hangup_arrives_after_a_slow_dial_in(
    quick: RunningBridge,
    ami: AmiClient,
) -> None:
    """024's DialIn, AnswerIn and Hangup registrations, ordered, at one URL: the receiver
    takes 4 s on DialIn and the call ends before that; AnswerIn and Hangup still come after
    it, in firing order (Sequence 1, 2, 3)."""
    slow = SlowOnDialIn(free_port())
    await slow.start()
    try:
        url = f"http://127.0.0.1:{slow.port}/024"
        for kind in ("DialIn", "AnswerIn", "Hangup"):
            await register(quick, "13/024", kind, url, token=HELPDESK, ordered=True)
        call_id = await answered_call(quick)
        await hang_up(ami, call_id)
        await soon(lambda: len(slow.finished) == 3, within=20)
    finally:
        await slow.stop()
    assert [f.split(":")[0] for f in slow.finished] == ["CALLING", "ANSWER", "ANSWER"]
    assert [f.split(":")[1] for f in slow.finished] == ["1", "2", "3"]
    assert [g["params"]["Sequence"] for g in slow.got] == ["1", "2", "3"]  # arrivals too
    assert slow.got[-1]["params"].get("Duration") is not None  # the last one is the Hangup
