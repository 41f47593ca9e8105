"""ConferenceRooms (issue 26): participants from ConfBridge events and ConfbridgeList, and the
feed that rebuilds them at login."""

from __future__ import annotations

from bridge.ami.message import ActionFields, AmiMessage
from bridge.domain.conferences import ConferenceRooms, room_name
from bridge.errors import AmiActionFailed
from bridge.feeds.conferences import ConferencesFeed
from tests.conftest import FakePort

T0 = 1.8e9


def test_room_names() -> None:
    """One room per Conference extension and number, no `*` in it."""
    assert room_name("0003", "260", None) == "uapi-0003-260"
    assert room_name("0003", "260", "7") == "uapi-0003-260-7"


def test_join_mute_talk_leave() -> None:
    """Join (Muted: yes), Unmute, Talking on, Leave: the room follows; an empty room goes."""
    rooms = ConferenceRooms()
    assert rooms.apply(
        {
            "Event": "ConfbridgeJoin",
            "Conference": "r",
            "Uniqueid": "1",
            "Channel": "PJSIP/024-1",
            "Muted": "yes",
        },
        T0,
    )
    [member] = rooms.participants("r")
    assert member.muted
    rooms.apply({"Event": "ConfbridgeUnmute", "Conference": "r", "Uniqueid": "1"}, T0)
    rooms.apply(
        {"Event": "ConfbridgeTalking", "Conference": "r", "Uniqueid": "1", "TalkingStatus": "on"},
        T0,
    )
    assert (member.muted, member.talking) == (False, True)
    assert not rooms.apply({"Event": "Hangup", "Uniqueid": "1"}, T0)
    rooms.apply({"Event": "ConfbridgeLeave", "Conference": "r", "Uniqueid": "1"}, T0)
    assert rooms.rooms == {}


def test_rebuild_keeps_join_times_and_drops_the_gone() -> None:
    """A ConfbridgeList snapshot replaces the rooms; a participant seen before keeps its join
    time, a new one is dated from AnsweredTime."""
    rooms = ConferenceRooms()
    rooms.apply({"Event": "ConfbridgeJoin", "Conference": "r", "Uniqueid": "1"}, T0)
    rooms.apply({"Event": "ConfbridgeJoin", "Conference": "r", "Uniqueid": "2"}, T0)
    rooms.rebuild(
        [
            {
                "Event": "ConfbridgeList",
                "Conference": "r",
                "Uniqueid": "1",
                "Muted": "Yes",
                "Talking": "No",
            },
            {"Event": "ConfbridgeList", "Conference": "s", "Uniqueid": "3", "AnsweredTime": "30"},
        ],
        T0 + 100,
    )
    assert [(m.id, m.joined, m.muted, m.talking) for m in rooms.participants("r")] == [
        ("1", T0, True, False)
    ]
    assert rooms.participants("s")[0].joined == T0 + 70


class Source(FakePort):
    """An AMI link that lists two rooms, one of which empties before it is listed."""

    async def send_list(
        self,
        action: ActionFields,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> list[AmiMessage]:
        self.sent.append(dict(action))
        if action["Action"] == "ConfbridgeListRooms":
            return [
                AmiMessage({"Event": "ConfbridgeListRooms", "Conference": c}) for c in ("a", "b")
            ]
        if action["Conference"] == "b":
            raise AmiActionFailed("ConfbridgeList", "No active conferences.")
        return [
            AmiMessage(
                {
                    "Event": "ConfbridgeList",
                    "Conference": "a",
                    "Uniqueid": "9",
                    "Channel": "PJSIP/210-9",
                }
            )
        ]


async def test_feed_rebuilds_at_login() -> None:
    """At login: ConfbridgeListRooms, then ConfbridgeList per room; a room that emptied
    meanwhile is skipped."""
    rooms = ConferenceRooms()
    feed, source = ConferencesFeed(rooms), Source()
    feed.attach(source)
    await feed.on_connect([])
    assert [m.channel for m in rooms.participants("a")] == ["PJSIP/210-9"]
    assert sorted(a.get("Conference", "") for a in source.sent) == ["", "a", "b"]
