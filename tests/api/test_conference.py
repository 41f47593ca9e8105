"""POST /uapi/phoneCalls/{userId}/conferenceInvite: the Originates it sends, one test per code
(a refused request sends nothing to Asterisk)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bridge import config as config_mod
from tests.api.conftest import FakePbx
from tests.conftest import HELPDESK, Api

URL = "/uapi/phoneCalls/@me/conferenceInvite"


@pytest.fixture
async def conf(make_api: Callable[..., Any], raw_config: dict[str, Any]) -> tuple[Api, FakePbx]:
    """The demo config (conference 260 is user 12's) plus Jane's 261 and another
    organization's 360."""
    raw_config["extensions"] += [
        {"number": "0003*261", "user": "13", "type": "conference"},
        {"number": "0004*360", "user": "30", "type": "conference"},
    ]
    api: Api = await make_api(config_mod.parse(raw_config, env={}))
    pbx = FakePbx()
    api.plug(pbx)
    return api, pbx


def body(destination: Any = "5559876", **extra: Any) -> dict[str, Any]:
    view: dict[str, Any] = {"destination": destination}
    view.update({k: v for k, v in extra.items() if k in ("source", "callerId")})
    out: dict[str, Any] = {"extension": "260", "phoneCallView": [view]}
    out.update({k: v for k, v in extra.items() if k not in ("source", "callerId")})
    return out


async def post(
    api: Api, data: Any, token: str | None = None, url: str = URL, **params: str
) -> tuple[int, Any]:
    resp = await api.client.post(
        url, json=data, headers=api.auth(token) if token else api.auth(), params=params
    )
    return resp.status, await resp.json()


def variables(action: dict[str, Any]) -> dict[str, str]:
    return dict(v.split("=", 1) for v in action["Variable"])


async def test_invite_rings_each_destination_into_the_room(conf: tuple[Api, FakePbx]) -> None:
    """Two destinations: two calls on 260, each Originate into uapi-conference with the room
    of 260 and number 7 and the PIN; List shows both on 260."""
    api, pbx = conf
    status, answer = await post(
        api,
        body(["5559876", "024"], source=["260"], callerId="Team <260>"),
        number="7",
        pin="2233",
        waitForPickup="15",
    )
    assert status == 202
    assert [a["extension"] for a in answer] == ["0003*260", "0003*260"]
    assert [a["Channel"] for a in pbx.sent] == ["PJSIP/5559876@trunk", "PJSIP/024"]
    for sent, placed in zip(pbx.sent, answer, strict=True):
        assert sent["Context"] == "uapi-conference"
        assert sent["ChannelId"] == placed["id"]
        assert sent["Timeout"] == "15000"
        assert sent["CallerID"] == "Team <260>"
        assert variables(sent)["UAPI_ROOM"] == "uapi-0003-260-7"
        assert variables(sent)["UAPI_PIN"] == "2233"
    resp = await api.client.get("/uapi/phoneCalls/@me/260", headers=api.auth())
    listed = await resp.json()
    assert {c["id"] for c in listed["entry"]} == {a["id"] for a in answer}


async def test_default_room_and_no_pin(conf: tuple[Api, FakePbx]) -> None:
    """No number: the conference's default room; no pin: an empty UAPI_PIN."""
    api, pbx = conf
    status, _ = await post(api, body("210"))
    assert status == 202
    assert variables(pbx.sent[0])["UAPI_ROOM"] == "uapi-0003-260"
    assert variables(pbx.sent[0])["UAPI_PIN"] == ""


async def test_organization_app_invites_for_a_user(conf: tuple[Api, FakePbx]) -> None:
    """The helpdesk app uses Jane's 261 as user 13."""
    api, pbx = conf
    status, answer = await post(
        api, body(extension="261"), HELPDESK, url="/uapi/phoneCalls/13/conferenceInvite"
    )
    assert status == 202
    assert answer[0]["extension"] == "0003*261"
    assert len(pbx.sent) == 1


@pytest.mark.parametrize(
    ("data", "params", "code"),
    [
        (body(extension=None), {}, "extension_invalid"),
        (body(extension="@self"), {}, "extension_invalid"),
        (body(extension="210"), {}, "extension_invalid"),
        (body(extension="250"), {}, "extension_invalid"),  # a callback extension
        (body(extension="261"), {}, "extension_invalid"),  # Jane's
        (body(extension="0004*360"), {}, "extension_invalid"),
        ("260", {}, "extension_invalid"),
        (body(source=["210"]), {}, "pc_source_invalid"),
        (body(source=["0003*261"]), {}, "pc_source_invalid"),
        (body(source=[]), {}, "pc_source_invalid"),
        ({"extension": "260"}, {}, "pc_destination_invalid"),
        (body(None), {}, "pc_destination_invalid"),
        (body("0004*300"), {}, "pc_destination_invalid"),  # another organization: unknown
        (body("260"), {}, "pc_destination_invalid"),  # the conference itself
        (body("555\n1"), {}, "pc_destination_invalid"),
        (body(callerId="x\r\nAction: Logoff"), {}, "pc_callerid_invalid"),
        (body(), {"waitForPickup": "0"}, "pc_timeout_invalid"),
        (body(), {"waitForPickup": "99999"}, "pc_timeout_invalid"),
        (body(), {"number": ""}, "pc_number_invalid"),
        (body(), {"number": "1234567890"}, "pc_number_invalid"),
        (body(), {"number": "\u0663"}, "pc_number_invalid"),  # Arabic-Indic 3
        (body(), {"number": "1,Hangup"}, "pc_number_invalid"),
        (body(), {"pin": "12a"}, "pc_pin_invalid"),
        (body(), {"pin": "1" * 17}, "pc_pin_invalid"),
        (body(), {"pin": "1)\nn"}, "pc_pin_invalid"),
    ],
)
async def test_each_failure_has_its_code_and_sends_nothing(
    conf: tuple[Api, FakePbx], data: Any, params: dict[str, str], code: str
) -> None:
    """400 with the decided code; nothing reached Asterisk."""
    api, pbx = conf
    status, answer = await post(api, data, **params)
    assert status == 400, answer
    assert answer["error"]["code"] == code
    assert pbx.sent == []


async def test_pbx_down_is_503_and_sends_nothing(conf: tuple[Api, FakePbx]) -> None:
    """Not connected: 503 pbx_unavailable."""
    api, pbx = conf
    pbx.connected = False
    status, answer = await post(api, body())
    assert status == 503
    assert answer["error"]["code"] == "pbx_unavailable"
    assert pbx.sent == []
