"""A client that stops reading overflows its queue and is closed; the others keep receiving."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from bridge.ami.message import AmiMessage
from bridge.live.client import View
from tests.conftest import CRM
from tests.live.conftest import URL, Live, Reader, poll


@pytest.fixture
def stream_config(stream_config: dict[str, Any]) -> dict[str, Any]:
    """Queues of 16 frames, so a stalled reader overflows soon."""
    stream_config["stream"]["queue"] = 16
    return stream_config


async def _stalled(live: Live) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A stream opened on a socket with a tiny receive buffer that the test never reads."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    sock.setblocking(False)
    server = live.api.client.server
    await asyncio.get_running_loop().sock_connect(sock, (server.host, server.port))
    reader, writer = await asyncio.open_connection(sock=sock)
    writer.write(f"GET {URL} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {CRM}\r\n\r\n".encode())
    await writer.drain()
    return reader, writer


def _call(i: int, state: str) -> dict[str, str]:
    """A phone of 210 that starts a call (one `call` event each)."""
    return {
        "Event": "Newchannel",
        "Uniqueid": f"u{i}",
        "Linkedid": f"u{i}",
        "Channel": f"PJSIP/210-{i:08x}",
        "ChannelState": state,
        "CallerIDNum": "210",
        "ConnectedLineNum": "5551234",
    }


async def test_a_stalled_client_overflows_and_is_closed(live: Live) -> None:
    """Calls keep changing: the stalled stream gets `overflow` and is dropped, the reading one
    gets every change, and /metrics counts the overflow and the dropped events."""
    good = await live.open()
    await good.until("ready")
    stalled, writer = await _stalled(live)
    await poll(lambda: live.hub.stats.clients == 2)
    received: list[str] = []
    reading = asyncio.create_task(_collect(good, received))
    sent = 0
    while live.hub.stats.overflows == 0 and sent < 20_000:
        live.feed.on_event(AmiMessage(_call(sent, "4")))
        sent += 1
        await poll(lambda n=sent: len(received) == n)  # type: ignore[misc]  # in step with the reader
    assert live.hub.stats.overflows == 1, sent
    assert live.hub.stats.clients == 1
    tail = await asyncio.wait_for(_drain(stalled), 5)  # closed: aborted or after `overflow`
    assert tail.endswith(b"\r\n\r\n") or not tail
    writer.close()
    for i in range(sent, sent + 50):  # the reader keeps getting changes
        live.feed.on_event(AmiMessage(_call(i, "4")))
        await asyncio.sleep(0.001)
    await poll(lambda: len(set(received)) == sent + 50)
    reading.cancel()
    metrics = await (await live.api.client.get("/metrics")).text()
    assert "uapi_stream_overflows_total 1.0" in metrics
    assert "uapi_stream_clients 1.0" in metrics
    dropped = [ln for ln in metrics.splitlines() if ln.startswith("uapi_stream_events_dropped")]
    assert float(dropped[0].split()[-1]) >= 17


async def _collect(reader: Reader, into: list[str]) -> None:
    while True:
        event = await reader.next(wait=30)
        if event.kind == "call":
            into.append(event.data["id"])


async def _drain(stream: asyncio.StreamReader) -> bytes:
    """Everything up to the end of the connection; its last 4 bytes (or b"" on a reset)."""
    last = b""
    try:
        while chunk := await stream.read(65536):
            last = (last + chunk)[-4:]
    except ConnectionResetError:
        return b""
    return last


async def test_clients_of_equal_views_share_one_view_object(live: Live) -> None:
    """The hub keeps one View per distinct view (its frames are cached by identity): equal
    views join as the same object, a different one stays its own."""
    base = "http://x/uapi/phoneCalls/12"
    a = live.hub.join({"0003*210"}, View(base, ("id",)), None)
    b = live.hub.join({"0003*026"}, View(base, ("id",)), None)
    c = live.hub.join({"0003*210"}, View(base, None), None)
    assert a.view is b.view
    assert c.view is not a.view
    assert c.view == View(base, None)
    for client in (a, b, c):
        live.hub.leave(client)
