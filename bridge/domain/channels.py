"""Channel names, numbers and ids as Asterisk writes them in AMI fields (pure)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping

from bridge.domain.callids import phone_call_id

_CHANNEL_SUFFIX = re.compile(r"-[0-9a-f]+(;[12])?$")
_NUMBER = re.compile(r"\+?[0-9*#]{1,32}")


def dial_target(channel_name: str) -> str:
    """`PJSIP/210-0000001d` -> `PJSIP/210`: the endpoint a channel belongs to."""
    return _CHANNEL_SUFFIX.sub("", channel_name)


def group_by_call(
    channels: Iterable[Mapping[str, str]], node: str = ""
) -> dict[str, list[Mapping[str, str]]]:
    """Live channels (CoreShowChannel fields) grouped by PhoneCall id (`node`: whose ids)."""
    calls: dict[str, list[Mapping[str, str]]] = {}
    for chan in channels:
        linkedid = chan.get("Linkedid") or chan.get("Uniqueid") or ""
        if linkedid:
            calls.setdefault(phone_call_id(linkedid, node), []).append(chan)
    return calls


def is_number(value: str) -> bool:
    return bool(_NUMBER.fullmatch(value))


def caller_id(name: str, number: str) -> str | None:
    """`John Doe <3334444>` (UAPI-Caller-Id), or None when Asterisk has no real number."""
    if not is_number(number):
        return None
    name = name.strip()
    return f"{name} <{number}>" if name and name != "<unknown>" else number


def dialled_number(dial_string: str) -> str | None:
    """`5551234@trunk` or `PJSIP/5551234@trunk` -> `5551234`."""
    number = dial_string.split("@", 1)[0].rsplit("/", 1)[-1]
    return number if is_number(number) else None


def short_number(key: str) -> str:
    """`0003*410` -> `410` (what a trunk dials); anything else as it is."""
    return key.partition("*")[2] if is_extension_key(key) else key


def is_extension_key(key: str) -> bool:
    """Extended extension numbers are `PREFIX*SHORT`; anything else is a public number."""
    prefix, star, short = key.partition("*")
    return bool(star) and prefix.isdigit() and short.isdigit()


def via_trunk(name: str, number: str) -> str:
    """`PJSIP/node2-0000001d` dialled as `410` -> `PJSIP/410@node2`: the dial string of a leg
    that rings a number through a trunk endpoint."""
    tech, _, endpoint = dial_target(name).partition("/")
    return f"{tech}/{number}@{endpoint}"


def is_local(name: str) -> bool:
    return name.startswith("Local/")


def is_source_dialer(name: str) -> bool:
    """The `;2` half of the make-call Local channel dials the sources (extensions_uapi.conf)."""
    return name.startswith("Local/") and "@uapi-source-" in name and name.endswith(";2")


def _dials(live: Iterable[Mapping[str, str]]) -> Iterator[tuple[Mapping[str, str], str, str, str]]:
    """(entry, tech, number, endpoint) for each target of each Dial() among the CoreShowChannel
    entries `live` (`PJSIP/210` -> number `210`, no endpoint; `PJSIP/5551234@trunk` -> both)."""
    for entry in live:
        if entry.get("Application") != "Dial":
            continue
        for item in entry.get("ApplicationData", "").split(",", 1)[0].split("&"):
            tech, _, rest = item.partition("/")
            number, _, endpoint = rest.partition("@")
            yield entry, tech, number, endpoint


def dialled_in(
    name: str, call_id: str, live: Iterable[Mapping[str, str]], node: str = ""
) -> str | None:
    """The public number a leg (channel `name`) was dialled with, from its dialler's Dial()
    arguments among the CoreShowChannel entries `live`."""
    target = dial_target(name).lower()
    for entry, tech, number, endpoint in _dials(live):
        if phone_call_id(entry.get("Linkedid", ""), node) != call_id:
            continue
        if f"{tech}/{endpoint}".lower() == target and is_number(number):
            return number
    return None


def dialler_in(name: str, live: Iterable[Mapping[str, str]]) -> str | None:
    """The name of the channel whose Dial() dialled leg `name` (its endpoint, `PJSIP/210` or
    `PJSIP/...@trunk`, among its arguments), from the CoreShowChannel entries `live` of the
    leg's call."""
    target = dial_target(name).lower()
    for entry, tech, number, endpoint in _dials(live):
        if target in (f"{tech}/{number}".lower(), f"{tech}/{endpoint}".lower()):
            return entry.get("Channel")
    return None


def to_int(raw: str | None) -> int:
    try:
        return int(raw or 0)
    except ValueError:
        return 0


def duration(raw: str) -> int:
    """CoreShowChannel `Duration` (`HH:MM:SS`) in seconds."""
    total = 0
    for part in raw.split(":"):
        if not part.isdigit():
            return 0
        total = total * 60 + int(part)
    return total
