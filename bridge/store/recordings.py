"""Recordings in the store (either backend): written when they stop or their call ends.

A recording stopped through the API is queued at once (`add`); the end of a call queues every
recording it had (`sink`, with the tracker's effects). Both are written in order, in batches, by
`run_forever` (or `flush`); a recording already stored is never written again, so one deleted
through the API stays deleted. After a write, `size_of` (ARI, from the composition root) is
asked the length of each new file.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import replace

import structlog

from bridge.domain.model import Effect
from bridge.domain.recordings import RecordingRecord, records
from bridge.errors import BridgeError
from bridge.store.db import Database

log = structlog.get_logger("bridge.recordings")
SizeOf = Callable[[str, str], Awaitable[int | None]]  # (node, name) -> bytes, None: unknown
_COLUMNS = "r.id, r.call_id, r.view_id, r.party, r.format, r.started, r.ended, r.node, r.size"
_INSERT = (
    "INSERT INTO recordings (id, call_id, view_id, party, format, started, ended, node,"
    " size, saved) VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT (id) DO NOTHING"
)
_LISTED = (
    "INSERT INTO recording_extensions (extension, started, recording_id) VALUES (?,?,?)"
    " ON CONFLICT (extension, started, recording_id) DO NOTHING"
)


async def _unknown(_node: str, _name: str) -> int | None:
    return None


class RecordingStore:
    """The recordings of one bridge: queue of writes, queries, deletes."""

    def __init__(
        self, db: Database, size_of: SizeOf = _unknown, clock: Callable[[], float] = time.time
    ) -> None:
        self.db = db
        self.size_of = size_of
        self.clock = clock
        self._pending: list[RecordingRecord] = []
        self._wake = asyncio.Event()
        self._writing = asyncio.Lock()

    # -- intake (synchronous) ----------------------------------------------------------------

    def add(self, record: RecordingRecord) -> None:
        """A recording stopped: store it soon."""
        self._pending.append(record)
        self._wake.set()

    def sink(self, effects: list[Effect]) -> None:
        """The tracker's effects: an ended call's recordings are stored."""
        for effect in effects:
            if effect.kind == "ended" and effect.call is not None:
                for record in records(effect.call):
                    self.add(record)

    # -- writing -----------------------------------------------------------------------------

    async def flush(self) -> int:
        """Writes what is queued (one transaction), then asks the new files' sizes; returns
        the recordings newly stored."""
        async with self._writing:
            batch, self._pending = self._pending, []
            self._wake.clear()
            if not batch:
                return 0
            saved = self.clock()
            async with self.db.session() as session:
                new = []
                for rec in batch:
                    if await session.execute(_INSERT, _row(rec, saved)):
                        new.append(rec)
                        for ext in rec.extensions:
                            await session.execute(_LISTED, (ext, rec.started, rec.id))
            for rec in new:
                await self._size(rec)
            if new:
                log.info("recordings.stored", recordings=len(new))
            return len(new)

    async def _size(self, rec: RecordingRecord) -> None:
        try:
            size = await self.size_of(rec.node, rec.id)
        except BridgeError as exc:  # ARI down: the size stays unknown
            log.warning("recordings.size_unknown", id=rec.id, error=str(exc))
            return
        if size is not None:
            await self.db.execute("UPDATE recordings SET size = ? WHERE id = ?", (size, rec.id))

    async def run_forever(self) -> None:
        """Writes queued recordings as they come."""
        while True:
            await self._wake.wait()
            try:
                await self.flush()
            except BridgeError:
                log.exception("recordings.write_failed")

    # -- reading and deleting ----------------------------------------------------------------

    async def listed(self, scope: Collection[str]) -> list[tuple[str, RecordingRecord]]:
        """(extension, recording) for each extension of `scope` a recording is listed under,
        oldest first."""
        if not scope:
            return []
        marks = ",".join("?" * len(scope))
        rows = await self.db.fetchall(
            f"SELECT e.extension, {_COLUMNS} FROM recording_extensions e"  # noqa: S608 (marks only)
            " JOIN recordings r ON r.id = e.recording_id"
            f" WHERE e.extension IN ({marks}) ORDER BY e.started, r.id, e.extension",
            sorted(scope),
        )
        return [(row[0], _record(row[1:], ())) for row in rows]

    async def get(self, recording_id: str) -> RecordingRecord | None:
        rows = await self.db.fetchall(
            f"SELECT {_COLUMNS} FROM recordings r WHERE r.id = ?",  # noqa: S608
            (recording_id,),
        )
        if not rows:
            return None
        exts = await self.db.fetchall(
            "SELECT extension FROM recording_extensions WHERE recording_id = ? ORDER BY extension",
            (recording_id,),
        )
        return _record(rows[0], tuple(e[0] for e in exts))

    async def delete(self, recording_id: str) -> bool:
        """Forgets a recording; False when it was not stored."""
        _, gone = await self.db.transaction(
            [
                ("DELETE FROM recording_extensions WHERE recording_id = ?", [(recording_id,)]),
                ("DELETE FROM recordings WHERE id = ?", [(recording_id,)]),
            ]
        )
        return gone > 0


def _row(rec: RecordingRecord, saved: float) -> tuple[object, ...]:
    return (
        rec.id,
        rec.call_id,
        rec.view_id,
        rec.party,
        rec.format,
        rec.started,
        rec.ended,
        rec.node,
        rec.size,
        saved,
    )


def _record(row: tuple[object, ...], extensions: tuple[str, ...]) -> RecordingRecord:
    rid, call_id, view_id, party, fmt, started, ended, node, size = row
    rec = RecordingRecord(
        str(rid),
        str(call_id),
        str(view_id),
        str(party),
        str(fmt),
        float(str(started)),
        float(str(ended)),
        str(node),
        extensions,
    )
    return replace(rec, size=int(str(size))) if size is not None else rec
