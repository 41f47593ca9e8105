"""PhoneCall identity and which channels belong to which extension (pure: no I/O)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping

_API_ID = re.compile(r"[0-9a-f]{20}")
_CHANNEL_SUFFIX = re.compile(r"-[0-9a-f]+(;[12])?$")


def phone_call_id(linkedid: str) -> str:
    """The PhoneCall id of the Asterisk call whose legs share `linkedid`.

    Calls placed through the API carry their id as Linkedid (the Originate's ChannelId). Other
    calls get a stable 20-hex digest of the Linkedid, so their id survives a bridge restart.
    """
    if _API_ID.fullmatch(linkedid):
        return linkedid
    return hashlib.sha256(linkedid.encode()).hexdigest()[:20]


def dial_target(channel_name: str) -> str:
    """`PJSIP/210-0000001d` -> `PJSIP/210`: the endpoint a channel belongs to."""
    return _CHANNEL_SUFFIX.sub("", channel_name)


def group_by_call(channels: Iterable[Mapping[str, str]]) -> dict[str, list[Mapping[str, str]]]:
    """Live channels (CoreShowChannel fields) grouped by PhoneCall id."""
    calls: dict[str, list[Mapping[str, str]]] = {}
    for chan in channels:
        linkedid = chan.get("Linkedid") or chan.get("Uniqueid") or ""
        if linkedid:
            calls.setdefault(phone_call_id(linkedid), []).append(chan)
    return calls
