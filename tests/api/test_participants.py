"""GET|PUT /uapi/extensions/{userId}/{conference}/conference/participants (issue 26): the list
comes from ConfBridge events (no AMI request per GET); every refusal sends nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bridge import config as config_mod
from bridge.domain.callids import phone_call_id
from bridge.domain.conferences import ConferenceRooms
from tests.api.conftest import FakePbx
from tests.conftest import HELPDESK, Api

URL = "/uapi/extensions/@me/260/conference/participants"
ROOM = "uapi-0003-260-7"
T0 = 1.8e9


def joined(uid: str, channel: str, number: str, room: str = ROOM, **extra: str) -> dict[str, str]:
    return {
        "Event": "ConfbridgeJoin",
        "Conference": room,
        "Uniqueid": uid,
        "Channel": channel,
        "Linkedid": f"{uid}-call",
        "CallerIDNum": number,
        "CallerIDName": f"Phone {number}",
        "Muted": "no",
        **extra,
    }


class ConfPbx(FakePbx):
    """Answers ConfBridge actions with the events Asterisk sends, into the first node's rooms."""

    def __init__(self, api: Api) -> None:
        super().__init__()
        self.api = api

    async def send(
        self,
        action: Any,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> Any:
        answer = await super().send(action, timeout)
        rooms: ConferenceRooms = self.api.services.nodes.first.rooms
        member = next(
            m for r in rooms.rooms.values() for m in r.values() if m.channel == action["Channel"]
        )
        kind = {"ConfbridgeKick": "ConfbridgeLeave"}.get(action["Action"], action["Action"])
        rooms.apply({"Event": kind, "Conference": action["Conference"], "Uniqueid": member.id}, T0)
        self.api.services.watch.wake()
        return answer


@pytest.fixture
async def conf(make_api: Callable[..., Any], raw_config: dict[str, Any]) -> tuple[Api, ConfPbx]:
    """The demo config (conference 260 is user 12's, @me of the CRM app) plus Jane's 261;
    two phones in room 7 of 260 and one in 261's room."""
    raw_config["extensions"] += [{"number": "0003*261", "user": "13", "type": "conference"}]
    api: Api = await make_api(config_mod.parse(raw_config, env={}))
    pbx = ConfPbx(api)
    api.plug(pbx)
    rooms = api.services.nodes.first.rooms
    rooms.apply(joined("1.1", "PJSIP/024-00000001", "024"), T0)
    rooms.apply(joined("1.2", "PJSIP/trunk-00000002", "5551234", Muted="yes"), T0 + 1)
    rooms.apply(joined("1.3", "PJSIP/025-00000003", "025", room="uapi-0003-261"), T0 + 2)
    return api, pbx


async def call(
    api: Api, method: str, url: str, body: Any = None, token: str | None = None
) -> tuple[int, Any]:
    resp = await api.client.request(
        method, url, json=body, headers=api.auth(token) if token else api.auth()
    )
    raw = await resp.read()
    return resp.status, (await resp.json()) if raw else None


async def test_lists_the_room_from_events(conf: tuple[Api, ConfPbx]) -> None:
    """Room 7 of 260: both parties, oldest first, extension numbers for phones; no AMI."""
    api, pbx = conf
    status, body = await call(api, "GET", f"{URL}?number=7")
    assert status == 200, body
    assert [(p["id"], p["number"], p["muted"]) for p in body] == [
        ("1.1", "0003*024", False),
        ("1.2", "5551234", True),
    ]
    assert body[0]["callerId"] == "Phone 024 <024>"
    assert body[0]["phoneCallId"] == phone_call_id("1.1-call")  # as List names that call
    assert body[0]["joined"] == "2027-01-15T08:00:00Z"
    assert "talking" not in body[0]
    assert pbx.sent == []


async def test_events_keep_it_current(conf: tuple[Api, ConfPbx]) -> None:
    """Talking and Leave events show in the next GET; an empty room is 204."""
    api, _ = conf
    rooms = api.services.nodes.first.rooms
    rooms.apply(
        {
            "Event": "ConfbridgeTalking",
            "Conference": ROOM,
            "Uniqueid": "1.1",
            "TalkingStatus": "on",
        },
        T0,
    )
    _, body = await call(api, "GET", f"{URL}?number=7")
    assert body[0]["talking"] is True
    for uid in ("1.1", "1.2"):
        rooms.apply({"Event": "ConfbridgeLeave", "Conference": ROOM, "Uniqueid": uid}, T0)
    assert (await call(api, "GET", f"{URL}?number=7"))[0] == 204
    assert (await call(api, "GET", URL))[0] == 204  # the default room is another room


@pytest.mark.parametrize(("action", "muted"), [("Mute", True), ("Unmute", False)])
async def test_mute_and_unmute(conf: tuple[Api, ConfPbx], action: str, muted: bool) -> None:
    """ConfbridgeMute/Unmute of the participant's channel; 200 with it as the event left it."""
    api, pbx = conf
    status, body = await call(api, "PUT", f"{URL}/1.1?number=7", {"action": action})
    assert status == 200, body
    assert pbx.sent == [
        {"Action": f"Confbridge{action}", "Conference": ROOM, "Channel": "PJSIP/024-00000001"}
    ]
    assert body["muted"] is muted


async def test_kick_is_204_and_it_leaves(conf: tuple[Api, ConfPbx]) -> None:
    """ConfbridgeKick; 204; the list no longer shows it."""
    api, pbx = conf
    status, _ = await call(api, "PUT", f"{URL}/1.2?number=7", {"action": "Kick"})
    assert status == 204
    assert pbx.sent[0]["Action"] == "ConfbridgeKick"
    _, body = await call(api, "GET", f"{URL}?number=7")
    assert [p["id"] for p in body] == ["1.1"]


@pytest.mark.parametrize(
    ("url", "body", "code"),
    [
        (f"{URL}/9.9?number=7", {"action": "Mute"}, "participant_invalid"),
        (f"{URL}/1.3?number=7", {"action": "Mute"}, "participant_invalid"),  # 261's room
        (f"{URL}/1.1", {"action": "Mute"}, "participant_invalid"),  # not in the default room
        (f"{URL}/1.1?number=7", {"action": "Dance"}, "pc_action_invalid"),
        (f"{URL}/1.1?number=7", {"action": "Mute\r\nAction: Hangup"}, "pc_action_invalid"),
        (f"{URL}/1.1?number=7", ["Mute"], "pc_action_invalid"),
        (f"{URL}/1.1?number=7x", {"action": "Mute"}, "pc_number_invalid"),
        (f"{URL}/1.1?number=1234567890", {"action": "Mute"}, "pc_number_invalid"),
        (
            "/uapi/extensions/@me/210/conference/participants/1.1",
            {"action": "Mute"},
            "extension_invalid",
        ),  # a phone, not a conference
        (
            "/uapi/extensions/@me/261/conference/participants/1.3",
            {"action": "Mute"},
            "extension_invalid",
        ),  # Jane's conference: not the CRM app's user's
        (
            "/uapi/extensions/@me/@self/conference/participants/1.1",
            {"action": "Mute"},
            "extension_invalid",
        ),
    ],
)
async def test_refusals_send_nothing(
    conf: tuple[Api, ConfPbx], url: str, body: Any, code: str
) -> None:
    """Each refusal is 400 with its code, and nothing reaches Asterisk."""
    api, pbx = conf
    status, answer = await call(api, "PUT", url, body)
    assert (status, answer["error"]["code"]) == (400, code), answer
    assert pbx.sent == []


async def test_an_app_acting_for_the_owner_sees_the_room(conf: tuple[Api, ConfPbx]) -> None:
    """The helpdesk app may act for Jane (13): 261's room with @owner; 260's GET from the CRM
    app for Jane's room is extension_invalid."""
    api, _ = conf
    status, body = await call(
        api, "GET", "/uapi/extensions/@owner/261/conference/participants", token=HELPDESK
    )
    assert status == 200, body
    assert [p["id"] for p in body] == ["1.3"]
    status, body = await call(api, "GET", "/uapi/extensions/@me/261/conference/participants")
    assert (status, body["error"]["code"]) == (400, "extension_invalid")


async def test_pbx_down_is_503(conf: tuple[Api, ConfPbx]) -> None:
    """Without the AMI link no action is tried."""
    api, pbx = conf
    pbx.connected = False
    status, body = await call(api, "PUT", f"{URL}/1.1?number=7", {"action": "Mute"})
    assert (status, body["error"]["code"]) == (503, "pbx_unavailable")
    assert pbx.sent == []
