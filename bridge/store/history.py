"""Call history in the store (either backend): written from the tracker's effects, searched.

A call gets an open row (ended NULL) when it starts and its final row when the tracker ends
it; a row that is ended is written again only by a record that knows more of the call
(`domain.history.knowledge`: several bridges on one store each record it, and the one that
saw less, e.g. restarted during the call, must not have the last word, nor the first).
After every (re)login the open rows of calls the tracker no longer knows (they ended while
the bridge was away) are closed with what is known (`closed`: disposition 4 where the end is
unknown). Writes are queued by the synchronous `sink` and written in order, in batches, by
`run_forever` (or `flush`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
from collections.abc import Callable, Collection
from typing import Any

import structlog

from bridge.domain.history import (
    ANSWERED,
    HistoryParty,
    HistoryRecord,
    closed,
    earliest,
    gone,
    merged,
    record,
    stats,
    with_parties,
)
from bridge.domain.model import Call, Effect
from bridge.errors import BridgeError
from bridge.store.db import Database, Session
from bridge.store.history_sql import HistoryQuery, page_sql, stats_sql, where

log = structlog.get_logger("bridge.history")
# Session.serialize key: the history writes of every bridge on one PostgreSQL, one at a time.
# Two bridges' batches upsert the same calls' rows in their own orders (one's open row, the
# other's end), and deadlocked: PostgreSQL aborted one every few minutes of the soak (issue 27).
WRITE_LOCK = 0x75617068
PURGE_EVERY = 3600.0  # seconds between purges
RETRY_AFTER = 1.0  # seconds between writes while the store is unreachable
_UPSERT = (
    "INSERT INTO call_history (id, extension, published, answered, at, ended, saved,"
    " disposition, flow, nonce, sources, destinations, src_ext, body, known)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
    " ON CONFLICT (id) DO UPDATE SET extension=excluded.extension, answered=excluded.answered,"
    " at=excluded.at, ended=excluded.ended, saved=excluded.saved,"
    " disposition=excluded.disposition, flow=excluded.flow, nonce=excluded.nonce,"
    " sources=excluded.sources, destinations=excluded.destinations, src_ext=excluded.src_ext,"
    " body=excluded.body, known=excluded.known WHERE (call_history.ended IS NULL"
    " AND (excluded.ended IS NOT NULL OR excluded.known >= call_history.known))"
    " OR (excluded.ended IS NOT NULL AND excluded.known > call_history.known)"
)
# An open row gives way to the final record (merged with it first, `_merge`) and to an open
# record that knows as much (the same bridge, a step on), not to one that knows less: another
# bridge's, found at a resync after some of the call was over (issue 27).
_FORGET_PARTIES = "DELETE FROM call_history_parties WHERE call_id = ?"
# The parties of a call that ended, copied from its call_history row.
_PARTIES = (
    "INSERT INTO call_history_parties (party, role, at, call_id, extension, saved,"
    " disposition, flow, sources, destinations, src_ext)"
    " SELECT ?, ?, at, id, extension, saved, disposition, flow, sources, destinations, src_ext"
    " FROM call_history WHERE id = ?"
    " ON CONFLICT (party, role, at, call_id) DO UPDATE SET extension=excluded.extension,"
    " saved=excluded.saved, disposition=excluded.disposition, flow=excluded.flow,"
    " sources=excluded.sources, destinations=excluded.destinations, src_ext=excluded.src_ext"
)


class HistoryStore:
    """The call history of one bridge: queue of writes, queries, retention."""

    def __init__(
        self, db: Database, retention: float, clock: Callable[[], float] = time.time
    ) -> None:
        self.db = db
        self.retention = retention
        self.clock = clock
        self._pending: list[HistoryRecord] = []
        self._open: set[str] = set()  # calls that have an open row queued or written
        self._wake = asyncio.Event()
        self._writing = asyncio.Lock()  # batches are written in the order they were queued
        self.closed_sinks: list[Callable[[list[Effect]], None]] = []  # what close_gone closed

    # -- intake (synchronous: called with the tracker's effects) -----------------------------

    def sink(self, effects: list[Effect]) -> None:
        """Queues the record of each call these effects open, change or end: once per call,
        since they all see it as it now stands (a resync's effects named each call about
        three times, and built as many identical records: issue 28). A party's answer and
        its leave are written as they happen: a bridge that dies takes nothing it saw with it
        (issue 27: a party that left a parked call had its leave lost with the bridge)."""
        chosen: dict[int, Call] = {}  # by identity, in the order of their first effect
        for effect in effects:
            call = effect.call
            if call is None:
                continue
            if effect.kind == "ended":
                self._open.discard(call.id)
            elif effect.kind in ("answered", "left") or (
                effect.kind == "joined" and call.id not in self._open
            ):
                self._open.add(call.id)
            else:
                continue
            chosen.setdefault(id(call), call)
        if chosen:
            self._pending.extend(record(call) for call in chosen.values())
            self._wake.set()

    # -- writing -----------------------------------------------------------------------------

    async def flush(self) -> int:
        """Writes what is queued, in one transaction; returns the records written."""
        async with self._writing:
            batch, self._pending = self._pending, []
            self._wake.clear()
            if batch:
                saved = self.clock()
                try:
                    async with self.db.session() as session:
                        await session.serialize(WRITE_LOCK)
                        await _write(session, batch, saved)
                except BridgeError:
                    self._pending[:0] = batch  # kept, in order, for when the store is back
                    raise
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
                log.exception("history.write_failed", queued=len(self._pending))
                await asyncio.sleep(RETRY_AFTER)  # the store is away: try again shortly
                self._wake.set()

    async def close_gone(self, live: Callable[[], Collection[str]], before: float) -> int:
        """Closes the open rows of calls that began before `before` (the oldest snapshot of
        the nodes' resyncs) and are not `live()` now: they ended while nobody watched. `live`
        is asked after the queued writes and the read: a call that began meanwhile (its open
        row written by that very flush, or by another bridge) was not missed, it is newer than
        the snapshots (found by the soak, issue 27: calls placed during a node's resync were
        closed at once, 0 s)."""
        await self.flush()
        now = self.clock()
        rows = await self.db.fetchall(
            "SELECT id, body, sources, destinations FROM call_history"
            " WHERE ended IS NULL AND published < ?",
            (before,),
        )
        keep = set(live())
        found = [r for r in rows if r[0] not in keep]
        closed_now = []
        if found:
            async with self.db.session() as session:  # another bridge may close them too
                await session.serialize(WRITE_LOCK)
                for cid, body, sources, destinations in found:
                    final = closed(json.loads(body), now)
                    if not await session.execute(
                        "UPDATE call_history SET ended = ?, saved = ?, body = ?"
                        " WHERE id = ? AND ended IS NULL",
                        (now, now, json.dumps(final), cid),
                    ):
                        continue
                    closed_now.append(final)
                    for role, joined in (("source", sources), ("destination", destinations)):
                        for party in _split(joined):
                            await session.execute(_PARTIES, (party, role, cid))
        effects = [e for body in closed_now for e in gone(body)]
        for sink in self.closed_sinks if effects else ():
            sink(effects)
        count = len(closed_now)
        self._open.intersection_update(keep)
        if count:
            log.info("history.closed_gone", calls=count)
        return count

    async def purge(self, now: float) -> int:
        """Drops the records that ended more than `retention` seconds before `now`."""
        cutoff = now - self.retention
        _, gone = await self.db.transaction(
            [
                (
                    "DELETE FROM call_history_parties WHERE call_id IN (SELECT id FROM call_history"
                    " WHERE ended < ?)",
                    [(cutoff,)],
                ),
                ("DELETE FROM call_history WHERE ended < ?", [(cutoff,)]),
            ]
        )
        if gone:
            log.info("history.purged", records=gone)
        return gone

    # -- reading -----------------------------------------------------------------------------

    async def search(self, q: HistoryQuery) -> tuple[list[dict[str, str]], int, list[Any]]:
        """(phoneCallStat, total, the page's record bodies) for `q`."""
        async with self.db.session() as session:  # the page and its statistics agree
            return await _search(session, q)

    async def stats(self, q: HistoryQuery) -> list[dict[str, str]]:
        sql, params = stats_sql(q, where(q))
        return stats(await self.db.fetchall(sql, params))


def _joined(keys: list[str]) -> str:
    return f",{','.join(keys)}," if keys else ""


def _split(joined: str) -> list[str]:
    return [k for k in joined.split(",") if k]


async def _merge(session: Session, rec: HistoryRecord) -> HistoryRecord | None:
    """An ended record of a call that has a row already: the record to write, the
    better-informed of the two with what it lacks taken from the other; None when the stored
    one stays (completed in place if the new one knew more of a party). An open row is always
    replaced, but what it knew is kept: its bridge may have died before the end (found by the
    soak, issue 27: 410 left a transferred call, the bridge that saw it answer was killed, the
    restarted one wrote 410 unanswered)."""
    rows = await session.fetchall(
        "SELECT body, known, answered, published, sources, destinations, ended"
        " FROM call_history WHERE id = ?",
        (rec.id,),
    )
    if not rows:
        return rec
    body, known, answered, published, sources, destinations, ended = rows[0]
    stored = json.loads(body)
    if rec.known > known or ended is None:
        first = earliest(rec.answered, answered)  # as `merged` dates the body's answer
        disposition = ANSWERED if first is not None else rec.disposition
        body = merged(rec.body, stored)
        return dataclasses.replace(
            rec,
            body=body,
            answered=first,
            disposition=disposition,
            parties=with_parties(rec.parties, body),
        )
    kept = merged(stored, rec.body)
    if kept != stored:
        first = earliest(answered, rec.answered)
        at = first if first is not None else published
        had = [
            HistoryParty(key, role, "*" in key)
            for role, joined in (("source", sources), ("destination", destinations))
            for key in _split(joined)
        ]
        parties = with_parties(had, kept)
        answer = ", disposition = ?" if first is not None else ""  # answered, as its body says
        params = (
            json.dumps(kept),
            first,
            at,
            *_columns(parties),
            *((ANSWERED,) if first is not None else ()),
        )
        await session.execute(
            "UPDATE call_history SET body = ?, answered = ?, at = ?, sources = ?,"  # noqa: S608 - only placeholders
            f" destinations = ?, src_ext = ?{answer} WHERE id = ?",
            (*params, rec.id),
        )
        await session.execute(_FORGET_PARTIES, (rec.id,))
        for party in parties:
            await session.execute(_PARTIES, (party.key, party.role, rec.id))
    return None


async def _write(session: Session, batch: list[HistoryRecord], saved: float) -> None:
    """Open records' upserts in one round trip; then each ended record merged with its row
    (`_merge`: the better-informed record is kept, issue 27) and those upserted in one more;
    then the parties of the rows the batch ended (one hop per record held the store for a
    whole backlog at 100,000 calls, issue 28)."""
    opened = [rec for rec in batch if rec.ended is None]
    if opened:
        await session.execute_each(_UPSERT, [_row(rec, saved) for rec in opened])
    ending = []
    for next_rec in batch:
        if next_rec.ended is not None:
            rec = await _merge(session, next_rec)
            if rec is not None:
                ending.append(rec)
    if not ending:
        return
    changed = await session.execute_each(_UPSERT, [_row(rec, saved) for rec in ending])
    done = [rec for rec, count in zip(ending, changed, strict=True) if count]
    if done:
        await session.execute_each(_FORGET_PARTIES, [(rec.id,) for rec in done])
        await session.execute_each(
            _PARTIES, [(p.key, p.role, rec.id) for rec in done for p in rec.parties]
        )


def _columns(parties: Collection[HistoryParty]) -> tuple[str, str, int]:
    """The `sources`, `destinations` and `src_ext` columns of a call's parties."""
    sources = [p for p in parties if p.role == "source"]
    dests = [p.key for p in parties if p.role != "source"]
    src_ext = any(p.is_extension for p in sources)
    return _joined([p.key for p in sources]), _joined(dests), int(src_ext)


def _row(rec: HistoryRecord, saved: float) -> tuple[Any, ...]:
    """The `_UPSERT` parameters of a record."""
    return (
        rec.id,
        rec.extension,
        rec.published,
        rec.answered,
        rec.at,
        rec.ended,
        saved,
        rec.disposition,
        rec.flow,
        rec.nonce,
        *_columns(rec.parties),
        json.dumps(rec.body),
        rec.known,
    )


async def _search(session: Session, q: HistoryQuery) -> tuple[list[dict[str, str]], int, list[Any]]:
    s = where(q)
    phone_call_stat = stats(await session.fetchall(*stats_sql(q, s)))
    total = sum(int(x["total"]) for x in phone_call_stat)
    rows = await session.fetchall(*page_sql(q, s)) if total else []
    return phone_call_stat, total, [json.loads(r[0]) for r in rows]
