"""Faxes on the real sandbox (issue 25): a one-page PDF sent from 0003*210 to a `fax`
extension arrives through SendFAX and ReceiveFAX (res_fax_spandsp, two Local channels on the
same Asterisk) as a one-page TIFF; the sent fax ends `sent` with 1 page."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import Image
from PIL.TiffImagePlugin import TiffImageFile

from tests.conftest import CRM
from tests.faxdocs import pdf
from tests.polling import wait_for
from tests.system.conftest import Sandbox
from tests.system.daemon import RunningBridge
from tests.system.test_recordings import fetch

pytestmark = pytest.mark.system
SANDBOX_ROOT = Path("/var/tmp/uapi-bridge/sid-root")  # scripts/asterisk-sandbox's chroot
PBX_SPOOL = "/var/spool/asterisk/fax"
FAX_EXT = "0003*299"


@pytest.fixture
def fax_bridge(tmp_path: Path, sandbox: Sandbox) -> Iterator[RunningBridge]:
    """A bridge with a `fax` extension (299, John's) and the sandbox's fax spool."""
    running = RunningBridge(
        tmp_path,
        sandbox,
        overrides={
            "faxes": {
                "spool": str(SANDBOX_ROOT / PBX_SPOOL.lstrip("/")),
                "spool_on_pbx": PBX_SPOOL,
                "wait": 4,
            },
            "extensions": [
                {"number": FAX_EXT, "user": "12", "type": "fax", "caller_id": "Fax <299>"}
            ],
        },
    )
    try:
        wait_for(lambda: running.health()[0] == 200, 20)
        yield running
    finally:
        running.stop()


async def send(bridge: RunningBridge, recipients: list[str]) -> tuple[int, Any]:
    data = aiohttp.FormData()
    data.add_field("files", pdf(), filename="page.pdf", content_type="application/octet-stream")
    data.add_field(
        "request", json.dumps({"recipients": recipients}), content_type="application/json"
    )
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{bridge.url}/uapi/faxes/@me/0003*210",
            data=data,
            headers={"Authorization": f"Bearer {CRM}"},
        ) as resp,
    ):
        return resp.status, await resp.json()


def faxes(bridge: RunningBridge, extension: str) -> list[dict[str, Any]]:
    status, body = bridge.request("GET", f"/uapi/faxes/@me/{extension}")
    return body["entry"] if status == 200 else []


async def test_pdf_to_a_fax_extension_arrives_as_one_page(fax_bridge: RunningBridge) -> None:
    """202 with one fax; it ends `sent`, pages 1; 299 lists one fax `in`, `received`, whose
    file is a TIFF of one page (Pillow)."""
    status, body = await send(fax_bridge, [FAX_EXT])
    assert status == 202, body
    [out] = body
    assert out["recipient"] == FAX_EXT

    def finished() -> dict[str, Any] | None:
        done = [
            f
            for f in faxes(fax_bridge, "210")
            if f["id"] == out["id"] and f["status"] not in ("queued", "sending")
        ]
        return done[0] if done else None

    sent = wait_for(finished, 60)
    assert sent is not None
    assert (sent["status"], sent["pages"], sent["direction"]) == ("sent", "1", "out"), sent
    received = wait_for(lambda: faxes(fax_bridge, "299"), 20)
    [got] = received
    assert (got["direction"], got["status"], got["pages"]) == ("in", "received", "1"), got
    code, headers, tif = fetch(got["links"]["file"], CRM)
    assert code == 200
    assert headers["Content-Type"] == "image/tiff"
    with Image.open(io.BytesIO(tif)) as image:
        assert isinstance(image, TiffImageFile)
        assert image.n_frames == 1  # one page
        assert image.size[0] == 1728  # a fax line's width at 204 dpi


async def test_a_recipient_that_does_not_answer_fails(fax_bridge: RunningBridge) -> None:
    """026 never answers: after faxes.wait the fax is `failed` with the DIALSTATUS."""
    status, body = await send(fax_bridge, ["026"])
    assert status == 202, body

    def finished() -> dict[str, Any] | None:
        done = [
            f
            for f in faxes(fax_bridge, "210")
            if f["id"] == body[0]["id"] and f["status"] not in ("queued", "sending")
        ]
        return done[0] if done else None

    failed = wait_for(finished, 30)
    assert failed is not None
    assert (failed["status"], failed["error"]) == ("failed", "NOANSWER"), failed
