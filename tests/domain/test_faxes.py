"""Fax documents told apart and TIFF pages counted (bridge.domain.faxes)."""

from __future__ import annotations

import pytest

from bridge.domain import faxes as fx
from tests.faxdocs import pdf, tiff


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (pdf(), fx.PDF),
        (b"\n%PDF-1.7", fx.PDF),
        (tiff(1), fx.TIFF),
        (b"MM\x00*\x00\x00\x00\x08", fx.TIFF),
        (b"GIF89a", None),
        (b"", None),
        (b"%PD", None),
    ],
)
def test_kind_of(data: bytes, kind: str | None) -> None:
    """PDF and TIFF by their leading bytes; anything else is None."""
    assert fx.kind_of(data) == kind


@pytest.mark.parametrize(
    ("data", "pages"),
    [
        (tiff(1), 1),
        (tiff(3), 3),
        (tiff(3)[:-10], None),
        (b"II*\x00\xff\xff\xff\x00", None),
        (pdf(), None),
        (b"II*\x00" + b"\x08\x00\x00\x00" + b"\x00\x00" + b"\x08\x00\x00\x00", None),
    ],
)
def test_tiff_pages(data: bytes, pages: int | None) -> None:
    """The IFD chain's length; truncated, pointing outside, looping or not a TIFF: None."""
    assert fx.tiff_pages(data) == pages


def test_outcomes() -> None:
    """FAXSTATUS SUCCESS is sent/received; anything else (FAILED, empty) is failed."""
    assert [fx.outcome(s) for s in ("SUCCESS", "FAILED", "")] == ["sent", "failed", "failed"]
    assert fx.received_outcome("SUCCESS") == "received"
    assert fx.page_count("2") == 2
    assert fx.page_count("") is None
