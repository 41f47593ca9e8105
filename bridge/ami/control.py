"""Call-control actions -> AMI actions (pure: builds the fields, sends nothing).

The contexts named here are in config/asterisk/extensions_uapi.conf. Every value was validated
by the API; the AMI adapter still refuses CR/LF in any of them.
"""

from __future__ import annotations

from bridge.ami.message import ActionFields


def park(channel: str, parker: str, seconds: int, lot: str) -> ActionFields:
    """Parks `channel`; when `seconds` run out Asterisk rings the parker's device again
    (res_parking comebacktoorigin, from `parker`'s dial string)."""
    return {"Action": "Park", "Channel": channel, "TimeoutChannel": parker,
            "Timeout": str(seconds * 1000), "Parkinglot": lot}


def call_into(
    context: str, *, uniqueid: str, endpoint: str, caller_id: str, wait: int,
    variables: dict[str, str],
) -> ActionFields:
    """Rings `endpoint` for `wait` seconds; once it answers it runs `context` (UnPark, PickUp,
    BargeIn, Whisper, Monitor). ChannelId lets the call tracker place the new leg at once."""
    return {
        "Action": "Originate", "Channel": endpoint, "Context": context, "Exten": "s",
        "Priority": "1", "Async": "true", "ChannelId": uniqueid,
        "Timeout": str(wait * 1000), "CallerID": caller_id,
        "Variable": [f"{k}={v}" for k, v in variables.items()],
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
