"""The HTTP edge: inputs that used to answer 500 with a traceback, aiohttp parser refusals in
the UAPI envelope, and connections that do not deliver a request in time (issue 9)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web

from bridge import config as config_mod
from bridge.api.edge import Runner
from bridge.api.server import build_app
from tests.api.test_callcontrol import TrackingPbx
from tests.api.test_calllist import live
from tests.conftest import CRM, Api

LONG = "9" * 5000  # more digits than int() converts by default


@pytest.fixture
def pbx(api: Api) -> TrackingPbx:
    fake = TrackingPbx(api)
    api.plug(fake)
    return fake


async def _json(resp: Any) -> Any:
    assert resp.content_type == "application/json", await resp.text()
    return await resp.json()


@pytest.mark.parametrize("value", ["\u00b2", "\u0663", "\uff11", LONG, "-1", "1e3", " "])
async def test_list_numbers_take_ascii_digits_only(api: Api, pbx: TrackingPbx, value: str) -> None:
    """count and startIndex with non-ASCII digits or too many digits: their codes, never 500."""
    for name, code in (("count", "count_invalid"), ("startIndex", "startindex_invalid")):
        resp = await api.client.get(
            "/uapi/phoneCalls/@me/210", params={name: value}, headers=api.auth()
        )
        body = await _json(resp)
        assert (resp.status, body["error"]["code"]) == (400, code)


@pytest.mark.parametrize("value", ["\u00b2", "\u0663", LONG, "0"])
async def test_make_call_numbers_take_ascii_digits_only(
    api: Api, pbx: TrackingPbx, value: str
) -> None:
    """waitForPickup and callDuration: pc_timeout_invalid / pc_duration_invalid."""
    body = {"extension": "210", "phoneCallView": [{"source": ["210"], "destination": ["024"]}]}
    for name, code in (
        ("waitForPickup", "pc_timeout_invalid"),
        ("callDuration", "pc_duration_invalid"),
    ):
        resp = await api.client.post(
            "/uapi/phoneCalls/@me/simple", params={name: value}, json=body, headers=api.auth()
        )
        answer = await _json(resp)
        assert (resp.status, answer["error"]["code"]) == (400, code)
    assert pbx.sent == []


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        (
            {"action": "Park", "phoneCallViewId": "01", "maxInParking": "\u00b2"},
            "pc_maxinparking_invalid",
        ),
        (
            {"action": "Park", "phoneCallViewId": "01", "maxInParking": LONG},
            "pc_maxinparking_invalid",
        ),
        (
            {"action": "Park", "phoneCallViewId": "01", "maxInParking": 10**400},
            "pc_maxinparking_invalid",
        ),
        ({"action": "Park", "phoneCallViewId": "\u00b2"}, "pc_phonecallview_invalid"),
        ({"action": "Park", "phoneCallViewId": LONG}, "pc_phonecallview_invalid"),
        ({"action": "Park", "phoneCallViewId": 1.5}, "pc_phonecallview_invalid"),
        (
            {
                "action": "BargeIn",
                "phoneCallViewId": "00",
                "sendCallTo": "024",
                "waitForPickup": "\u0663",
            },
            "pc_timeout_invalid",
        ),
        (
            {
                "action": "Whisper",
                "phoneCallViewId": "00",
                "sendCallTo": "024",
                "private": "\u00b9",
            },
            "pc_private_invalid",
        ),
        (
            {"action": "StartRecording", "phoneCallViewId": "00", "format": []},
            "pc_format_invalid",
        ),  # found by the fuzz test: an unhashable value was a 500
    ],
)
async def test_call_control_numbers_take_ascii_digits_only(
    api: Api, pbx: TrackingPbx, fields: dict[str, Any], code: str
) -> None:
    """Non-ASCII digits, 5000-digit strings and huge JSON integers get the field's code."""
    call_id = live(api)
    raw = json.dumps(fields)  # 10**400 is a valid JSON integer
    resp = await api.client.put(
        f"/uapi/phoneCalls/@me/210/{call_id}",
        data=raw,
        headers={**api.auth(), "Content-Type": "application/json"},
    )
    answer = await _json(resp)
    assert (resp.status, answer["error"]["code"]) == (400, code), answer
    assert pbx.sent == []


async def test_deeply_nested_json_is_json_invalid(api: Api, pbx: TrackingPbx) -> None:
    """30,000 nested arrays (60 KB, under the body limit) used to raise RecursionError."""
    raw = "[" * 30000 + "]" * 30000
    resp = await api.client.post(
        "/uapi/phoneCalls/@me/simple",
        data=raw,
        headers={**api.auth(), "Content-Type": "application/json"},
    )
    answer = await _json(resp)
    assert (resp.status, answer["error"]["code"]) == (400, "json_invalid")


@pytest.mark.parametrize(
    ("ctype", "body"),
    [
        ("multipart/form-data; boundary=", b"--x\r\nbroken"),
        ("multipart/form-data; boundary=zz", b"not multipart at all"),
        ("multipart/form-data", b"--x\r\n\r\n"),
        ("application/x-www-form-urlencoded", b"grant_type=client_credentials&client_id=\xff\xfe"),
        ("application/x-www-form-urlencoded; charset=klingon", b"grant_type=client_credentials"),
    ],
)
async def test_oauth_bad_forms_are_400(api: Api, ctype: str, body: bytes) -> None:
    """A form OAuth cannot read answers 400 in the OAuth error shape, not 500."""
    resp = await api.client.post("/oauth/token.php", data=body, headers={"Content-Type": ctype})
    answer = await _json(resp)
    assert resp.status == 400
    assert answer["error"] in ("invalid_request", "unsupported_grant_type", "invalid_client")


@pytest.fixture
async def edge(
    make_api: Callable[..., Any], raw_config: dict[str, Any]
) -> AsyncIterator[tuple[str, int]]:
    """The bridge's own runner (as the daemon uses it) on a loopback port, 0.5 s timeout."""
    raw_config["http"]["request_timeout"] = 0.5
    api = await make_api(config_mod.parse(raw_config, env={}))
    runner = Runner(build_app(api.services), request_timeout=0.5, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield "127.0.0.1", port
    await runner.cleanup()


async def _raw(host: str, port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(data)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return answer


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"THIS IS NOT HTTP\r\n\r\n",
        b"GET /uapi/extensions/@me HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n",
        b"GET /uapi/\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /uapi/phoneCalls/@me/simple HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"\r\nzz\r\n",
    ],
)
async def test_parser_refusals_use_the_envelope(
    edge: tuple[str, int], request_bytes: bytes
) -> None:
    """What aiohttp's parser refuses is answered as JSON in the UAPI error envelope."""
    answer = await _raw(*edge, request_bytes)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b" ")[1].startswith(b"4"), head
    assert b"application/json" in head
    assert json.loads(body)["error"]["code"] in ("request_invalid", "request_too_large")


async def test_slow_clients_are_disconnected(edge: tuple[str, int]) -> None:
    """A client trickling one header byte every 0.1 s is closed after request_timeout (0.5 s),
    long before it could finish (250 bytes would take 25 s); an idle connection too."""
    reader, writer = await asyncio.open_connection(*edge)
    idle_reader, idle_writer = await asyncio.open_connection(*edge)
    loop = asyncio.get_running_loop()
    started, closed_after = loop.time(), None
    for byte in b"GET /uapi/extensions/@me HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200:
        try:
            writer.write(bytes([byte]))
            await writer.drain()
            if await asyncio.wait_for(reader.read(1), 0.1) == b"":
                closed_after = loop.time() - started
                break
        except TimeoutError:
            continue
        except ConnectionError:
            closed_after = loop.time() - started
            break
    assert closed_after is not None
    assert closed_after < 3
    assert await asyncio.wait_for(idle_reader.read(), 3) == b""
    writer.close()
    idle_writer.close()


async def test_slow_bodies_get_408(edge: tuple[str, int]) -> None:
    """Headers that promise a body which never comes: 408 request_timeout in the envelope."""
    answer = await _raw(
        *edge,
        b"POST /uapi/phoneCalls/@me/simple HTTP/1.1\r\nHost: x\r\n"
        b"Authorization: Bearer " + CRM.encode() + b"\r\n"
        b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
    )
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == b"408", head
    assert json.loads(body)["error"]["code"] == "request_timeout"
