"""Field parsers every route shares: whole numbers, flags, number lists, caller ids, view ids.

Each parser takes what the client sent (a query string or a decoded JSON value) and either
returns a clean Python value or raises the field's UAPI code. Only ASCII digits count as digits
(`str.isdigit()` also accepts `²` and `٣`, which `int()` then refuses), and every digit string
is bounded in length before it is converted.

An empty value is a value, and an invalid one: `?count=` answers `count_invalid` as `?count=x`
does (docs/api.md, "Numbers and empty parameters"). Only a parameter left out (None here) takes
its default.
"""

from __future__ import annotations

import re
from typing import Any

from bridge.errors import invalid

_DIGITS = re.compile(r"[0-9]{1,12}")
# UAPI-Caller-Id as the pages use it ("John Doe <+3334444>"), limited to characters that are
# safe inside AMI Variable headers and dialplan arguments (no comma, quote, pipe or newline).
CALLER_ID = re.compile(r"[A-Za-z0-9 ._'-]{0,64}<\+?[0-9*#]{1,32}>")
# A number (the document's Number): an extension, short or extended, or a public number.
NUMBER = re.compile(r"\+?[0-9]{1,32}|[0-9]{4}\*[0-9]{1,10}")
MAX_NUMBERS = 16
MAX_ENUM_DIGITS = 9  # an enumerated field is one digit; this only bounds what is parsed
MAX_WAIT = 3600  # waitForPickup, seconds (make-call, and the control actions that ring)


def scalar_text(raw: Any) -> str | None:
    """A JSON string or integer as stripped text; None for anything else (bool, float, list)."""
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        return None
    if isinstance(raw, int) and not -(10**12) < raw < 10**12:
        return None  # str() of a huge int is slow or refused; no field takes one
    return str(raw).strip()


def ascii_int(raw: Any) -> int | None:
    """A whole number written with 1-12 ASCII digits (string or JSON integer), else None."""
    text = scalar_text(raw)
    if text is None or not _DIGITS.fullmatch(text):
        return None
    return int(text)


def whole_number(raw: Any, default: int, low: int, high: int, code: str) -> int:
    """An optional whole number in [low, high]; `default` when absent (None; "" is invalid)."""
    if raw is None:
        return default
    value = ascii_int(raw)
    if value is None or not low <= value <= high:
        raise invalid(code, f"Must be a whole number from {low} to {high}, got {shown(raw)}.")
    return value


def optional_number(raw: Any, low: int, high: int, code: str) -> int | None:
    """`whole_number` where absence means None."""
    if raw is None:
        return None
    return whole_number(raw, low, low, high, code)


def one_of(raw: Any, allowed: range | tuple[int, ...], code: str, what: str) -> int:
    """A small enumerated number (`"0"` or `0`), one of `allowed`; a string is stripped ASCII
    digits, at most 9 (`²`, `٣` and digit strings too long to mean anything are refused
    before int() sees them)."""
    value: int | None = None
    if isinstance(raw, int) and not isinstance(raw, bool):
        value = raw
    elif isinstance(raw, str):
        text = raw.strip()
        if text.isascii() and text.isdigit() and len(text) <= MAX_ENUM_DIGITS:
            value = int(text)
    if value is None or value not in allowed:
        raise invalid(code, f"{what} must be one of {', '.join(map(str, allowed))}.")
    return value


def flag(raw: Any, code: str) -> bool:
    """An optional boolean: true/false/1/0 (absent: false)."""
    if raw is None:
        return False
    text = str(raw).lower() if isinstance(raw, str | bool | int) else ""
    if text not in ("true", "false", "1", "0"):
        raise invalid(code, f"Must be true or false, got {shown(raw)}.")
    return text in ("true", "1")


def numbers(raw: Any, code: str, what: str) -> list[str]:
    """A list of 1-16 numbers (a plain string or integer is accepted as a list of one)."""
    items = [raw] if scalar_text(raw) is not None else raw
    if not isinstance(items, list) or not items or len(items) > MAX_NUMBERS:
        raise invalid(code, f"{what} must be a list of 1 to {MAX_NUMBERS} numbers.")
    texts = [scalar_text(i) for i in items]
    if any(t is None or not t for t in texts):
        raise invalid(code, f"{what} must hold extension or public numbers.")
    return [t for t in texts if t]


def optional_number_text(raw: str | None, code: str, what: str) -> str | None:
    """A query's number (an extension, short or extended, or a public number), None when
    absent; anything else (empty, too long, non-ASCII digits, CR/LF) is `code`."""
    if raw is None:
        return None
    if not NUMBER.fullmatch(raw):
        raise invalid(code, f"{what} must be an extension or a public number, got {shown(raw)}.")
    return raw


def caller_id_or(raw: Any, default: str) -> str:
    """A request's callerId (UAPI-Caller-Id), or `default` when absent."""
    if raw is None:
        return default
    if not isinstance(raw, str) or not CALLER_ID.fullmatch(raw.strip()):
        raise invalid("pc_callerid_invalid", "callerId must look like 'John Doe <+3334444>'.")
    return raw.strip()


_SIP_HEADER_NAME = re.compile(r"X-[A-Za-z0-9-]{1,64}")
_SIP_HEADER_VALUE = re.compile(r"[\x20-\x7e]{0,256}")
MAX_SIP_HEADERS = 10


def sip_headers(raw: Any) -> tuple[tuple[str, str], ...]:
    """`sipHeaders` (a bridge addition): an object of at most 10 `X-` headers, each value
    printable ASCII (no CR/LF) of at most 256 bytes; absent: none."""
    if raw is None:
        return ()
    if not isinstance(raw, dict) or len(raw) > MAX_SIP_HEADERS:
        raise invalid(
            "pc_sipheaders_invalid",
            f"sipHeaders must be an object of at most {MAX_SIP_HEADERS} headers.",
        )
    for name, value in raw.items():
        if not _SIP_HEADER_NAME.fullmatch(name):
            raise invalid(
                "pc_sipheaders_invalid",
                f"{shown(name)} is not a header name X-[A-Za-z0-9-]{{1,64}}.",
            )
        if not isinstance(value, str) or not _SIP_HEADER_VALUE.fullmatch(value):
            raise invalid(
                "pc_sipheaders_invalid",
                f"The value of {name} must be printable ASCII without CR/LF, at most 256 bytes.",
            )
    return tuple(raw.items())


def view_id(raw: Any) -> str | None:
    """`"01"`, `"1"` and `1` name the same PhoneCallView; None when it cannot be one."""
    value = ascii_int(raw)
    return f"{value:02d}" if value is not None and value < 100 else None


def shown(raw: Any) -> str:
    """The value for an error message, cut short (it may be a 60 KB string)."""
    text = repr(raw)
    return text if len(text) <= 40 else text[:37] + "..."
