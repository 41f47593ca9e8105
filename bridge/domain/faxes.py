"""Faxes (issue 25), pure: the record the store keeps, documents told apart, TIFF pages counted.

A fax goes `queued` (stored, not yet handed to Asterisk) -> `sending` (the Originate was taken)
-> `sent` or `failed` (extensions_uapi.conf's UserEvent UapiFax). A fax a `fax` extension
received is stored once, `received` (or `failed`), with direction `in`.
"""

from __future__ import annotations

import re
import secrets
import struct
from dataclasses import dataclass

QUEUED, SENDING, SENT, FAILED, RECEIVED = "queued", "sending", "sent", "failed", "received"
OUT, IN = "out", "in"
PDF, TIFF = "pdf", "tiff"
_ID = re.compile(r"^fax-[0-9a-f]{24}$")
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*")
_MAX_IFDS = 10_000  # a loop in a broken file's IFD chain stops here


@dataclass(frozen=True)
class FaxRecord:
    """One fax as stored: sent by `extension` (out) or received by it (in)."""

    id: str
    extension: str  # extended number of the sending (out) or receiving (in) extension
    direction: str  # OUT or IN
    recipient: str  # the number as asked (out); the receiving extension (in)
    status: str
    pages: int | None
    error: str
    created: float
    finished: float | None
    node: str
    file: str  # the TIFF's name inside faxes.spool


def new_fax_id() -> str:
    return f"fax-{secrets.token_hex(12)}"


def is_fax_id(text: str) -> bool:
    return bool(_ID.fullmatch(text))


def kind_of(data: bytes) -> str | None:
    """PDF, TIFF, or None for anything else (by the leading bytes, not by a declared type)."""
    if data.lstrip(b"\x00\t\r\n\x0c ")[:5] == b"%PDF-":
        return PDF
    if data[:4] in _TIFF_MAGIC:
        return TIFF
    return None


def tiff_pages(data: bytes) -> int | None:
    """The pages (IFDs) of a classic TIFF; None when the file is not one that can be read."""
    if data[:4] not in _TIFF_MAGIC:
        return None
    order = "<" if data[:2] == b"II" else ">"
    try:
        (offset,) = struct.unpack_from(f"{order}I", data, 4)
        pages = 0
        while offset:
            if pages >= _MAX_IFDS or offset + 2 > len(data):
                return None
            (entries,) = struct.unpack_from(f"{order}H", data, offset)
            (offset,) = struct.unpack_from(f"{order}I", data, offset + 2 + 12 * entries)
            pages += 1
    except struct.error:
        return None
    return pages or None


def outcome(status: str) -> str:
    """What FAXSTATUS (SUCCESS, FAILED, or empty when SendFAX never ran) means for a sent fax."""
    return SENT if status.strip().upper() == "SUCCESS" else FAILED


def received_outcome(status: str) -> str:
    return RECEIVED if status.strip().upper() == "SUCCESS" else FAILED


def page_count(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() else None
