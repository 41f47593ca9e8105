"""Documents for the fax tests: a minimal one-page PDF written by hand, TIFFs of N pages."""

from __future__ import annotations

import struct


def pdf(text: str = "uapi-bridge fax test") -> bytes:
    """A valid one-page PDF (Letter) showing `text` in Helvetica, with a correct xref."""
    stream = f"BT /F1 24 Tf 72 700 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def tiff(pages: int) -> bytes:
    """A little-endian TIFF whose IFD chain has `pages` directories (one tag each: enough
    for counting pages, not an image a fax machine could print)."""
    out = bytearray(b"II*\x00" + struct.pack("<I", 8))
    for i in range(pages):
        at = len(out)
        following = 0 if i == pages - 1 else at + 2 + 12 + 4
        out += struct.pack("<H", 1) + struct.pack("<HHII", 256, 4, 1, 1728)
        out += struct.pack("<I", following)
    return bytes(out)
