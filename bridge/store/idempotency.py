"""The answers given to requests with an `Idempotency-Key`, kept 24 hours in the store."""

from __future__ import annotations

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
        await self.db.transaction([
            ("DELETE FROM idempotency_keys WHERE created_at <= ?", [(now - KEY_WINDOW,)]),
            ("INSERT INTO idempotency_keys (app, key, fingerprint, status, content_type, body,"
             " created_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (app, key) DO UPDATE SET"
             " fingerprint = excluded.fingerprint, status = excluded.status,"
             " content_type = excluded.content_type, body = excluded.body,"
             " created_at = excluded.created_at",
             [(app, key, answer.fingerprint, answer.status, answer.content_type, answer.body,
               now)]),
        ])
