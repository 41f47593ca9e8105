"""Call-control actions -> AMI actions (pure: builds the fields, sends nothing).

The contexts named here are in config/asterisk/extensions_uapi.conf. Every value was validated
by the API; the AMI adapter still refuses CR/LF in any of them.
"""

from __future__ import annotations

from bridge.ami.actions import header_variables
from bridge.ami.message import ActionFields

DIAL_WITH_HEADERS = "uapi-sip-dial"  # extensions_uapi.conf: Dial with uapi-sip-headers


def park(channel: str, parker: str, seconds: int, lot: str) -> ActionFields:
    """Parks `channel`; when `seconds` run out Asterisk rings the parker's device again
    (res_parking comebacktoorigin, from `parker`'s dial string)."""
    return {"Action": "Park", "Channel": channel, "TimeoutChannel": parker,
            "Timeout": str(seconds * 1000), "Parkinglot": lot}


def call_into(
    context: str, *, uniqueid: str, endpoint: str, caller_id: str, wait: int,
    variables: dict[str, str], headers: tuple[tuple[str, str], ...] = (),
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
        "Action": "Originate", "Channel": endpoint, "Context": context, "Exten": "s",
        "Priority": "1", "Async": "true", "ChannelId": uniqueid,
        "Timeout": str(wait * 1000), "CallerID": caller_id,
        "Variable": [f"{k}={v}" for k, v in variables.items()] + header_variables(headers),
    }


def setvar(channel: str, name: str, value: str) -> ActionFields:
    return {"Action": "Setvar", "Channel": channel, "Variable": name, "Value": value}


def redirect(channel: str, context: str, *, extra: tuple[str, str] | None = None,
             ) -> ActionFields:
    """Moves `channel` (and `extra` = (channel, context), in the same step) into a context."""
    action: dict[str, str] = {"Action": "Redirect", "Channel": channel, "Context": context,
                            "Exten": "s", "Priority": "1"}
    if extra is not None:
        action.update(ExtraChannel=extra[0], ExtraContext=extra[1], ExtraExten="s",
                      ExtraPriority="1")
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
    return {"Action": "PlayDTMF", "Channel": channel, "Digit": digit,
            "Duration": str(duration_ms), "Receive": "yes"}


def mute_audio(channel: str, direction: str, *, on: bool) -> ActionFields:
    """Mutes or unmutes `channel` in the API's `direction` (in, out or both)."""
    return {"Action": "MuteAudio", "Channel": channel,
            "Direction": MUTE_DIRECTIONS[direction], "State": "on" if on else "off"}


def confbridge(action: str, room: str, channel: str) -> ActionFields:
    """ConfbridgeMute, ConfbridgeUnmute or ConfbridgeKick of one channel of a room."""
    return {"Action": f"Confbridge{action}", "Conference": room, "Channel": channel}
