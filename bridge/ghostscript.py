"""PDFs into fax TIFFs with Debian's ghostscript (`gs -sDEVICE=tiffg3 -r204x196`), issue 25.

The PDFs are written to a private temporary directory, converted in one run (at most
`max_pages + 1` pages, so a long document costs no more than the check needs), and the TIFF's
bytes come back. A document ghostscript cannot read is a `DocumentRejected`; no `gs` at all is
`ConverterMissing`.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from pathlib import Path

from bridge.errors import BridgeError

GS_TIMEOUT = 120.0  # seconds one conversion may take


class DocumentRejected(BridgeError):
    """ghostscript could not turn the document into a TIFF."""


class ConverterMissing(BridgeError):
    """No `gs` on the PATH."""


async def pdfs_to_tiff(pdfs: list[bytes], max_pages: int) -> bytes:
    """One G3 fax TIFF (204x196 dpi) of every page of `pdfs`, in order."""
    gs = shutil.which("gs")
    if gs is None:
        raise ConverterMissing("ghostscript (gs) is not installed where the bridge runs")
    with tempfile.TemporaryDirectory(prefix="uapi-fax-") as tmp:
        names = []
        for i, pdf in enumerate(pdfs):
            path = Path(tmp) / f"in-{i}.pdf"
            path.write_bytes(pdf)
            names.append(str(path))
        out = Path(tmp) / "out.tif"
        proc = await asyncio.create_subprocess_exec(
            gs,
            "-q",
            "-dSAFER",
            "-dBATCH",
            "-dNOPAUSE",
            "-sDEVICE=tiffg3",
            "-r204x196",
            f"-dLastPage={max_pages + 1}",
            f"-sOutputFile={out}",
            *names,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            said, _ = await asyncio.wait_for(proc.communicate(), GS_TIMEOUT)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise DocumentRejected("ghostscript took too long") from None
        if proc.returncode != 0 or not out.exists():
            last = said.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise DocumentRejected(f"ghostscript could not read it: {last[0][:200]}")
        return out.read_bytes()
