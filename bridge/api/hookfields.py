"""Parsing the bridge additions of a PhoneCallEvent (issue 23): `headers`, `maxRate`,
`ordered`, and the bodies of `recover` and `secret/rotate`."""

from __future__ import annotations

import math
import re
from typing import Any

from bridge.api.fields import flag
from bridge.api.listing import parse_date
from bridge.errors import invalid

MAX_HEADERS, MAX_VALUE, MAX_NAME = 10, 1024, 256
MAX_RATE = 10_000.0  # deliveries per second: beyond that there is no point limiting
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 token
_VALUE = re.compile(r"[\x20-\x7e]*")  # printable ASCII: no CR, LF or other controls
# The bridge's own headers and those that steer the connection or the body's framing.
_REFUSED = frozenset(
    {
        "host",
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "expect",
    }
)
_REFUSED_PREFIXES = ("content-", "webhook-")


def headers(raw: Any) -> tuple[tuple[str, str], ...]:
    """`{"Name": "value"}` -> pairs; `pce_headers_invalid` for anything the bridge would not
    send as it is (the message names the header, never its value)."""
    if raw is None:
        return ()
    if not isinstance(raw, dict) or len(raw) > MAX_HEADERS:
        raise invalid(
            "pce_headers_invalid",
            f"headers must be an object of at most {MAX_HEADERS} names to values.",
        )
    seen: set[str] = set()
    for name, value in raw.items():
        low = name.lower()
        if not _TOKEN.fullmatch(name) or len(name) > MAX_NAME or low in seen:
            raise invalid("pce_headers_invalid", "Header names must be distinct HTTP tokens.")
        if low in _REFUSED or low.startswith(_REFUSED_PREFIXES):
            raise invalid(
                "pce_headers_invalid", f"The bridge sets {name} itself; it cannot be given."
            )
        if not isinstance(value, str) or len(value) > MAX_VALUE or not _VALUE.fullmatch(value):
            raise invalid(
                "pce_headers_invalid",
                f"The value of {name} must be printable ASCII "
                f"(no CR or LF), at most {MAX_VALUE} bytes.",
            )
        seen.add(low)
    return tuple((str(k), str(v)) for k, v in raw.items())


def max_rate(raw: Any) -> float:
    """Deliveries per second (0 or null: no limit)."""
    if raw is None:
        return 0.0
    if isinstance(raw, str):
        try:
            raw = float(raw.strip())
        except ValueError:
            raw = None
    if (
        isinstance(raw, bool)
        or not isinstance(raw, int | float)
        or not math.isfinite(raw)
        or not 0 <= raw <= MAX_RATE
    ):
        raise invalid(
            "pce_maxrate_invalid",
            f"maxRate must be a number of deliveries per second from 0 (no limit) to {MAX_RATE:g}.",
        )
    return float(raw)


def ordered(raw: Any) -> bool:
    return flag(raw, "pce_ordered_invalid")


def overlap(raw: Any, default: float) -> float:
    """Seconds the previous secret keeps signing (the range is the use case's rule)."""
    if raw is None:
        return default
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise invalid("pce_overlap_invalid", "overlap must be a number of seconds.")
    return float(raw)


def date(raw: Any, code: str, what: str) -> float:
    value = parse_date(raw) if isinstance(raw, str) else None
    if value is None:
        raise invalid(code, f"{what} must be a date like 2026-12-01T00:00:00Z.")
    return value.timestamp()
