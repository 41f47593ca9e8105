"""POST /uapi/phoneCalls/{userId}/simple: every failure code, the Originate it sends, nonces."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.api.conftest import FakePbx
from tests.conftest import ADMIN, HELPDESK, Api

URL = "/uapi/phoneCalls/@me/simple"


def call(source: Any = "210", destination: Any = "5551234", **extra: Any) -> dict[str, Any]:
    view = {
        "source": source if isinstance(source, list) else [source],
        "destination": destination if isinstance(destination, list) else [destination],
    }
    view.update({k: v for k, v in extra.items() if k.startswith("caller")})
    body: dict[str, Any] = {"phoneCallView": [view]}
    body.update({k: v for k, v in extra.items() if not k.startswith("caller")})
    return body


async def post(
    api: Api, body: Any, token: str | None = None, url: str = URL, **params: str
) -> tuple[int, Any]:
    headers = api.auth(token) if token else api.auth()
    resp = await api.client.post(url, json=body, headers=headers, params=params)
    return resp.status, await resp.json()


def variables(action: dict[str, Any]) -> dict[str, str]:
    return dict(v.split("=", 1) for v in action["Variable"])


async def test_places_call_and_answers_202(api: Api, pbx: FakePbx) -> None:
    """A valid request sends one Originate whose ChannelId is the returned id; 202 at once."""
    status, body = await post(
        api, call(["210", "0003*026"], "5551234", callerId="Big Corp <+4242425>"), callDuration="30"
    )
    assert status == 202
    [entry] = body
    assert len(entry["id"]) == 20
    assert int(entry["id"], 16) >= 0
    assert entry["extension"] == "0003*210"
    assert entry["link"]["self"].endswith(f"/uapi/phoneCalls/@me/0003*210/{entry['id']}")
    [action] = pbx.sent
    assert action["ChannelId"] == entry["id"]
    assert variables(action) == {
        "UAPI_CALL_ID": entry["id"],
        "UAPI_SOURCES": "PJSIP/210&PJSIP/026",
        "UAPI_SOURCE_CID": "Big Corp <+4242425>",
        "UAPI_DESTINATION": "PJSIP/5551234@trunk",
        "UAPI_DEST_CID": "John Doe <210>",
        "UAPI_WAIT": "25",
        "UAPI_DIAL_OPTS": "S(30)",
    }


async def test_caller_id_destination_and_alias(api: Api, pbx: FakePbx) -> None:
    """callerIdDestination (or its alias callerDestination) is what the destination sees."""
    await post(api, call(callerIdDestination="Desk <100>"))
    await post(api, call(callerDestination="Desk <200>"))
    assert [variables(a)["UAPI_DEST_CID"] for a in pbx.sent] == ["Desk <100>", "Desk <200>"]


async def test_destination_as_plain_string_and_extension(api: Api, pbx: FakePbx) -> None:
    """A destination may be a plain string; extensions dial their channel."""
    body = {"extension": "0003*210", "phoneCallView": [{"source": ["210"], "destination": "024"}]}
    status, _ = await post(api, body)
    assert status == 202
    assert variables(pbx.sent[0])["UAPI_DESTINATION"] == "PJSIP/024"


async def test_same_nonce_places_one_call(api: Api, pbx: FakePbx) -> None:
    """The same nonce from the same app returns the first call, even when racing."""
    results = await asyncio.gather(*(post(api, call(nonce="n-1")) for _ in range(5)))
    ids = {body[0]["id"] for _, body in results}
    assert len(ids) == 1
    assert len(pbx.sent) == 1
    status, body = await post(api, call(nonce="n-2"))
    assert status == 202
    assert body[0]["id"] not in ids
    assert len(pbx.sent) == 2


async def test_same_nonce_after_the_call_ended_places_a_new_call(api: Api, pbx: FakePbx) -> None:
    """The nonce returns the first call only while it is live; then it places a new one
    (4PSA's MCP server sends one nonce for all the calls of a session)."""
    _, first = await post(api, call(nonce="session"))
    status, again = await post(api, call(nonce="session"))
    assert (status, again[0]["id"], len(pbx.sent)) == (202, first[0]["id"], 1)
    api.services.nodes.first.tracker.forget(first[0]["id"])  # the call ended
    status, second = await post(api, call(nonce="session"))
    assert status == 202
    assert second[0]["id"] != first[0]["id"]
    assert [a["ChannelId"] for a in pbx.sent] == [first[0]["id"], second[0]["id"]]
    _, third = await post(api, call(nonce="session"))
    assert third[0]["id"] == second[0]["id"]
    assert len(pbx.sent) == 2


@pytest.mark.parametrize(
    ("body", "params", "code"),
    [
        (call(extension="024"), {}, "extension_invalid"),  # not the user's
        (call(extension="@self"), {}, "extension_invalid"),
        (call(source="5550000"), {}, "extension_invalid"),  # no extension, public first source
        (call(extension="0003*999"), {}, "extension_invalid"),
        (call(), {"callDuration": "abc"}, "pc_duration_invalid"),
        (call(), {"callDuration": "0"}, "pc_duration_invalid"),
        (call(source=[]), {}, "pc_source_invalid"),
        (call(source=["210", "12ab"]), {}, "pc_source_invalid"),
        (call(source=["210", "5\r\nAction: Hangup"]), {}, "pc_source_invalid"),
        ({"phoneCallView": []}, {}, "pc_source_invalid"),
        (call(destination=[]), {}, "pc_destination_invalid"),
        (call(destination="0003*999"), {}, "pc_destination_invalid"),
        (call(destination=[{"x": 1}]), {}, "pc_destination_invalid"),
        (call(), {"waitForPickup": "0"}, "pc_timeout_invalid"),
        (call(), {"waitForPickup": "soon"}, "pc_timeout_invalid"),
        (call(callerId="John Doe 3334444"), {}, "pc_callerid_invalid"),
        (call(callerId="John\r\nAction: Command <1>"), {}, "pc_callerid_invalid"),
        (call(callerId="Doe, John <1>"), {}, "pc_callerid_invalid"),
        (call(callerIdDestination="x\n<1>"), {}, "pc_callerid_invalid"),
        (call(), {"allowPublicTransfer": "maybe"}, "pc_transfer_invalid"),
        (call(nonce=""), {}, "pc_nonce_invalid"),
        (call(nonce=42), {}, "pc_nonce_invalid"),
        (call(nonce="a\nb"), {}, "pc_nonce_invalid"),
    ],
)
async def test_failure_codes(
    api: Api, pbx: FakePbx, body: Any, params: dict[str, str], code: str
) -> None:
    """Each bad input answers 400 with the page's code and sends nothing to Asterisk."""
    status, answer = await post(api, body, **params)
    assert (status, answer["error"]["code"]) == (400, code)
    assert pbx.sent == []


async def test_organization_app_must_name_the_user(api: Api, pbx: FakePbx) -> None:
    """An organization app uses a user id; @me is user_invalid; another org is refused."""
    status, answer = await post(api, call(), token=HELPDESK)
    assert answer["error"]["code"] == "user_invalid"
    status, _ = await post(
        api, call(source="024", extension="024"), token=HELPDESK, url="/uapi/phoneCalls/13/simple"
    )
    assert status == 202
    status, answer = await post(api, call(), token=HELPDESK, url="/uapi/phoneCalls/30/simple")
    assert (status, answer["error"]["code"]) == (400, "user_invalid")  # as if unknown


async def test_owner_and_admin(api: Api, pbx: FakePbx) -> None:
    """@owner acts for the extension's owner, if the app may; the admin app may for anyone."""
    status, _ = await post(
        api,
        call(source="0004*300", extension="0004*300"),
        token=ADMIN,
        url="/uapi/phoneCalls/@owner/simple",
    )
    assert status == 202
    status, answer = await post(
        api,
        call(source="0004*300", extension="0004*300"),
        token=HELPDESK,
        url="/uapi/phoneCalls/@owner/simple",
    )
    assert answer["error"]["code"] == "extension_invalid"


async def test_pbx_down_and_refusal(api: Api, pbx: FakePbx) -> None:
    """AMI down: 503 pbx_unavailable; Asterisk refusing: 502 pbx_error, nonce freed again."""
    pbx.connected = False
    status, answer = await post(api, call(nonce="z"))
    assert (status, answer["error"]["code"]) == (503, "pbx_unavailable")
    pbx.connected = True
    pbx.fail = "Originate failed"
    status, answer = await post(api, call(nonce="z"))
    assert (status, answer["error"]["code"]) == (502, "pbx_error")
    pbx.fail = None
    status, _ = await post(api, call(nonce="z"))
    assert status == 202
    assert len(pbx.sent) == 1
