"""UAPI requests -> AMI actions (pure: builds the action fields, sends nothing).

Make-call's Originate and every call-control action. The contexts named here are in
config/asterisk/extensions_uapi.conf. Every value was validated by the API; the AMI adapter still
refuses CR/LF in any of them.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass

from bridge.ami.message import ActionFields


@dataclass(frozen=True)
class CallPlan:
    """A validated make-call request, in Asterisk's terms (dial targets, seconds)."""

    call_id: str
    sources: tuple[str, ...]  # dial targets that ring at once, e.g. PJSIP/210
    destinations: tuple[str, ...]
    source_caller_id: str  # shown to the sources
    destination_caller_id: str  # shown to the destination
    wait: int  # waitForPickup, per ringing stage
    duration: int | None  # callDuration: hang up this long after the destination answers
    headers: tuple[tuple[str, str], ...] = ()  # sipHeaders: added to every leg dialled


def header_variables(headers: Iterable[tuple[str, str]]) -> list[str]:
    """Channel variables for uapi-sip-headers: the count, each name, each value in base64 (a
    value may hold `,` `=` `;` `"` or `$`, which AMI's Variable and the dialplan would read
    as syntax). `__` makes every leg dialled from the channel inherit them."""
    out = []
    for i, (name, value) in enumerate(headers, 1):
        encoded = base64.b64encode(value.encode("ascii")).decode("ascii")
        out += [f"__UAPI_HDR_NAME_{i}={name}", f"__UAPI_HDR_VALUE_{i}={encoded}"]
    return [f"__UAPI_HDRS={len(out) // 2}", *out] if out else []


def originate(plan: CallPlan) -> ActionFields:
    """The Originate for extensions_uapi.conf's uapi-source / uapi-destination contexts.

    ChannelId makes the PhoneCall id the Local channel's Uniqueid, so every leg of the call
    carries it as Linkedid and the call can be found again after a reconnect.
    """
    options = f"S({plan.duration})" if plan.duration else ""
    return {
        "Action": "Originate",
        "Channel": "Local/s@uapi-source/n",
        "Context": "uapi-destination",
        "Exten": "s",
        "Priority": "1",
        "Async": "true",
        "ChannelId": plan.call_id,
        "OtherChannelId": f"{plan.call_id}-2",
        "Timeout": str((plan.wait + 2) * 1000),
        "CallerID": plan.destination_caller_id,
        "Variable": [
            f"UAPI_CALL_ID={plan.call_id}",
            f"UAPI_SOURCES={'&'.join(plan.sources)}",
            f"UAPI_SOURCE_CID={plan.source_caller_id}",
            f"UAPI_DESTINATION={'&'.join(plan.destinations)}",
            f"UAPI_DEST_CID={plan.destination_caller_id}",
            f"UAPI_WAIT={plan.wait}",
            f"UAPI_DIAL_OPTS={options}",
            *header_variables(plan.headers),
        ],
    }


DIAL_WITH_HEADERS = "uapi-sip-dial"  # extensions_uapi.conf: Dial with uapi-sip-headers


def park(channel: str, parker: str, seconds: int, lot: str) -> ActionFields:
    """Parks `channel`; when `seconds` run out Asterisk rings the parker's device again
    (res_parking comebacktoorigin, from `parker`'s dial string)."""
    return {
        "Action": "Park",
        "Channel": channel,
        "TimeoutChannel": parker,
        "Timeout": str(seconds * 1000),
        "Parkinglot": lot,
    }


def call_into(
    context: str,
    *,
    uniqueid: str,
    endpoint: str,
    caller_id: str,
    wait: int,
    variables: dict[str, str],
    headers: tuple[tuple[str, str], ...] = (),
) -> ActionFields:
    """Rings `endpoint` for `wait` seconds; once it answers it runs `context` (UnPark, PickUp,
    BargeIn, Whisper, Monitor, conference invites). ChannelId lets the call tracker place the
    new leg at once.

    With `headers` (sipHeaders) the endpoint is dialled by a Local channel in uapi-sip-dial,
    whose Dial adds them (b() runs uapi-sip-headers): an async Originate ignores PreDialGoSub
    on Asterisk 22, and the headers must never be written into the action as headers. The
    Local pair optimizes itself away once the leg answers."""
    variables = dict(variables)
    if headers:
        variables |= {"UAPI_DIAL_TARGET": endpoint, "UAPI_WAIT": str(wait)}
        endpoint = f"Local/s@{DIAL_WITH_HEADERS}"
    return {
        "Action": "Originate",
        "Channel": endpoint,
        "Context": context,
        "Exten": "s",
        "Priority": "1",
        "Async": "true",
        "ChannelId": uniqueid,
        "Timeout": str(wait * 1000),
        "CallerID": caller_id,
        "Variable": [f"{k}={v}" for k, v in variables.items()] + header_variables(headers),
    }


def setvar(channel: str, name: str, value: str) -> ActionFields:
    return {"Action": "Setvar", "Channel": channel, "Variable": name, "Value": value}


def redirect(
    channel: str,
    context: str,
    *,
    extra: tuple[str, str] | None = None,
) -> ActionFields:
    """Moves `channel` (and `extra` = (channel, context), in the same step) into a context."""
    action: dict[str, str] = {
        "Action": "Redirect",
        "Channel": channel,
        "Context": context,
        "Exten": "s",
        "Priority": "1",
    }
    if extra is not None:
        action.update(
            ExtraChannel=extra[0], ExtraContext=extra[1], ExtraExten="s", ExtraPriority="1"
        )
    return action


def bridge(first: str, second: str) -> ActionFields:
    return {"Action": "Bridge", "Channel1": first, "Channel2": second, "Tone": "no"}


def start_recording(channel: str, file: str) -> ActionFields:
    """MixMonitor: both directions of `channel` into `file` (relative: under Asterisk's
    monitor directory; the bridge's names reach ARI's recording directory beside it)."""
    return {"Action": "MixMonitor", "Channel": channel, "File": file}


def stop_recording(channel: str) -> ActionFields:
    return {"Action": "StopMixMonitor", "Channel": channel}


# The API's mute directions (seen from the party) -> MuteAudio's (seen from Asterisk): "out"
# (nobody hears the party) stops the audio coming *in* from its phone, and the reverse.
MUTE_DIRECTIONS = {"out": "in", "in": "out", "both": "all"}


def play_dtmf(channel: str, digit: str, duration_ms: int) -> ActionFields:
    """One digit as if `channel`'s phone pressed it: `Receive: yes` queues it on the channel,
    so it crosses the channel's bridge to the peer (without it, it goes to the phone)."""
    return {
        "Action": "PlayDTMF",
        "Channel": channel,
        "Digit": digit,
        "Duration": str(duration_ms),
        "Receive": "yes",
    }


def mute_audio(channel: str, direction: str, *, on: bool) -> ActionFields:
    """Mutes or unmutes `channel` in the API's `direction` (in, out or both)."""
    return {
        "Action": "MuteAudio",
        "Channel": channel,
        "Direction": MUTE_DIRECTIONS[direction],
        "State": "on" if on else "off",
    }


def confbridge(action: str, room: str, channel: str) -> ActionFields:
    """ConfbridgeMute, ConfbridgeUnmute or ConfbridgeKick of one channel of a room."""
    return {"Action": f"Confbridge{action}", "Conference": room, "Channel": channel}
