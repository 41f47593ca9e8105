"""POST /uapi/phoneCalls/{userId}/callback: the Originate it sends, and one test per code
(a refused request sends nothing to Asterisk)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bridge import config as config_mod
from bridge.domain.model import Effect
from bridge.domain.phonecallevents import DIAL_OUT, HANGUP, charged
from tests.api.conftest import FakePbx
from tests.conftest import ADMIN, HELPDESK, Api

URL = "/uapi/phoneCalls/@me/callback"


@pytest.fixture
async def cb(make_api: Callable[..., Any], raw_config: dict[str, Any]) -> tuple[Api, FakePbx]:
    """The demo config plus Jane's callback 251 and another organization's 350."""
    raw_config["extensions"] += [
        {"number": "0003*251", "user": "13", "type": "callback"},
        {"number": "0004*350", "user": "30", "type": "callback"},
    ]
    api: Api = await make_api(config_mod.parse(raw_config, env={}))
    pbx = FakePbx()
    api.plug(pbx)
    return api, pbx


def body(source: Any = "5551234", destination: Any = "5559876", **extra: Any) -> dict[str, Any]:
    view: dict[str, Any] = {"source": source, "destination": destination}
    view.update({k: v for k, v in extra.items() if k.startswith("caller")})
    out: dict[str, Any] = {"extension": "250", "phoneCallView": [view]}
    out.update({k: v for k, v in extra.items() if not k.startswith("caller")})
    return out


async def post(
    api: Api, data: Any, token: str | None = None, url: str = URL, **params: str
) -> tuple[int, Any]:
    resp = await api.client.post(
        url, json=data, headers=api.auth(token) if token else api.auth(), params=params
    )
    return resp.status, await resp.json()


async def test_callback_calls_the_source_then_the_destination(cb: tuple[Api, FakePbx]) -> None:
    """202 with the call on the callback extension; the Originate rings the source through
    the trunk first, then the destination; List shows it on 250."""
    api, pbx = cb
    status, answer = await post(
        api, body(callerId="Sales <4242425>"), waitForPickup="30", callDuration="60"
    )
    assert status == 202
    assert answer[0]["extension"] == "0003*250"
    [sent] = pbx.sent
    variables = dict(v.split("=", 1) for v in sent["Variable"])
    assert sent["Action"] == "Originate"
    assert sent["ChannelId"] == answer[0]["id"]
    assert variables["UAPI_SOURCES"] == "PJSIP/5551234@trunk"
    assert variables["UAPI_DESTINATION"] == "PJSIP/5559876@trunk"
    assert variables["UAPI_SOURCE_CID"] == "Sales <4242425>"
    assert variables["UAPI_WAIT"] == "30"
    assert variables["UAPI_DIAL_OPTS"] == "S(60)"
    resp = await api.client.get("/uapi/phoneCalls/@me/250", headers=api.auth())
    listed = await resp.json()
    assert listed["entry"][0]["id"] == answer[0]["id"]
    assert [v["extension"] for v in listed["entry"][0]["phoneCallView"]] == ["5551234", "5559876"]


async def test_same_nonce_returns_the_live_call(cb: tuple[Api, FakePbx]) -> None:
    """nonce as for simple calls: the live call comes back, one Originate."""
    api, pbx = cb
    _, first = await post(api, body(nonce="cb-1"))
    _, again = await post(api, body(nonce="cb-1"))
    assert first[0]["id"] == again[0]["id"]
    assert len(pbx.sent) == 1


async def test_organization_app_names_the_owner(cb: tuple[Api, FakePbx]) -> None:
    """The helpdesk app places Jane's callback as user 13."""
    api, pbx = cb
    status, answer = await post(
        api, body(extension="251"), HELPDESK, url="/uapi/phoneCalls/13/callback"
    )
    assert status == 202
    assert answer[0]["extension"] == "0003*251"
    assert len(pbx.sent) == 1


@pytest.mark.parametrize(
    ("data", "params", "code"),
    [
        (body(extension=None), {}, "extension_invalid"),
        (
            {"phoneCallView": [{"source": "5551234", "destination": "5559876"}]},
            {},
            "extension_invalid",
        ),
        (body(extension="@self"), {}, "extension_invalid"),
        (body(extension="210"), {}, "extension_invalid"),  # a phone terminal
        (body(extension="260"), {}, "extension_invalid"),  # a conference
        (body(extension="251"), {}, "extension_invalid"),  # Jane's, not user 12's
        (body(extension="0004*350"), {}, "extension_invalid"),  # another organization's
        (body(extension=["250"]), {}, "extension_invalid"),
        ([], {}, "extension_invalid"),
        ({"extension": "250"}, {}, "pc_source_invalid"),
        (body(source=None), {}, "pc_source_invalid"),
        (body(source="210"), {}, "pc_source_invalid"),  # an extension, not a public number
        (body(source="0004*300"), {}, "pc_source_invalid"),
        (body(source="555\r\n1234"), {}, "pc_source_invalid"),
        (body(source="\u0665\u0665\u0665"), {}, "pc_source_invalid"),  # Arabic-Indic digits
        (body(destination=[]), {}, "pc_destination_invalid"),
        (body(destination="024"), {}, "pc_destination_invalid"),
        (body(destination="0003*250"), {}, "pc_destination_invalid"),
        (body(callerId="Evil\r\nAction: Originate <1>"), {}, "pc_callerid_invalid"),
        (body(callerId=12), {}, "pc_callerid_invalid"),
        (body(), {"waitForPickup": "0"}, "pc_timeout_invalid"),
        (body(), {"waitForPickup": "٢"}, "pc_timeout_invalid"),
        (body(), {"callDuration": "abc"}, "pc_duration_invalid"),
        (body(nonce="a b"), {}, "pc_nonce_invalid"),
        (body(nonce=5), {}, "pc_nonce_invalid"),
    ],
)
async def test_each_failure_has_its_code_and_sends_nothing(
    cb: tuple[Api, FakePbx], data: Any, params: dict[str, str], code: str
) -> None:
    """400 with the decided code; nothing reached Asterisk."""
    api, pbx = cb
    status, answer = await post(api, data, **params)
    assert status == 400, answer
    assert answer["error"]["code"] == code
    assert pbx.sent == []


@pytest.mark.parametrize(
    ("url", "token"),
    [
        ("/uapi/phoneCalls/13/callback", None),  # a user app acts for its own user only
        ("/uapi/phoneCalls/30/callback", ADMIN),  # 250 is not user 30's
    ],
)
async def test_users_the_app_may_not_use_are_refused(
    cb: tuple[Api, FakePbx], url: str, token: str | None
) -> None:
    """400 (user_invalid or extension_invalid), nothing sent."""
    api, pbx = cb
    status, answer = await post(api, body(), token, url=url)
    assert status == 400
    assert answer["error"]["code"] in ("extension_invalid", "user_invalid")
    assert pbx.sent == []


async def test_pbx_down_is_503_and_sends_nothing(cb: tuple[Api, FakePbx]) -> None:
    """Not connected: 503 pbx_unavailable."""
    api, pbx = cb
    pbx.connected = False
    status, answer = await post(api, body())
    assert status == 503
    assert answer["error"]["code"] == "pbx_unavailable"
    assert pbx.sent == []


async def test_callback_extension_gets_dial_out_and_hangup(cb: tuple[Api, FakePbx]) -> None:
    """Webhooks for the callback extension (no party of the call): DialOut when the source
    is dialled, Hangup with Duration when the call ends."""
    api, _ = cb
    _, answer = await post(api, body())
    call = api.services.nodes.first.tracker.calls[answer[0]["id"]]
    source = call.parties["5551234"]
    out = charged(Effect("joined", call.id, "5551234", "source", call=call))
    assert out is not None
    assert (out.extension, out.type, out.params["CallFlow"]) == ("0003*250", DIAL_OUT, "OUT")
    source.answered = call.answered = 10.0
    dest = call.parties["5559876"]
    dest.answered, dest.left = 10.0, 17.5
    hangup = charged(Effect("ended", call.id, call=call))
    assert hangup is not None
    assert hangup.type == HANGUP
    assert hangup.params["Duration"] == "7"
    assert hangup.params["CallStatus"] == "ANSWER"
    assert charged(Effect("joined", call.id, "5559876", "destination", call=call)) is None


async def test_phone_call_events_register_on_a_callback_extension(cb: tuple[Api, FakePbx]) -> None:
    """A Hangup webhook may be registered on the callback extension (201)."""
    api, _ = cb
    resp = await api.client.post(
        "/uapi/extensions/@me/250/phoneCallEvents",
        headers=api.auth(),
        json={"type": "2", "method": "1", "url": "http://127.0.0.1:9/h"},
    )
    assert resp.status == 201
    assert (await resp.json())["extension"] == "0003*250"
