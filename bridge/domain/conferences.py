"""Who is in which ConfBridge room: participants kept from AMI events (pure, no I/O).

Kept from `ConfbridgeJoin`, `ConfbridgeLeave`, `ConfbridgeMute`/`ConfbridgeUnmute` and
`ConfbridgeTalking` events, and rebuilt at every (re)login from `ConfbridgeList` entries (one
`ConfbridgeListRooms`, then one `ConfbridgeList` per room), so a GET never asks Asterisk. A
participant is named by its channel's Uniqueid; `talking` is known only where the room's
user profile has talk detection on (None otherwise).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

Event = Mapping[str, str]
_YES = ("yes", "true", "1", "on")


def room_name(prefix: str, short: str, number: str | None) -> str:
    """ConfBridge's room of a Conference extension and `number` (no `*` in the name)."""
    base = f"uapi-{prefix}-{short}"
    return f"{base}-{number}" if number is not None else base


@dataclass
class Participant:
    id: str  # the channel's Uniqueid
    channel: str
    linkedid: str
    number: str  # CallerIDNum
    name: str  # CallerIDName
    joined: float
    muted: bool = False
    talking: bool | None = None


@dataclass
class ConferenceRooms:
    """room -> participant id -> Participant."""

    rooms: dict[str, dict[str, Participant]] = field(default_factory=dict)

    def apply(self, event: Event, now: float) -> bool:
        """Folds one event in; True when it was a ConfBridge participant event."""
        kind = event.get("Event", "").lower()
        room, uid = event.get("Conference", ""), event.get("Uniqueid", "")
        if not kind.startswith("confbridge") or not room or not uid:
            return False
        if kind == "confbridgejoin":
            self.rooms.setdefault(room, {})[uid] = _participant(event, now)
            return True
        member = self.rooms.get(room, {}).get(uid)
        if kind == "confbridgeleave":
            self.rooms.get(room, {}).pop(uid, None)
            if not self.rooms.get(room, True):
                del self.rooms[room]
        elif member is not None and kind in ("confbridgemute", "confbridgeunmute"):
            member.muted = kind == "confbridgemute"
        elif member is not None and kind == "confbridgetalking":
            member.talking = event.get("TalkingStatus", "").lower() == "on"
        return member is not None or kind == "confbridgeleave"

    def rebuild(self, entries: Iterable[Event], now: float) -> None:
        """What the ConfbridgeList entries of every room say (participants keep when they
        joined, if the bridge saw it)."""
        fresh: dict[str, dict[str, Participant]] = {}
        for entry in entries:
            room, uid = entry.get("Conference", ""), entry.get("Uniqueid", "")
            if not room or not uid:
                continue
            known = self.rooms.get(room, {}).get(uid)
            since = known.joined if known else now - _seconds(entry.get("AnsweredTime", ""))
            member = _participant(entry, since)
            if entry.get("Talking"):
                member.talking = entry.get("Talking", "").lower() in _YES
            fresh.setdefault(room, {})[uid] = member
        self.rooms = fresh

    def participants(self, room: str) -> list[Participant]:
        return sorted(self.rooms.get(room, {}).values(), key=lambda p: (p.joined, p.id))

    def find(self, room: str, participant_id: str) -> Participant | None:
        return self.rooms.get(room, {}).get(participant_id)


def _participant(event: Event, joined: float) -> Participant:
    return Participant(
        id=event.get("Uniqueid", ""),
        channel=event.get("Channel", ""),
        linkedid=event.get("Linkedid", "") or event.get("Uniqueid", ""),
        number=event.get("CallerIDNum", ""),
        name=event.get("CallerIDName", ""),
        joined=joined,
        muted=event.get("Muted", "").lower() in _YES,
    )


def _seconds(raw: str) -> int:
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 10 else 0
