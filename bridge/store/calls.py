"""Calls placed through the API: their ids (found again after a restart) and their nonces."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from bridge.domain.model import CallMeta
from bridge.store.db import Database

NONCE_WINDOW = 24 * 3600  # a nonce returns the first call for 24 hours
_COLUMNS = "id, extension, user_id, app, nonce, published, created_at, plan"


@dataclass(frozen=True)
class PlacedCall:
    id: str
    extension: str
    user_id: str
    app: str
    nonce: str | None
    published: str
    created_at: float
    plan: dict[str, Any] = field(default_factory=dict)

    def meta(self) -> CallMeta:
        """What the call tracker needs to show this call as requested."""
        p = self.plan
        return CallMeta(
            self.extension, self.user_id, self.app, self.nonce, self.created_at,
            tuple(p.get("sources", ())), tuple(p.get("destinations", ())),
            str(p.get("source_caller_id", "")), str(p.get("destination_caller_id", "")),
            bool(p.get("allow_public_transfer", False)),
        )


def _row(row: tuple[Any, ...]) -> PlacedCall:
    cid, ext, user_id, app, nonce, published, created_at, plan = row
    return PlacedCall(cid, ext, user_id, app, nonce, published, created_at,
                      json.loads(plan or "{}"))


async def claim(db: Database, call: PlacedCall) -> PlacedCall:
    """Records `call`; if the app already used its nonce within 24 h, returns that call instead.

    The insert and the look-up run in one transaction, so two requests racing with the same
    nonce place one call.
    """

    def run(conn: sqlite3.Connection) -> PlacedCall:
        conn.execute("BEGIN IMMEDIATE")
        try:
            if call.nonce is not None:
                conn.execute(
                    "DELETE FROM calls WHERE app = ? AND nonce = ? AND created_at < ?",
                    (call.app, call.nonce, call.created_at - NONCE_WINDOW),
                )
                row = conn.execute(
                    f"SELECT {_COLUMNS} FROM calls WHERE app = ? AND nonce = ?",  # noqa: S608
                    (call.app, call.nonce),
                ).fetchone()
                if row is not None:
                    conn.execute("COMMIT")
                    return _row(row)
            conn.execute(
                f"INSERT INTO calls ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
                (call.id, call.extension, call.user_id, call.app, call.nonce, call.published,
                 call.created_at, json.dumps(call.plan)),
            )
            conn.execute("COMMIT")
        except sqlite3.Error:
            conn.execute("ROLLBACK")
            raise
        return call

    return await db.call(run)


async def forget(db: Database, call_id: str) -> None:
    """Drops a call whose Originate Asterisk refused, so its nonce can be used again."""
    await db.execute("DELETE FROM calls WHERE id = ?", (call_id,))


async def find(db: Database, ids: Collection[str]) -> dict[str, PlacedCall]:
    """The API calls among `ids` (the live calls at a resync)."""
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    rows = await db.fetchall(
        f"SELECT {_COLUMNS} FROM calls WHERE id IN ({marks})", tuple(ids)  # noqa: S608
    )
    return {row[0]: _row(row) for row in rows}
