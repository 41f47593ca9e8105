"""The fax store on both backends: stored once, moved on until it ends, listed per extension."""

from __future__ import annotations

from dataclasses import replace

from bridge.domain.faxes import FaxRecord
from bridge.store.db import Database
from bridge.store.faxes import FaxStore


def fax(n: int, ext: str = "0003*210") -> FaxRecord:
    fid = f"fax-{n:024x}"
    return FaxRecord(
        fid, ext, "out", "0003*024", "queued", 1, "", float(n), None, "default", f"{fid}.tif"
    )


async def test_stored_moved_on_listed(db: Database) -> None:
    """add_all, then sending -> sent with pages; an ended fax stays ended; listed per
    extension, oldest first; add of a known id is refused."""
    store = FaxStore(db)
    await store.add_all([fax(20), fax(10), fax(30, "0003*299")])
    assert not await store.add(fax(10))
    assert await store.set_status(fax(20).id, "sending")
    assert await store.set_status(fax(20).id, "sent", pages=2, finished=25.0)
    assert not await store.set_status(fax(20).id, "failed", error="late")
    assert [f.id for f in await store.listed(["0003*210"])] == [fax(10).id, fax(20).id]
    assert await store.get(fax(20).id) == replace(fax(20), status="sent", pages=2, finished=25.0)
    assert await store.get("fax-nothing") is None
    assert await store.listed([]) == []
