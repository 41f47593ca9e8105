"""Presence and queue feeds on a fake AMI source: rebuilt at login, kept from events; and the
config rule for extensions without a phone (callback, conference)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from bridge import config as config_mod
from bridge.ami.message import ActionFields
from bridge.ami.message import AmiMessage as Message
from bridge.domain.presence import Presence
from bridge.domain.queues import QueueAgents
from bridge.errors import AmiActionFailed, ConfigError
from bridge.feeds.presence import PresenceFeed
from bridge.feeds.queues import QueuesFeed
from tests.conftest import FakePort


class FakeAmi(FakePort):
    """Answers listings from a table; records the actions asked."""

    def __init__(self, lists: dict[str, list[dict[str, str]]]) -> None:
        super().__init__()
        self.lists = lists
        self.asked: list[str] = []
        self.handlers: list[Callable[[Message], None]] = []
        self.on_connect: list[Callable[[list[Message]], Awaitable[None]]] = []

    def add_event_handler(self, handler: Callable[[Message], None]) -> None:
        self.handlers.append(handler)

    def add_connect_handler(self, handler: Callable[[list[Message]], Awaitable[None]]) -> None:
        self.on_connect.append(handler)

    async def send_list(
        self,
        action: ActionFields,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> list[Message]:
        self.asked.append(str(action["Action"]))
        if action["Action"] not in self.lists:
            raise AmiActionFailed(str(action["Action"]), "No Contacts found")
        return [Message(m) for m in self.lists[action["Action"]]]

    def emit(self, event: dict[str, str]) -> None:
        for handler in self.handlers:
            handler(Message(event))


async def test_presence_is_rebuilt_at_login_and_kept_from_events() -> None:
    """Login: three listings (no contacts is fine); then a DeviceStateChange moves status."""
    ami = FakeAmi(
        {
            "DeviceStateList": [
                {"Event": "DeviceStateChange", "Device": "PJSIP/210", "State": "NOT_INUSE"}
            ],
            "PJSIPShowAors": [
                {"Event": "AorList", "ObjectName": "210", "Contacts": "210/sip:210@127.0.0.1:15061"}
            ],
        }
    )
    presence = Presence()
    PresenceFeed(presence).attach(ami)
    await ami.on_connect[0]([])
    assert ami.asked == ["DeviceStateList", "PJSIPShowAors", "PJSIPShowContacts"]
    assert presence.view("PJSIP/210", 0.0)["status"] == "1"
    ami.emit({"Event": "DeviceStateChange", "Device": "PJSIP/210", "State": "RINGING"})
    assert presence.view("PJSIP/210", 0.0)["status"] == "2"
    assert len(ami.asked) == 3  # no request per event or per view


async def test_queue_members_are_rebuilt_from_queue_status() -> None:
    """QueueStatus' QueueMember entries at login; QueueMemberPause after."""
    ami = FakeAmi(
        {
            "QueueStatus": [
                {"Event": "QueueParams", "Queue": "500"},
                {"Event": "QueueMember", "Queue": "500", "Location": "PJSIP/024", "Paused": "0"},
            ]
        }
    )
    agents = QueueAgents()
    QueuesFeed(agents).attach(ami)
    await ami.on_connect[0]([])
    assert agents.agents("500") == {"PJSIP/024": 1}
    ami.emit({"Event": "QueueMemberPause", "Queue": "500", "Interface": "PJSIP/024", "Paused": "1"})
    assert agents.status("500", "PJSIP/024") == 2


@pytest.mark.parametrize(
    ("ext", "problem"),
    [
        (
            {"number": "0003*250", "user": "12", "type": "callback", "channel": "PJSIP/250"},
            "extensions[6].channel",
        ),
        ({"number": "0003*251", "user": "12", "type": "phone_terminal"}, "extensions[6].channel"),
    ],
)
def test_only_callback_and_conference_go_without_a_channel(
    raw_config: dict[str, Any], ext: dict[str, str], problem: str
) -> None:
    """A callback with a channel, or a phone terminal without one, is a config problem."""
    raw_config["extensions"] = [*raw_config["extensions"][:6], ext]
    with pytest.raises(ConfigError) as err:
        config_mod.parse(raw_config, env={})
    assert any(p.startswith(problem) for p in err.value.problems)
