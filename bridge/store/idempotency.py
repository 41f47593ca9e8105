"""The answers given to requests with an `Idempotency-Key`, kept 24 hours in the store, and
those being made right now (`Keys`, built by bridge.app).

On a shared store a key is claimed first (a row with status 0, "being answered"), so that the
same key sent to two bridges at once runs once: the other bridge waits for the answer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from bridge.store.db import Database

KEY_WINDOW = 24 * 3600  # a key returns its first answer for this long
CLAIM_WINDOW = 60.0  # a claim not answered for this long is abandoned (its bridge died)
RUNNING = 0  # the status of a claimed key whose answer is being made


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
            " WHERE app = ? AND key = ? AND created_at > ? AND status <> ?",
            (app, key, now - KEY_WINDOW, RUNNING),
        )
        if not rows:
            return None
        fingerprint, status, content_type, body = rows[0]
        return Answer(fingerprint, status, content_type, bytes(body))

    async def save(self, app: str, key: str, answer: Answer, now: float) -> None:
        """Stores the answer (replacing an expired one) and drops the expired ones."""
        await self.db.transaction(
            [
                ("DELETE FROM idempotency_keys WHERE created_at <= ?", [(now - KEY_WINDOW,)]),
                (
                    "INSERT INTO idempotency_keys (app, key, fingerprint, status, content_type, "
                    "body,"
                    " created_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (app, key) DO UPDATE SET"
                    " fingerprint = excluded.fingerprint, status = excluded.status,"
                    " content_type = excluded.content_type, body = excluded.body,"
                    " created_at = excluded.created_at",
                    [
                        (
                            app,
                            key,
                            answer.fingerprint,
                            answer.status,
                            answer.content_type,
                            answer.body,
                            now,
                        )
                    ],
                ),
            ]
        )

    async def claim(self, app: str, key: str, fingerprint: str, now: float) -> bool:
        """Takes the key for this request (free, expired or abandoned); False: it is taken."""
        return bool(
            await self.db.execute(
                "INSERT INTO idempotency_keys (app, key, fingerprint, status, content_type, body,"
                " created_at) VALUES (?, ?, ?, ?, '', ?, ?) ON CONFLICT (app, key) DO UPDATE SET"
                " fingerprint = excluded.fingerprint, status = excluded.status,"
                " content_type = '', body = excluded.body, created_at = excluded.created_at"
                " WHERE idempotency_keys.created_at <= ? OR (idempotency_keys.status = ?"
                " AND idempotency_keys.created_at <= ?)",
                (
                    app,
                    key,
                    fingerprint,
                    RUNNING,
                    b"",
                    now,
                    now - KEY_WINDOW,
                    RUNNING,
                    now - CLAIM_WINDOW,
                ),
            )
        )

    async def drop(self, app: str, key: str) -> None:
        """Frees a claim whose request failed (a retry runs again)."""
        await self.db.execute(
            "DELETE FROM idempotency_keys WHERE app = ? AND key = ? AND status = ?",
            (app, key, RUNNING),
        )

    async def wait(
        self, app: str, key: str, now: float, within: float = 15.0, every: float = 0.05
    ) -> Answer | None:
        """The answer another bridge is making; None when its claim went away unanswered."""
        for _ in range(int(within / every)):
            answer = await self.find(app, key, now)
            if answer is not None:
                return answer
            held = await self.db.fetchall(
                "SELECT 1 FROM idempotency_keys WHERE app = ? AND key = ?", (app, key)
            )
            if not held:
                return None
            await asyncio.sleep(every)
        return None


class Keys:
    """The stored answers, and the answers being made right now (per app and key)."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.answers = Answers(db)
        self.clock = clock
        self.running: dict[tuple[str, str], asyncio.Future[Answer]] = {}
