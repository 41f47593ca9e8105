"""PhoneCallEvent registrations, the outbox of deliveries, and the log of attempts (SQLite).

Registrations are also held in memory (`Registrations`), because the tracker's effects are
matched against them inside the AMI reader, where nothing may wait for a disk.
"""

from __future__ import annotations

import secrets
import sqlite3
import string
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from typing import Any
from urllib.parse import urlencode

from bridge.store.db import Database

_ALPHABET = string.ascii_letters + string.digits
_EVENT_COLUMNS = "id, app, extension, type, method, url, note, status, modified"
ENABLED, DISABLED = 0, 1  # PhoneCallEvent.status as the seed pages define it


def new_id(length: int = 30) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


@dataclass(frozen=True)
class Registration:
    id: str
    app: str
    extension: str
    type: int
    method: int  # 0 GET, 1 POST
    url: str
    note: str
    status: int  # 0 enabled, 1 disabled
    modified: str


@dataclass(frozen=True)
class Delivery:
    """One row of the outbox: a callback to make (again) at `next_at`."""

    id: str
    event_id: str
    call_id: str
    payload: str  # the callback parameters, form-encoded (the POST body or the GET query)
    created_at: float
    next_at: float
    attempts: int


class Registrations:
    """Every registration, in memory and in SQLite (written through)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.by_id: dict[str, Registration] = {}
        self._enabled: dict[tuple[str, int], list[Registration]] = {}  # looked up per effect

    async def load(self) -> None:
        rows = await self.db.fetchall(f"SELECT {_EVENT_COLUMNS} FROM phone_call_events")  # noqa: S608
        self.by_id = {r[0]: Registration(*r) for r in rows}
        self._reindex()

    def _reindex(self) -> None:
        index: dict[tuple[str, int], list[Registration]] = {}
        for reg in sorted(self.by_id.values(), key=lambda r: r.modified):
            if reg.status == ENABLED:
                index.setdefault((reg.extension, reg.type), []).append(reg)
        self._enabled = index

    def of(self, extension: str, type_: int | None = None) -> list[Registration]:
        return sorted((r for r in self.by_id.values() if r.extension == extension
                       and (type_ is None or r.type == type_)), key=lambda r: r.modified)

    def enabled(self, extension: str, type_: int) -> list[Registration]:
        return self._enabled.get((extension, type_), [])

    async def save(self, reg: Registration) -> None:
        values = tuple(asdict(reg).values())
        await self.db.execute(
            f"INSERT OR REPLACE INTO phone_call_events ({_EVENT_COLUMNS}) "  # noqa: S608
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", values)
        self.by_id[reg.id] = reg
        self._reindex()

    async def delete(self, ids: Iterable[str]) -> None:
        ids = list(ids)
        await self.db.call(lambda c: c.executemany(
            "DELETE FROM phone_call_events WHERE id = ?", [(i,) for i in ids]))
        for i in ids:
            self.by_id.pop(i, None)
        self._reindex()

    async def disable(self, event_id: str, modified: str) -> None:
        reg = self.by_id.get(event_id)
        if reg is not None:
            await self.save(replace(reg, status=DISABLED, modified=modified))


class Outbox:
    """Deliveries written before they are sent; what is not acknowledged stays for a restart."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, rows: list[tuple[str, str, dict[str, str]]], now: float) -> int:
        """(event id, dedup key, params) rows; a key seen before is skipped. Returns the new."""

        def run(conn: sqlite3.Connection) -> int:
            before = conn.total_changes
            conn.executemany(
                "INSERT OR IGNORE INTO outbox (id, event_id, dedup, call_id, payload, "
                "created_at, next_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(secrets.token_hex(12), ev, key, params.get("CallID", ""), urlencode(params),
                  now, now)
                 for ev, key, params in rows])
            return conn.total_changes - before

        return await self.db.call(run)

    async def take(self, now: float, limit: int) -> list[Delivery]:
        """Claims the deliveries due now (state `sending`), oldest first."""
        rows = await self.db.call(lambda c: c.execute(
            "UPDATE outbox SET state = 'sending' WHERE id IN (SELECT id FROM outbox "
            "WHERE state = 'pending' AND next_at <= ? ORDER BY next_at LIMIT ?) "
            "RETURNING id, event_id, call_id, payload, created_at, next_at, attempts",
            (now, limit)).fetchall())
        return sorted((Delivery(*r) for r in rows), key=lambda d: d.next_at)

    async def release(self) -> int:
        """At start: what was being sent when the bridge stopped is pending again."""
        return await self.db.execute(
            "UPDATE outbox SET state = 'pending' WHERE state = 'sending'")

    async def next_due(self) -> float | None:
        rows = await self.db.fetchall(
            "SELECT MIN(next_at) FROM outbox WHERE state = 'pending'")
        return rows[0][0] if rows and rows[0][0] is not None else None

    async def backlog(self, now: float) -> tuple[int, float | None]:
        """(deliveries due now and not being sent, when the oldest of them became due)."""
        rows = await self.db.fetchall(
            "SELECT COUNT(*), MIN(next_at) FROM outbox WHERE state = 'pending' AND next_at <= ?",
            (now,))
        count, oldest = rows[0] if rows else (0, None)
        return int(count), oldest

    async def record(self, results: list[tuple[Delivery, dict[str, Any], str, float]]) -> None:
        """Logs attempts and moves their rows on (pending again, delivered, failed), all in
        one transaction: (delivery, {at, status, duration_ms, error}, state, next_at)."""

        def run(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(
                    "INSERT INTO deliveries (delivery_id, event_id, attempt, at, status, "
                    "duration_ms, error, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [(d.id, d.event_id, d.attempts + 1, a["at"], a["status"], a["duration_ms"],
                      a["error"], state) for d, a, state, _ in results])
                conn.executemany(
                    "UPDATE outbox SET attempts = attempts + 1, state = ?, next_at = ?, "
                    "last_status = ?, last_error = ? WHERE id = ?",
                    [("pending" if state == "retry" else state, next_at, a["status"],
                      a["error"], d.id) for d, a, state, next_at in results])
                conn.execute("COMMIT")
            except sqlite3.Error:
                conn.execute("ROLLBACK")
                raise

        await self.db.call(run)

    async def attempts(self, event_id: str) -> list[dict[str, Any]]:
        rows = await self.db.fetchall(
            "SELECT delivery_id, attempt, at, status, duration_ms, error, outcome "
            "FROM deliveries WHERE event_id = ? ORDER BY at DESC", (event_id,))
        keys = ("deliveryId", "attempt", "at", "status", "durationMs", "error", "outcome")
        return [dict(zip(keys, r, strict=True)) for r in rows]
