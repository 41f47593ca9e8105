"""Call history in SQLite: records written from the tracker's effects, searched, purged.

A call gets an open row (ended NULL) when it starts and its final row when the tracker ends
it; a row that is ended is never written again (written once). After every (re)login the open
rows of calls the tracker no longer knows (they ended while the bridge was away) are closed with
what is known (`closed`: disposition 4 where the end is unknown). Writes are queued by the
synchronous `sink` and written in order, in batches, by `run_forever` (or `flush`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import structlog

from bridge.domain.history import HistoryRecord, closed, record, stats
from bridge.domain.model import Effect
from bridge.errors import BridgeError
from bridge.store.db import Database

log = structlog.get_logger("bridge.history")
PURGE_EVERY = 3600.0  # seconds between purges
_UPSERT = (
    "INSERT INTO call_history (id, extension, published, answered, at, ended, saved,"
    " disposition, flow, nonce, body) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
    " ON CONFLICT (id) DO UPDATE SET extension=excluded.extension, answered=excluded.answered,"
    " at=excluded.at, ended=excluded.ended, saved=excluded.saved,"
    " disposition=excluded.disposition, flow=excluded.flow, nonce=excluded.nonce,"
    " body=excluded.body WHERE call_history.ended IS NULL"
)


@dataclass(frozen=True)
class PartyFilter:
    """Calls with a party (in `role`, or any role when None) that matches."""

    role: str | None
    op: str  # equals | startsWith | contains | inArray
    value: str


@dataclass(frozen=True)
class HistoryQuery:
    scope: frozenset[str] | None  # extension numbers a party must be one of; None: all
    at_from: float | None = None
    at_to: float | None = None
    saved_from: float | None = None
    saved_to: float | None = None
    parties: tuple[PartyFilter, ...] = ()
    disposition: int | None = None
    flow: int | None = None
    date_filter: tuple[str, str, float] | None = None  # (published|answered, op, time)
    count: int = 20
    start: int = 0
    descending: bool = True


class HistoryStore:
    """The call history of one bridge: queue of writes, queries, retention."""

    def __init__(self, db: Database, retention: float,
                 clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.retention = retention
        self.clock = clock
        self._pending: list[HistoryRecord] = []
        self._open: set[str] = set()  # calls that have an open row queued or written
        self._wake = asyncio.Event()
        self._writing = asyncio.Lock()  # batches are written in the order they were queued

    # -- intake (synchronous: called with the tracker's effects) -----------------------------

    def sink(self, effects: list[Effect]) -> None:
        for effect in effects:
            call = effect.call
            if call is None:
                continue
            if effect.kind == "ended":
                self._open.discard(call.id)
            elif effect.kind == "answered" or (effect.kind == "joined"
                                               and call.id not in self._open):
                self._open.add(call.id)
            else:
                continue
            self._pending.append(record(call))
            self._wake.set()

    # -- writing -----------------------------------------------------------------------------

    async def flush(self) -> int:
        """Writes what is queued, in one transaction; returns the records written."""
        async with self._writing:
            batch, self._pending = self._pending, []
            self._wake.clear()
            if batch:
                saved = self.clock()
                await self.db.call(lambda c: _write(c, batch, saved))
            return len(batch)

    async def run_forever(self, every: float = PURGE_EVERY) -> None:
        """Writes queued records as they come and purges old ones every `every` seconds."""
        next_purge = time.monotonic() + every
        while True:
            timeout = max(0.0, next_purge - time.monotonic())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            try:
                await self.flush()
                if time.monotonic() >= next_purge:
                    next_purge = time.monotonic() + every
                    await self.purge(self.clock())
            except BridgeError:
                log.exception("history.write_failed")

    async def close_gone(self, live: Collection[str]) -> int:
        """Closes the open rows of calls not in `live` (they ended while nobody watched)."""
        await self.flush()
        now = self.clock()
        keep = set(live)

        def run(conn: sqlite3.Connection) -> int:
            rows = conn.execute(
                "SELECT id, body FROM call_history WHERE ended IS NULL").fetchall()
            gone = [(r[0], r[1]) for r in rows if r[0] not in keep]
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(
                    "UPDATE call_history SET ended = ?, saved = ?, body = ? WHERE id = ?",
                    [(now, now, json.dumps(closed(json.loads(b), now)), i) for i, b in gone])
                conn.execute("COMMIT")
            except sqlite3.Error:
                conn.execute("ROLLBACK")
                raise
            return len(gone)

        count = await self.db.call(run)
        self._open.intersection_update(keep)
        if count:
            log.info("history.closed_gone", calls=count)
        return count

    async def purge(self, now: float) -> int:
        """Drops the records that ended more than `retention` seconds before `now`."""
        cutoff = now - self.retention

        def run(conn: sqlite3.Connection) -> int:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute("DELETE FROM call_history_parties WHERE call_id IN (SELECT id FROM"
                             " call_history WHERE ended < ?)", (cutoff,))
                gone = conn.execute("DELETE FROM call_history WHERE ended < ?",
                                    (cutoff,)).rowcount
                conn.execute("COMMIT")
            except sqlite3.Error:
                conn.execute("ROLLBACK")
                raise
            return int(gone)

        gone = await self.db.call(run)
        if gone:
            log.info("history.purged", records=gone)
        return gone

    # -- reading -----------------------------------------------------------------------------

    async def search(self, q: HistoryQuery) -> tuple[list[dict[str, str]], int, list[Any]]:
        """(phoneCallStat, total, the page's record bodies) for `q`."""
        return await self.db.call(lambda c: _search(c, q))

    async def stats(self, q: HistoryQuery) -> list[dict[str, str]]:
        sql, params = _stats_sql(q, *_where(q))
        return stats(await self.db.fetchall(sql, params))


def _write(conn: sqlite3.Connection, batch: list[HistoryRecord], saved: float) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        for rec in batch:
            changed = conn.execute(_UPSERT, (
                rec.id, rec.extension, rec.published, rec.answered, rec.at, rec.ended, saved,
                rec.disposition, rec.flow, rec.nonce, json.dumps(rec.body))).rowcount
            if changed:
                conn.executemany(
                    "INSERT OR REPLACE INTO call_history_parties (call_id, party, role,"
                    " is_extension, at) VALUES (?,?,?,?,?)",
                    [(rec.id, p.key, p.role, int(p.is_extension), rec.at) for p in rec.parties])
        conn.execute("COMMIT")
    except sqlite3.Error:
        conn.execute("ROLLBACK")
        raise


def _like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _party_test(alias: str, f: PartyFilter, params: list[Any]) -> str:
    """SQL testing `alias` (a call_history_parties row) against `f`."""
    parts = []
    if f.role is not None:
        parts.append(f"{alias}.role = ?")
        params.append(f.role)
    if f.op == "inArray":
        values = [v.strip() for v in f.value.split(",") if v.strip()]
        parts.append(f"{alias}.party IN ({','.join('?' * len(values))})")
        params.extend(values)
    elif f.op == "equals":
        parts.append(f"{alias}.party = ?")
        params.append(f.value)
    else:
        pattern = _like(f.value) + "%" if f.op == "startsWith" else f"%{_like(f.value)}%"
        parts.append(f"{alias}.party LIKE ? ESCAPE '\\'")
        params.append(pattern)
    return " AND ".join(parts)


def _where(q: HistoryQuery) -> tuple[str, list[Any]]:
    """FROM ... WHERE ... for `q`; the first equals-party filter drives the scan, so that a
    page of one number's calls is read in index order. Every value is a `?` parameter; only
    column names and placeholders are formatted in (hence the S608 noqa)."""
    params: list[Any] = []
    at = "h.at"
    sql = "FROM call_history h"
    rest = list(q.parties)
    lead = next((f for f in rest if f.op == "equals" and f.role is not None), None)
    if lead is not None:
        rest.remove(lead)
        sql = ("FROM call_history_parties d JOIN call_history h ON h.id = d.call_id")
        at = "d.at"
    conds = ["h.ended IS NOT NULL"]
    if lead is not None:
        conds.insert(0, "d.party = ? AND d.role = ?")
        params.extend([lead.value, lead.role])
    for column, value, op in ((at, q.at_from, ">="), (at, q.at_to, "<="),
                              ("h.saved", q.saved_from, ">="), ("h.saved", q.saved_to, "<=")):
        if value is not None:
            conds.append(f"{column} {op} ?")
            params.append(value)
    for i, f in enumerate(rest):
        conds.append(f"EXISTS (SELECT 1 FROM call_history_parties p{i} WHERE "  # noqa: S608
                     f"p{i}.call_id = h.id AND {_party_test(f'p{i}', f, params)})")
    for column, value in (("h.disposition", q.disposition), ("h.flow", q.flow)):
        if value is not None:
            conds.append(f"{column} = ?")
            params.append(value)
    if q.date_filter is not None:
        column, op, when = q.date_filter
        sign = {"equals": "=", "greaterThan": ">", "lessThan": "<"}[op]
        conds.append(f"h.{column} {sign} ?")
        params.append(when)
    if q.scope is not None:
        marks = ",".join("?" * len(q.scope))
        conds.append(f"(h.extension IN ({marks}) OR EXISTS (SELECT 1 FROM call_history_parties"  # noqa: S608
                     f" s WHERE s.call_id = h.id AND s.party IN ({marks})))")
        params.extend([*sorted(q.scope), *sorted(q.scope)])
    return f"{sql} WHERE {' AND '.join(conds)}", params


def _stats_sql(q: HistoryQuery, where: str, params: list[Any]) -> tuple[str, list[Any]]:
    """(direction, disposition, count): outgoing when a source is in scope (an extension of
    the scope; any extension for an unscoped query)."""
    scope = sorted(q.scope) if q.scope is not None else []
    mine = ("o.is_extension = 1" if q.scope is None else
            f"o.party IN ({','.join('?' * len(scope))})")
    sql = (f"SELECT EXISTS (SELECT 1 FROM call_history_parties o WHERE o.call_id = h.id AND"  # noqa: S608
           f" o.role = 'source' AND {mine}) AS direction, h.disposition, COUNT(*) {where}"
           " GROUP BY 1, 2")
    return sql, [*scope, *params]


def _search(conn: sqlite3.Connection, q: HistoryQuery) -> tuple[list[dict[str, str]], int,
                                                                  list[Any]]:
    where, params = _where(q)
    phone_call_stat = stats(conn.execute(*_stats_sql(q, where, params)).fetchall())
    total = sum(int(s["total"]) for s in phone_call_stat)
    order = "d.at" if where.startswith("FROM call_history_parties d") else "h.at"
    direction = "DESC" if q.descending else "ASC"
    rows = conn.execute(
        f"SELECT h.body {where} ORDER BY {order} {direction}, h.id {direction}"
        " LIMIT ? OFFSET ?", [*params, q.count, q.start]).fetchall()
    return phone_call_stat, total, [json.loads(r[0]) for r in rows]
