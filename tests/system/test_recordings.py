"""Recordings on the real sandbox (issue 25): a real call recorded through the API, listed by
tenant, downloaded from Asterisk's ARI (whole and by range) and deleted there."""

from __future__ import annotations

import asyncio
import base64
import struct
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge.ami.client import AmiClient
from tests.conftest import CRM, HELPDESK
from tests.polling import until, wait_for
from tests.system.conftest import Sandbox
from tests.system.daemon import RunningBridge
from tests.system.test_call_control import put, talking
from tests.system.test_make_call import hang_up

pytestmark = pytest.mark.system
ARI = "http://127.0.0.1:15088/ari"  # config/asterisk/http.conf, ari.conf
ARI_USER, ARI_PASSWORD = "uapi", "sandbox-ari"
OTHER = "other-org-token-0123456789"  # an organization app of organization 4


@pytest.fixture
def rec_bridge(tmp_path: Path, sandbox: Sandbox) -> Iterator[RunningBridge]:
    """A bridge with the sandbox's ARI and an app of organization 4."""
    running = RunningBridge(
        tmp_path,
        sandbox,
        overrides={
            "ami": {"ari": {"url": ARI, "username": ARI_USER, "password": ARI_PASSWORD}},
            "apps": [{"name": "other", "organization": "4", "token": OTHER}],
        },
    )
    try:
        wait_for(lambda: running.health()[0] == 200, 20)
        yield running
    finally:
        running.stop()


def fetch(
    url: str,
    token: str | None = None,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    basic: bool = False,
) -> tuple[int, dict[str, str], bytes]:
    """One raw request: (status, headers, body)."""
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    if basic:
        pair = base64.b64encode(f"{ARI_USER}:{ARI_PASSWORD}".encode()).decode()
        sent["Authorization"] = f"Basic {pair}"
    req = urllib.request.Request(url, headers=sent, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers.items()), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers.items()), exc.read()


def wav_sizes_agree(data: bytes) -> bool:
    """A RIFF/WAVE file whose RIFF size and data chunk size match its length."""
    if len(data) < 44 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return False
    riff: int = struct.unpack("<I", data[4:8])[0]
    at = 12
    while at + 8 <= len(data):
        kind = data[at : at + 4]
        size: int = struct.unpack("<I", data[at + 4 : at + 8])[0]
        if kind == b"data":
            return riff == len(data) - 8 and at + 8 + size == len(data)
        at += 8 + size
    return False


async def test_a_real_call_recorded_listed_downloaded_deleted(
    rec_bridge: RunningBridge, ami: AmiClient
) -> None:
    """210 talks to 024; 210's view is recorded (Start/StopRecording). The recording is
    listed under 210 (John's app) and 024 (the organization app, as Jane), not for
    organization 4; its file is RIFF/WAVE with sizes agreeing with its length; bytes=0-43 is
    the 44-byte header; DELETE removes it from ARI."""
    bridge = rec_bridge
    call_id = await talking(bridge, "024")
    try:
        status, body = await put(
            bridge, call_id, {"action": "StartRecording", "phoneCallViewId": "00"}
        )
        assert status == 200, body
        stored = await asyncio.to_thread(fetch, f"{ARI}/recordings/stored", basic=True)
        assert stored[0] == 200
        status, body = await put(
            bridge, call_id, {"action": "StopRecording", "phoneCallViewId": "00"}
        )
        assert status == 200, body
    finally:
        await hang_up(ami, call_id)

    def mine() -> list[dict[str, Any]]:
        status, body = bridge.request(
            "GET", f"/uapi/recordings/@me/210?filterBy=phoneCallId&filterValue={call_id}"
        )
        return body["entry"] if status == 200 else []

    await until(lambda: asyncio.to_thread(mine), 10, "the recording is stored")
    [entry] = await asyncio.to_thread(mine)
    rid = entry["id"]
    assert rid.startswith(f"uapi-{call_id}-00-")
    assert (entry["extension"], entry["viewId"], entry["format"]) == ("0003*210", "00", "wav")
    status, body = await asyncio.to_thread(
        bridge.request,
        "GET",
        f"/uapi/recordings/13/024?filterBy=phoneCallId&filterValue={call_id}",
        None,
        HELPDESK,
    )
    assert (status, [(e["id"], e["extension"]) for e in body["entry"]]) == (
        200,
        [(rid, "0003*024")],
    )
    status, _ = await asyncio.to_thread(
        bridge.request, "GET", "/uapi/recordings/@owner/@self", None, OTHER
    )
    assert status == 204
    status, body = await asyncio.to_thread(
        bridge.request, "GET", f"/uapi/recordings/30/0004*300/{rid}", None, OTHER
    )
    assert (status, body["error"]["code"]) == (400, "recording_invalid")

    file_url = f"{bridge.url}/uapi/recordings/@me/210/{rid}/file"

    def whole() -> tuple[int, dict[str, str], bytes] | None:
        got = fetch(file_url, CRM)  # MixMonitor writes the final sizes when it closes the file
        return got if got[0] == 200 and wav_sizes_agree(got[2]) else None

    got = await asyncio.to_thread(wait_for, whole, 10)
    assert got is not None
    status, headers, audio = got
    assert headers["Content-Type"] == "audio/wav"
    assert int(headers["Content-Length"]) == len(audio) >= 44
    status, headers, head = await asyncio.to_thread(
        fetch, file_url, CRM, headers={"Range": "bytes=0-43"}
    )
    assert (status, len(head), head) == (206, 44, audio[:44])
    assert headers["Content-Range"] == f"bytes 0-43/{len(audio)}"

    status, _ = await asyncio.to_thread(bridge.request, "DELETE", f"/uapi/recordings/@me/210/{rid}")
    assert status == 204
    status, _, _ = await asyncio.to_thread(fetch, f"{ARI}/recordings/stored/{rid}", basic=True)
    assert status == 404
    assert await asyncio.to_thread(mine) == []
    assert bridge.health()[1]["nodes"]["default"]["ari"] == "ok"
