"""PhoneCallEvent registrations, the outbox of deliveries, and the log of attempts.

Registrations are also held in memory (`Registrations`), because the tracker's effects are
matched against them inside the AMI reader, where nothing may wait for a disk; on a shared store
each change is NOTIFYed, and every bridge re-reads that registration (`refresh`).
The outbox is claimed with a lease (`owner`, `lease_until`): on a shared store a row whose lease
ran out (its bridge died) is claimed again by any bridge, with `FOR UPDATE SKIP LOCKED`.
"""

from __future__ import annotations

import os
import secrets
import socket
import string
import time
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
CHANGED_CHANNEL = "uapi_registrations"  # NOTIFY: the id of a registration written or deleted
_RETURNING = "RETURNING id, event_id, call_id, payload, created_at, next_at, attempts"
_TAKE = "UPDATE outbox SET state = 'sending', owner = ?, lease_until = ? WHERE id IN "
_TAKE_SQLITE = (_TAKE + "(SELECT id FROM outbox WHERE state = 'pending' AND next_at <= ? "  # noqa: S608
                "ORDER BY next_at LIMIT ?) " + _RETURNING)
_TAKE_SHARED = (_TAKE + "(SELECT id FROM outbox WHERE (state = 'pending' AND next_at <= ?) OR "  # noqa: S608
                "(state = 'sending' AND lease_until < ?) ORDER BY next_at LIMIT ? "
                "FOR UPDATE SKIP LOCKED) " + _RETURNING)
_PURGE_SHARED = (
    "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE state IN "
    "('delivered', 'failed') AND next_at < ? LIMIT ?)",
    "DELETE FROM deliveries WHERE ctid IN (SELECT ctid FROM deliveries WHERE at < ? LIMIT ?)")


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
    """Every registration, in memory and in the store (written through).

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

    async def refresh(self, event_id: str) -> None:
        """Re-reads one registration (another bridge changed or deleted it)."""
        rows = await self.db.fetchall(
            f"SELECT {_EVENT_COLUMNS} FROM phone_call_events WHERE id = ?",  # noqa: S608
            (event_id,))
        self._unindex(event_id)
        if rows:
            self._index(Registration(*rows[0]))

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
        updates = ", ".join(f"{c} = excluded.{c}" for c in _EVENT_COLUMNS.split(", ")[1:])
        await self.db.execute(
            f"INSERT INTO phone_call_events ({_EVENT_COLUMNS}) "  # noqa: S608
            f"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET {updates}",
            values)
        await self._announce([reg.id])

    async def delete(self, ids: Iterable[str]) -> None:
        ids = list(ids)
        await self.db.transaction([
            ("DELETE FROM phone_call_events WHERE id = ?", [(i,) for i in ids])])
        for i in ids:
            self._unindex(i)
        await self._announce(ids)

    async def _announce(self, ids: list[str]) -> None:
        """Tells the other bridges on a shared store (each re-reads these registrations)."""
        if self.db.shared:
            for event_id in ids:
                await self.db.notify(CHANGED_CHANNEL, event_id)

    async def disable(self, event_id: str, modified: str) -> None:
        reg = self.by_id.get(event_id)
        if reg is not None:
            await self.save(replace(reg, status=DISABLED, modified=modified))


def _modified(reg: Registration) -> str:
    return reg.modified


def bridge_id() -> str:
    """Who holds a lease: this host and process, and a random part (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Outbox:
    """Deliveries written before they are sent; what is not acknowledged stays for a restart
    (or, on a shared store, for any bridge once the lease of the one sending it ran out)."""

    def __init__(self, db: Database, owner: str | None = None, lease: float = 30.0) -> None:
        self.db = db
        self.owner = owner or bridge_id()
        self.lease = lease  # longer than an attempt (webhooks.timeout), or two may send one

    async def add(self, rows: list[tuple[str, str, dict[str, str]]], now: float) -> int:
        """(event id, dedup key, params) rows; a key seen before (by any bridge) is skipped.
        Returns how many are new."""
        if self.db.shared:  # bridges inserting the same keys lock them in one order: no deadlock
            rows = sorted(rows, key=lambda row: row[1])
        counts = await self.db.transaction([(
            "INSERT INTO outbox (id, event_id, dedup, call_id, payload, created_at, next_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dedup) DO NOTHING",
            [(secrets.token_hex(12), ev, key, params.get("CallID", ""), urlencode(params),
              now, now) for ev, key, params in rows])])
        return counts[0]

    async def take(self, now: float, limit: int) -> list[Delivery]:
        """Claims the deliveries due now (state `sending`, leased to this bridge), oldest
        first; on a shared store also those whose lease ran out."""
        until = now + self.lease
        if self.db.shared:
            rows = await self.db.fetchall(_TAKE_SHARED, (self.owner, until, now, now, limit))
        else:
            rows = await self.db.fetchall(_TAKE_SQLITE, (self.owner, until, now, limit))
        return sorted((Delivery(*r) for r in rows), key=lambda d: d.next_at)

    async def release(self, now: float | None = None) -> int:
        """At start: what was being sent when the bridge stopped is pending again. On a shared
        store only rows whose lease ran out (the others belong to bridges still running)."""
        if self.db.shared:
            return await self.db.execute(
                "UPDATE outbox SET state = 'pending', owner = NULL WHERE state = 'sending' "
                "AND lease_until < ?", (time.time() if now is None else now,))
        return await self.db.execute(
            "UPDATE outbox SET state = 'pending' WHERE state = 'sending'")

    async def release_mine(self) -> int:
        """At a clean stop: the rows this bridge claimed and did not finish are pending again
        (another bridge sends them at once, not after the lease)."""
        return await self.db.execute(
            "UPDATE outbox SET state = 'pending', owner = NULL, lease_until = NULL "
            "WHERE state = 'sending' AND owner = ?", (self.owner,))

    async def next_due(self) -> float | None:
        """When the next delivery is due (or, shared, the next lease runs out)."""
        if self.db.shared:
            rows = await self.db.fetchall(
                "SELECT MIN(CASE WHEN state = 'pending' THEN next_at ELSE lease_until END) "
                "FROM outbox WHERE state IN ('pending', 'sending')")
        else:
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

        await self.db.transaction([
            ("INSERT INTO deliveries (delivery_id, event_id, attempt, at, status, duration_ms, "
             "error, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
             [(d.id, d.event_id, d.attempts + 1, a["at"], a["status"], a["duration_ms"],
               a["error"], state) for d, a, state, _ in results]),
            ("UPDATE outbox SET attempts = attempts + 1, state = ?, next_at = ?, "
             "last_status = ?, last_error = ?, owner = NULL, lease_until = NULL WHERE id = ?",
             [("pending" if state == "retry" else state, next_at, a["status"], a["error"], d.id)
              for d, a, state, next_at in results]),
        ])

    async def purge(self, before: float, chunk: int = 5000) -> int:
        """Deletes delivered and failed rows finished before `before`, and attempts logged
        before it, `chunk` rows per transaction (the writer is never held up long)."""
        total = 0
        for sql in _PURGE_SHARED if self.db.backend == "postgresql" else (_PURGE_OUTBOX,
                                                                          _PURGE_ATTEMPTS):
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
