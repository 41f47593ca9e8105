"""Faxes in the store (either backend): one row per fax, sent or received (issue 25)."""

from __future__ import annotations

from collections.abc import Collection

from bridge.domain.faxes import FaxRecord
from bridge.store.db import Database

_COLUMNS = (
    "id, extension, direction, recipient, status, pages, error, created, finished, node, file"
)
_INSERT = (
    f"INSERT INTO faxes ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)"  # noqa: S608
    " ON CONFLICT (id) DO NOTHING"
)


class FaxStore:
    """Writes and reads fax records."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, fax: FaxRecord) -> bool:
        """Stores a new fax; False when one with its id is already stored."""
        return await self.db.execute(_INSERT, _row(fax)) > 0

    async def add_all(self, faxes: Collection[FaxRecord]) -> None:
        await self.db.transaction([(_INSERT, [_row(f) for f in faxes])])

    async def set_status(
        self,
        fax_id: str,
        status: str,
        *,
        error: str = "",
        pages: int | None = None,
        finished: float | None = None,
    ) -> bool:
        """Moves a fax on; one already `sent`, `failed` or `received` stays as it ended."""
        return (
            await self.db.execute(
                "UPDATE faxes SET status = ?, error = ?, pages = COALESCE(?, pages),"
                " finished = ? WHERE id = ? AND status IN ('queued', 'sending')",
                (status, error, pages, finished, fax_id),
            )
            > 0
        )

    async def listed(self, extensions: Collection[str]) -> list[FaxRecord]:
        """The faxes of `extensions`, oldest first."""
        if not extensions:
            return []
        marks = ",".join("?" * len(extensions))
        rows = await self.db.fetchall(
            f"SELECT {_COLUMNS} FROM faxes WHERE extension IN ({marks})"  # noqa: S608 (marks)
            " ORDER BY created, id",
            sorted(extensions),
        )
        return [_record(r) for r in rows]

    async def get(self, fax_id: str) -> FaxRecord | None:
        rows = await self.db.fetchall(f"SELECT {_COLUMNS} FROM faxes WHERE id = ?", (fax_id,))  # noqa: S608
        return _record(rows[0]) if rows else None


def _row(fax: FaxRecord) -> tuple[object, ...]:
    return (
        fax.id,
        fax.extension,
        fax.direction,
        fax.recipient,
        fax.status,
        fax.pages,
        fax.error,
        fax.created,
        fax.finished,
        fax.node,
        fax.file,
    )


def _record(row: tuple[object, ...]) -> FaxRecord:
    fid, ext, direction, recipient, status, pages, error, created, finished, node, file = row
    return FaxRecord(
        str(fid),
        str(ext),
        str(direction),
        str(recipient),
        str(status),
        None if pages is None else int(str(pages)),
        str(error),
        float(str(created)),
        None if finished is None else float(str(finished)),
        str(node),
        str(file),
    )
