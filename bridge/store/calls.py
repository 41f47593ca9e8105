"""Calls placed through the API: their ids (found again after a restart) and their nonces."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from bridge.store.db import Database

NONCE_WINDOW = 24 * 3600  # a nonce returns the first call for 24 hours


@dataclass(frozen=True)
class PlacedCall:
    id: str
    extension: str
    user_id: str
    app: str
    nonce: str | None
    published: str
    created_at: float


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
                    "SELECT * FROM calls WHERE app = ? AND nonce = ?", (call.app, call.nonce)
                ).fetchone()
                if row is not None:
                    conn.execute("COMMIT")
                    return PlacedCall(*row)
            conn.execute(
                "INSERT INTO calls VALUES (?, ?, ?, ?, ?, ?, ?)",
                (call.id, call.extension, call.user_id, call.app, call.nonce, call.published,
                 call.created_at),
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
