"""UAPI requests -> AMI actions (pure: builds the action fields, sends nothing)."""

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
