"""The answers given to requests with an `Idempotency-Key`: kept 24 hours in SQLite, and
those being made right now (`Keys`, built by bridge.app)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass

from bridge.store.db import Database

KEY_WINDOW = 24 * 3600  # a key returns its first answer for this long


@dataclass(frozen=True)
class Answer:
    """One request's answer, as it is replayed (and what request it answered)."""

    fingerprint: str  # of the request: a retry must be the same request
    status: int
    content_type: str
    body: bytes


class Answers:
    """Idempotency-Key answers per (app, key); an expired key is free again."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def find(self, app: str, key: str, now: float) -> Answer | None:
        rows = await self.db.fetchall(
            "SELECT fingerprint, status, content_type, body FROM idempotency_keys"
            " WHERE app = ? AND key = ? AND created_at > ?", (app, key, now - KEY_WINDOW))
        if not rows:
            return None
        fingerprint, status, content_type, body = rows[0]
        return Answer(fingerprint, status, content_type, bytes(body))

    async def save(self, app: str, key: str, answer: Answer, now: float) -> None:
        """Stores the answer (replacing an expired one) and drops the expired ones."""
        def run(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM idempotency_keys WHERE created_at <= ?",
                         (now - KEY_WINDOW,))
            conn.execute(
                "INSERT OR REPLACE INTO idempotency_keys (app, key, fingerprint, status,"
                " content_type, body, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (app, key, answer.fingerprint, answer.status, answer.content_type, answer.body,
                 now))

        await self.db.call(run)


class Keys:
    """The stored answers, and the answers being made right now (per app and key)."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.answers = Answers(db)
        self.clock = clock
        self.running: dict[tuple[str, str], asyncio.Future[Answer]] = {}
