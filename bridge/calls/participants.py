"""Conference participants (issue 26): Mute, Unmute or Kick one participant of a ConfBridge room.

The route names the room (its tenant rules) and the participant; this refuses a participant
the room does not hold before anything reaches Asterisk, sends the ConfBridge action for its
channel, and waits (briefly) until the ConfbridgeMute/Unmute/Leave event reached the rooms.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import structlog

from bridge.ami import actions
from bridge.ami.ports import AmiPort
from bridge.calls.watch import TrackerWatch
from bridge.domain.conferences import ConferenceRooms, Participant
from bridge.errors import PbxUnavailable, invalid

log = structlog.get_logger("bridge.conferences")
ACTIONS = ("Mute", "Unmute", "Kick")
SETTLE_WITHIN = 1.5


@dataclass(frozen=True)
class Context:
    pbx: AmiPort
    rooms: ConferenceRooms
    watch: TrackerWatch
    settle_within: float = SETTLE_WITHIN


def _effect(rooms: ConferenceRooms, room: str, pid: str, action: str) -> Callable[[], bool]:
    """What the action's event changes, as a condition on the rooms."""

    def done() -> bool:
        member = rooms.find(room, pid)
        if action == "Kick":
            return member is None
        return member is not None and member.muted == (action == "Mute")

    return done


async def run(ctx: Context, room: str, participant_id: str, action: str) -> Participant | None:
    """Acts on the participant; returns it as it is then (None once kicked)."""
    if not ctx.pbx.connected:
        raise PbxUnavailable("not connected")
    member = ctx.rooms.find(room, participant_id)
    if member is None:
        raise invalid("participant_invalid", "That participant is not in this conference.")
    await ctx.pbx.send(actions.confbridge(action, room, member.channel))
    await ctx.watch.until(_effect(ctx.rooms, room, participant_id, action), ctx.settle_within)
    log.info("conference.participant", room=room, participant=participant_id, action=action)
    return ctx.rooms.find(room, participant_id)
