"""sipHeaders (issue 26) on POST simple, callback and conferenceInvite: each refusal is 400
pc_sipheaders_invalid and sends nothing; accepted headers reach the Originate only as channel
variables (base64 values) for the dialplan's uapi-sip-headers, never as AMI fields."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest

from bridge import config as config_mod
from tests.api import test_callback, test_conference, test_phonecalls
from tests.api.conftest import FakePbx
from tests.conftest import Api


@pytest.fixture
async def phoneless(
    make_api: Callable[..., Any], raw_config: dict[str, Any]
) -> tuple[Api, FakePbx]:
    """The demo config (callback 250 and conference 260 are user 12's) and a fake PBX."""
    api: Api = await make_api(config_mod.parse(raw_config, env={}))
    pbx = FakePbx()
    api.plug(pbx)
    return api, pbx


BAD = [
    "X-Crm-Id: 42",
    ["X-Crm-Id", "42"],
    42,
    {f"X-H{i}": "v" for i in range(11)},  # more than 10
    {"Crm-Id": "42"},
    {"x-crm-id": "42"},
    {"X-": "42"},
    {"X-" + "a" * 65: "42"},
    {"X-Crm Id": "42"},
    {"X-Crm_Id": "42"},
    {"X-Crm-Id\r\nAction: Hangup": "42"},
    {"X-Crm-Id": "42\r\nAction: Hangup"},
    {"X-Crm-Id": "42\nX-Evil: 1"},
    {"X-Crm-Id": "4\r2"},
    {"X-Crm-Id": "é"},
    {"X-Crm-Id": "\x00"},
    {"X-Crm-Id": "\t"},
    {"X-Crm-Id": "a" * 257},
    {"X-Crm-Id": 42},
    {"X-Crm-Id": None},
    {"X-Crm-Id": ["42"]},
]
HEADERS = {"X-Crm-Id": "42", "X-Odd": 'a,b=c;"d" ${X} $[1+1] \\ ) |', "X-Empty": ""}


def _decoded(variables: dict[str, str]) -> dict[str, str]:
    count = int(variables["__UAPI_HDRS"])
    return {
        variables[f"__UAPI_HDR_NAME_{i}"]: base64.b64decode(
            variables[f"__UAPI_HDR_VALUE_{i}"]
        ).decode()
        for i in range(1, count + 1)
    }


@pytest.mark.parametrize("headers", BAD)
async def test_simple_refuses_bad_headers(api: Api, pbx: FakePbx, headers: Any) -> None:
    """simple: 400 pc_sipheaders_invalid, no Originate."""
    data = test_phonecalls.call()
    data["phoneCallView"][0]["sipHeaders"] = headers
    status, body = await test_phonecalls.post(api, data)
    assert (status, body["error"]["code"]) == (400, "pc_sipheaders_invalid"), body
    assert pbx.sent == []


async def test_simple_passes_headers_as_base64_variables(api: Api, pbx: FakePbx) -> None:
    """simple: the Originate carries the count, names and base64 values (inherited by every
    leg, `__`); no value appears raw, nothing becomes an AMI field of its own."""
    data = test_phonecalls.call()
    data["phoneCallView"][0]["sipHeaders"] = HEADERS
    status, body = await test_phonecalls.post(api, data)
    assert status == 202, body
    [orig] = pbx.sent
    variables = test_phonecalls.variables(orig)
    assert _decoded(variables) == HEADERS
    assert not any("$" in v or '"' in v for v in orig["Variable"])
    assert set(orig) == {
        "Action",
        "Channel",
        "Context",
        "Exten",
        "Priority",
        "Async",
        "ChannelId",
        "OtherChannelId",
        "Timeout",
        "CallerID",
        "Variable",
    }


async def test_simple_without_headers_sets_none(api: Api, pbx: FakePbx) -> None:
    """No sipHeaders (or an empty object): no header variable at all."""
    extras: list[dict[str, Any]] = [{}, {"sipHeaders": {}}]
    for extra in extras:
        data = test_phonecalls.call()
        data["phoneCallView"][0].update(extra)
        status, _ = await test_phonecalls.post(api, data)
        assert status == 202
    assert all(not v.startswith("__UAPI_HDR") for a in pbx.sent for v in a["Variable"])


@pytest.mark.parametrize("headers", BAD[:6] + BAD[10:14])
async def test_callback_refuses_bad_headers(phoneless: tuple[Api, FakePbx], headers: Any) -> None:
    """callback: the same refusals."""
    api, pbx = phoneless
    data = test_callback.body()
    data["phoneCallView"][0]["sipHeaders"] = headers
    status, body = await test_callback.post(api, data)
    assert (status, body["error"]["code"]) == (400, "pc_sipheaders_invalid"), body
    assert pbx.sent == []


async def test_callback_passes_headers(phoneless: tuple[Api, FakePbx]) -> None:
    """callback: the Originate carries them like simple's."""
    api, pbx = phoneless
    data = test_callback.body()
    data["phoneCallView"][0]["sipHeaders"] = HEADERS
    status, body = await test_callback.post(api, data)
    assert status == 202, body
    assert _decoded(test_phonecalls.variables(pbx.sent[0])) == HEADERS


@pytest.mark.parametrize("headers", BAD[:6] + BAD[10:14])
async def test_conference_invite_refuses_bad_headers(
    phoneless: tuple[Api, FakePbx], headers: Any
) -> None:
    """conferenceInvite: the same refusals."""
    api, pbx = phoneless
    data = test_conference.body()
    data["phoneCallView"][0]["sipHeaders"] = headers
    status, body = await test_conference.post(api, data)
    assert (status, body["error"]["code"]) == (400, "pc_sipheaders_invalid"), body
    assert pbx.sent == []


async def test_conference_invite_adds_them_before_the_call(phoneless: tuple[Api, FakePbx]) -> None:
    """conferenceInvite: each leg is dialled by a Local channel in uapi-sip-dial (its Dial
    runs uapi-sip-headers) with the target and wait as variables."""
    api, pbx = phoneless
    data = test_conference.body(["5559876", "5559877"])
    data["phoneCallView"][0]["sipHeaders"] = HEADERS
    status, body = await test_conference.post(api, data)
    assert status == 202, body
    assert len(pbx.sent) == 2
    for orig in pbx.sent:
        variables = test_conference.variables(orig)
        assert orig["Channel"] == "Local/s@uapi-sip-dial"
        assert variables["UAPI_DIAL_TARGET"].startswith("PJSIP/555987")
        assert variables["UAPI_WAIT"] == "25"
        assert _decoded(variables) == HEADERS
