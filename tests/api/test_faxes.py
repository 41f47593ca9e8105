"""The Faxes routes (issue 25) over a fake AMI port: each code, the Originate per recipient,
results from the dialplan's UserEvents, received faxes and their files, 4PSA's MCP request."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bridge import config as config_mod
from bridge.ami.message import AmiMessage
from tests.api.conftest import FakePbx
from tests.conftest import CRM, Api
from tests.faxdocs import pdf, tiff

MCP = "demo-mcp-token-0123456789"
OTHER = "other-org-token-0123456789"
FAX_EXT = "0003*299"


@pytest.fixture
async def fax_api(make_api: Callable[..., Any], raw_config: dict[str, Any], tmp_path: Path) -> Api:
    """The demo config with a `fax` extension (299, John's), the spool in a temporary folder,
    max_pages 3, max_bytes 200 kB, an organization app of organization 4, a FakePbx."""
    raw_config["faxes"] = {
        "spool": str(tmp_path / "fax"),
        "spool_on_pbx": "/pbx/fax",
        "max_pages": 3,
        "max_bytes": 200_000,
    }
    raw_config["extensions"].append(
        {"number": FAX_EXT, "user": "12", "type": "fax", "caller_id": "Fax <299>"}
    )
    raw_config["apps"].append({"name": "other", "organization": "4", "token": OTHER})
    api: Api = await make_api(config_mod.parse(raw_config, env={}))
    api.plug(FakePbx())
    return api


def form(
    files: list[tuple[bytes, str]] | None, request: Any = None, *, part: str = "request"
) -> aiohttp.FormData:
    data = aiohttp.FormData()
    for body, ctype in files or []:
        data.add_field("files", body, filename="doc", content_type=ctype)
    if request is not None:
        data.add_field(
            part,
            request if isinstance(request, str) else json.dumps(request),
            content_type="application/json",
        )
    return data


async def post(
    api: Api, data: Any, path: str = "/uapi/faxes/@me/210", token: str = CRM
) -> tuple[int, Any]:
    resp = await api.client.post(path, data=data, headers={"Authorization": f"Bearer {token}"})
    raw = await resp.read()
    return resp.status, (json.loads(raw) if raw else None)


async def get(api: Api, path: str, token: str = CRM) -> tuple[int, Any]:
    resp = await api.client.get(path, headers={"Authorization": f"Bearer {token}"})
    raw = await resp.read()
    return resp.status, (json.loads(raw) if raw else None)


def sent(api: Api) -> list[dict[str, Any]]:
    return list(api.fake.sent)


async def test_one_fax_per_recipient(fax_api: Api, tmp_path: Path) -> None:
    """A PDF to three recipients: 202 with three faxes, three Originates into the fax
    contexts, the converted TIFF (one page) in the spool, listed as `sending`."""
    status, body = await post(
        fax_api, form([(pdf(), "application/pdf")], {"recipients": ["024", "5551234", "299"]})
    )
    assert status == 202, body
    assert [f["recipient"] for f in body] == ["024", "5551234", "299"]
    actions = sent(fax_api)
    assert [a["Action"] for a in actions] == ["Originate"] * 3
    first = actions[0]
    assert (first["Channel"], first["Context"]) == ("Local/s@uapi-fax-call/n", "uapi-fax-send")
    assert first["ChannelId"] == body[0]["id"]
    assert f"UAPI_FAX_FILE=/pbx/fax/{body[0]['id']}.tif" in first["Variable"]
    assert "UAPI_FAX_TARGET=PJSIP/024" in first["Variable"]
    assert "UAPI_FAX_TARGET=PJSIP/5551234@trunk" in actions[1]["Variable"]
    assert "UAPI_FAX_TARGET=Local/s@uapi-fax-receive" in actions[2]["Variable"]
    assert f"__UAPI_FAX_RECEIVER={FAX_EXT}" in actions[2]["Variable"]
    spooled = (tmp_path / "fax" / f"{body[0]['id']}.tif").read_bytes()
    assert spooled[:4] == b"II*\x00"
    status, listed = await get(fax_api, "/uapi/faxes/@me/210")
    assert status == 200
    assert [(e["status"], e["pages"], e["direction"]) for e in listed["entry"]] == [
        ("sending", "1", "out")
    ] * 3


async def test_result_from_the_user_event(fax_api: Api) -> None:
    """UapiFax SUCCESS: `sent` with its pages and finished; FAILED: `failed` with the error."""
    _, body = await post(fax_api, form([(tiff(2), "image/tiff")], {"recipients": ["024", "025"]}))
    ok, bad = body[0]["id"], body[1]["id"]
    faxes = fax_api.services.faxes
    await faxes.apply(
        AmiMessage(
            {
                "Event": "UserEvent",
                "UserEvent": "UapiFax",
                "FaxId": ok,
                "Status": "SUCCESS",
                "Pages": "2",
                "Error": "HANGUP",
            }
        )
    )
    await faxes.apply(
        AmiMessage(
            {
                "Event": "UserEvent",
                "UserEvent": "UapiFax",
                "FaxId": bad,
                "Status": "FAILED",
                "Pages": "0",
                "Error": "NOANSWER",
            }
        )
    )
    _, one = await get(fax_api, f"/uapi/faxes/@me/210/{ok}")
    [entry] = one["entry"]
    assert (entry["status"], entry["pages"], entry["error"]) == ("sent", "2", "")
    assert "finished" in entry
    _, two = await get(fax_api, f"/uapi/faxes/@me/210/{bad}")
    assert (two["entry"][0]["status"], two["entry"][0]["error"]) == ("failed", "NOANSWER")


async def test_received_fax_listed_in_with_its_file(fax_api: Api, tmp_path: Path) -> None:
    """UapiFaxReceived for the fax extension: direction in, `received`, links.file serves it;
    another organization's app cannot see it."""
    fax_id = "fax-00000000000000000000abcd"
    (tmp_path / "fax").mkdir()
    (tmp_path / "fax" / f"{fax_id}.tif").write_bytes(tiff(1))
    fax_api.services.faxes.on_event(
        AmiMessage(
            {
                "Event": "UserEvent",
                "UserEvent": "UapiFaxReceived",
                "FaxId": fax_id,
                "Receiver": FAX_EXT,
                "Sender": "0003*210",
                "Status": "SUCCESS",
                "Pages": "1",
            }
        )
    )
    await fax_api.services.faxes.apply(fax_api.services.faxes._results.get_nowait())
    assert fax_api.services.faxes._results.empty()
    status, listed = await get(fax_api, "/uapi/faxes/@me/299")
    assert status == 200
    [entry] = listed["entry"]
    assert (entry["direction"], entry["status"], entry["pages"]) == ("in", "received", "1")
    assert entry["links"]["file"].endswith(f"/uapi/faxes/@me/0003*299/{fax_id}/file")
    resp = await fax_api.client.get(f"/uapi/faxes/@me/299/{fax_id}/file", headers=fax_api.auth())
    assert resp.status == 200
    assert resp.content_type == "image/tiff"
    assert await resp.read() == tiff(1)
    status, other = await get(fax_api, f"/uapi/faxes/@owner/0003*299/{fax_id}", OTHER)
    assert (status, other["error"]["code"]) == (400, "extension_invalid")


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (lambda: form([(pdf(), "application/pdf")], {"recipients": []}), "fax_recipients_invalid"),
        (lambda: form([(pdf(), "application/pdf")], {"to": ["024"]}), "fax_recipients_invalid"),
        (lambda: form([(pdf(), "application/pdf")]), "fax_recipients_invalid"),
        (lambda: form([(pdf(), "application/pdf")], "{not json"), "fax_recipients_invalid"),
        (
            lambda: form([(pdf(), "application/pdf")], {"recipients": ["0004*300"]}),
            "fax_recipients_invalid",
        ),  # another organization's extension
        (
            lambda: form([(pdf(), "application/pdf")], {"recipients": ["0003*998"]}),
            "fax_recipients_invalid",
        ),
        (
            lambda: form(
                [(pdf(), "application/pdf")], {"recipients": ["5551234\r\nAction: Originate"]}
            ),
            "fax_recipients_invalid",
        ),
        (
            lambda: form([(pdf(), "application/pdf")], {"recipients": ["250"]}),
            "fax_recipients_invalid",
        ),  # a callback extension: nothing answers there
        (
            lambda: form([(b"hello, not a fax", "application/pdf")], {"recipients": ["024"]}),
            "fax_file_invalid",
        ),
        (lambda: form([(b"", "application/pdf")], {"recipients": ["024"]}), "fax_file_invalid"),
        (
            lambda: form(
                [(b"%PDF-1.4\n" + b"0" * 200_001, "application/pdf")], {"recipients": ["024"]}
            ),
            "fax_file_invalid",
        ),  # over max_bytes
        (
            lambda: form([(tiff(4), "image/tiff")], {"recipients": ["024"]}),
            "fax_file_invalid",
        ),  # over max_pages
        (
            lambda: form([(b"%PDF-1.4\ngarbage", "application/pdf")], {"recipients": ["024"]}),
            "fax_file_invalid",
        ),  # ghostscript cannot read it
        (
            lambda: form(
                [(tiff(1), "image/tiff"), (pdf(), "application/pdf")], {"recipients": ["024"]}
            ),
            "fax_file_invalid",
        ),
        (lambda: form(None, {"recipients": ["024"]}), "request_invalid"),
        (lambda: json.dumps({"recipients": ["024"]}), "request_invalid"),
    ],
)
async def test_codes_nothing_reaches_asterisk(
    fax_api: Api, data: Callable[[], Any], code: str
) -> None:
    """Each bad request gets its 400 code and sends no AMI action."""
    status, body = await post(fax_api, data())
    assert (status, body["error"]["code"]) == (400, code), body
    assert sent(fax_api) == []


async def test_unknown_extension(fax_api: Api) -> None:
    """An extension that is not the app's user's: extension_invalid, nothing sent."""
    for path in ("/uapi/faxes/@me/998", "/uapi/faxes/@me/024"):
        status, body = await post(
            fax_api, form([(pdf(), "application/pdf")], {"recipients": ["5551234"]}), path
        )
        assert (status, body["error"]["code"]) == (400, "extension_invalid")
    assert sent(fax_api) == []


async def test_unknown_fax_id(fax_api: Api) -> None:
    status, body = await get(fax_api, "/uapi/faxes/@me/210/fax-0123456789abcdef01234567")
    assert (status, body["error"]["code"]) == (400, "fax_invalid")


async def test_json_part_under_data(fax_api: Api) -> None:
    """The recipients may come as part `data` too."""
    status, body = await post(
        fax_api, form([(pdf(), "application/pdf")], {"recipients": ["024"]}, part="data")
    )
    assert status == 202, body
    assert len(sent(fax_api)) == 1


async def test_mcp_faxes_create_shape(fax_api: Api) -> None:
    """4PSA's MCP `faxes-create`: `files` as application/octet-stream, `request` JSON, no
    trailing slash, with the MCP app's token: 202 and one Originate."""
    data = aiohttp.FormData()
    data.add_field("files", pdf(), filename="invoice.pdf", content_type="application/octet-stream")
    data.add_field(
        "request", json.dumps({"recipients": ["0003*024"]}), content_type="application/json"
    )
    status, body = await post(fax_api, data, "/uapi/faxes/@me/0003*210", MCP)
    assert status == 202, body
    assert body[0]["recipient"] == "0003*024"
    assert "UAPI_FAX_TARGET=PJSIP/024" in sent(fax_api)[0]["Variable"]
