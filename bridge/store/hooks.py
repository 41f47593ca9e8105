"""PhoneCallEvent registrations, the outbox of deliveries, and the log of attempts (SQLite).

Registrations are also held in memory (`Registrations`), because the tracker's effects are
matched against them inside the AMI reader, where nothing may wait for a disk.
"""

from __future__ import annotations

import secrets
import sqlite3
import string
from bisect import insort
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

from bridge.store.db import Database

_ALPHABET = string.ascii_letters + string.digits
_EVENT_COLUMNS = "id, app, extension, type, method, url, note, status, modified, secret"
_PURGE_OUTBOX = ("DELETE FROM outbox WHERE rowid IN (SELECT rowid FROM outbox WHERE state IN "
                 "('delivered', 'failed') AND next_at < ? LIMIT ?)")
_PURGE_ATTEMPTS = ("DELETE FROM deliveries WHERE rowid IN (SELECT rowid FROM deliveries "
                   "WHERE at < ? LIMIT ?)")
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
    secret: str = field(repr=False)  # whsec_...: signs its deliveries; never logged


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
    """Every registration, in memory and in SQLite (written through).

    Indexed by id, by extension, and (enabled ones, oldest first) by extension and type; a
    change updates the entries of the one registration it touches, never the whole index.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self.by_id: dict[str, Registration] = {}
        self._by_extension: dict[str, dict[str, Registration]] = {}
        self._enabled: dict[tuple[str, int], list[Registration]] = {}  # looked up per effect

    async def load(self) -> None:
        rows = await self.db.fetchall(f"SELECT {_EVENT_COLUMNS} FROM phone_call_events")  # noqa: S608
        self.by_id, self._by_extension, self._enabled = {}, {}, {}
        for reg in sorted((Registration(*r) for r in rows), key=_modified):
            self._index(reg)

    def _index(self, reg: Registration) -> None:
        self.by_id[reg.id] = reg
        self._by_extension.setdefault(reg.extension, {})[reg.id] = reg
        if reg.status == ENABLED:
            insort(self._enabled.setdefault((reg.extension, reg.type), []), reg, key=_modified)

    def _unindex(self, event_id: str) -> None:
        reg = self.by_id.pop(event_id, None)
        if reg is None:
            return
        mine = self._by_extension[reg.extension]
        del mine[event_id]
        if not mine:
            del self._by_extension[reg.extension]
        key = (reg.extension, reg.type)
        kept = [r for r in self._enabled.get(key, ()) if r.id != event_id]
        if kept:
            self._enabled[key] = kept  # a new list: a caller may be iterating the old one
        else:
            self._enabled.pop(key, None)

    def of(self, extension: str, type_: int | None = None) -> list[Registration]:
        return sorted((r for r in self._by_extension.get(extension, {}).values()
                       if type_ is None or r.type == type_), key=_modified)

    def count(self, extension: str, app: str) -> int:
        """How many registrations `app` has on `extension` (every type and status)."""
        return sum(r.app == app for r in self._by_extension.get(extension, {}).values())

    def enabled(self, extension: str, type_: int) -> list[Registration]:
        return self._enabled.get((extension, type_), [])

    async def add(self, reg: Registration, limit: int) -> bool:
        """Stores a new registration unless its app already has `limit` on the extension.

        Counted and indexed before the write (no await between), so racing creates cannot
        pass the limit together; a failed write takes it out again (a cancelled one does
        not: its thread may still write the row)."""
        if self.count(reg.extension, reg.app) >= limit:
            return False
        self._index(reg)
        try:
            await self._write(reg)
        except Exception:
            self._unindex(reg.id)
            raise
        return True

    async def save(self, reg: Registration) -> None:
        """Writes a changed registration (or a new one, without a limit)."""
        await self._write(reg)
        self._unindex(reg.id)
        self._index(reg)

    async def _write(self, reg: Registration) -> None:
        values = tuple(asdict(reg).values())
        await self.db.execute(
            f"INSERT OR REPLACE INTO phone_call_events ({_EVENT_COLUMNS}) "  # noqa: S608
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", values)

    async def delete(self, ids: Iterable[str]) -> None:
        ids = list(ids)
        await self.db.call(lambda c: c.executemany(
            "DELETE FROM phone_call_events WHERE id = ?", [(i,) for i in ids]))
        for i in ids:
            self._unindex(i)

    async def disable(self, event_id: str, modified: str) -> None:
        reg = self.by_id.get(event_id)
        if reg is not None:
            await self.save(replace(reg, status=DISABLED, modified=modified))


def _modified(reg: Registration) -> str:
    return reg.modified


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

    async def purge(self, before: float, chunk: int = 5000) -> int:
        """Deletes delivered and failed rows finished before `before`, and attempts logged
        before it, `chunk` rows per transaction (the writer is never held up long)."""
        total = 0
        for sql in (_PURGE_OUTBOX, _PURGE_ATTEMPTS):
            while True:
                done = await self.db.execute(sql, (before, chunk))
                total += done
                if done < chunk:
                    break
        return total

    async def attempts(self, event_id: str) -> list[dict[str, Any]]:
        rows = await self.db.fetchall(
            "SELECT delivery_id, attempt, at, status, duration_ms, error, outcome "
            "FROM deliveries WHERE event_id = ? ORDER BY at DESC", (event_id,))
        keys = ("deliveryId", "attempt", "at", "status", "durationMs", "error", "outcome")
        return [dict(zip(keys, r, strict=True)) for r in rows]
