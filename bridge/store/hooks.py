"""PhoneCallEvent registrations, the outbox of deliveries, and the log of attempts.

Registrations are also held in memory (`Registrations`), because the tracker's effects are
matched against them inside the AMI reader, where nothing may wait for a disk; on a shared store
each change is NOTIFYed, and every bridge re-reads that registration (`refresh`).
The outbox is claimed with a lease (`owner`, `lease_until`): on a shared store a row whose lease
ran out (its bridge died) is claimed again by any bridge, with `FOR UPDATE SKIP LOCKED`.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import socket
import string
import time
from bisect import insort
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple
from urllib.parse import quote_plus

from bridge.store.db import Database

_ALPHABET = string.ascii_letters + string.digits
_EVENT_COLUMNS = (
    "id, app, extension, type, method, url, note, status, modified, secret, "
    "previous_secret, previous_expires, headers, max_rate, ordered, "
    "disabled_reason, health_from"
)
_PURGE_OUTBOX = (
    "DELETE FROM outbox WHERE rowid IN (SELECT rowid FROM outbox WHERE state IN "
    "('delivered', 'failed', 'skipped') AND next_at < ? LIMIT ?)"
)
_PURGE_ATTEMPTS = (
    "DELETE FROM deliveries WHERE rowid IN (SELECT rowid FROM deliveries WHERE at < ? LIMIT ?)"
)
ENABLED, DISABLED = 0, 1  # PhoneCallEvent.status as the seed pages define it
CHANGED_CHANNEL = "uapi_registrations"  # NOTIFY: the id of a registration written or deleted
_RETURNING = "RETURNING id, event_id, call_id, payload, created_at, next_at, attempts"
_TAKE = "UPDATE outbox SET state = 'sending', owner = ?, lease_until = ? WHERE id IN "
# An ordered row waits while an earlier one of its call, app and URL is not finished.
_IN_ORDER = (
    "(o.ordering = '' OR NOT EXISTS (SELECT 1 FROM outbox e WHERE e.ordering = "
    "o.ordering AND e.sequence < o.sequence AND e.state IN ('pending', 'sending')))"
)
_TAKE_SQLITE = (
    _TAKE + "(SELECT id FROM outbox o WHERE state = 'pending' AND next_at <= ? "  # noqa: S608
    f"AND {_IN_ORDER} ORDER BY next_at LIMIT ?) " + _RETURNING
)
_TAKE_SHARED = (
    _TAKE + "(SELECT id FROM outbox o WHERE ((state = 'pending' AND next_at <= ?) "  # noqa: S608
    f"OR (state = 'sending' AND lease_until < ?)) AND {_IN_ORDER} ORDER BY next_at "
    "LIMIT ? FOR UPDATE SKIP LOCKED) " + _RETURNING
)
_SKIPPED_ERROR = "registration disabled"
_SEQUENCES = 4096  # (app, call) counters remembered by a single bridge
_PURGE_SHARED = (
    "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE state IN "
    "('delivered', 'failed', 'skipped') AND next_at < ? LIMIT ?)",
    "DELETE FROM deliveries WHERE ctid IN (SELECT ctid FROM deliveries WHERE at < ? LIMIT ?)",
)


@functools.lru_cache(maxsize=8192)
def _quoted(text: str) -> str:
    """quote_plus, remembered: the names and most values of the parameters repeat."""
    return quote_plus(text)


def _form(params: dict[str, str]) -> str:
    """urlencode(params) for str names and values (the same bytes), with the quoting cached:
    urlencode was 12 % of the webhook path's profile (issue 28)."""
    return "&".join(f"{_quoted(str(k))}={_quoted(str(v))}" for k, v in params.items())


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
    previous_secret: str = field(default="", repr=False)  # still signs until previous_expires
    previous_expires: float = 0.0
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # values never logged
    max_rate: float = 0.0  # deliveries per second at most; 0: no limit
    ordered: bool = False
    disabled_reason: str = ""  # set when the bridge disabled it (health, 410 Gone)
    health_from: float = 0.0  # failures before this (its last re-enabling) do not count

    def signing_secrets(self, now: float) -> list[str]:
        """The current secret, then the previous one while its overlap lasts."""
        if self.previous_secret and self.previous_expires > now:
            return [self.secret, self.previous_secret]
        return [self.secret]

    @property
    def listening(self) -> bool:
        """Enabled, or disabled by the bridge (its events are kept as `skipped`)."""
        return self.status == ENABLED or bool(self.disabled_reason)


def _registration(row: tuple[Any, ...]) -> Registration:
    (
        id_,
        app,
        extension,
        type_,
        method,
        url,
        note,
        status,
        modified,
        secret,
        previous,
        previous_expires,
        headers,
        max_rate,
        ordered,
        reason,
        health_from,
    ) = row
    return Registration(
        id_,
        app,
        extension,
        type_,
        method,
        url,
        note,
        status,
        modified,
        secret,
        previous,
        float(previous_expires),
        tuple(json.loads(headers or "{}").items()),
        float(max_rate),
        bool(ordered),
        reason,
        float(health_from),
    )


def _row(reg: Registration) -> tuple[Any, ...]:
    return (
        reg.id,
        reg.app,
        reg.extension,
        reg.type,
        reg.method,
        reg.url,
        reg.note,
        reg.status,
        reg.modified,
        reg.secret,
        reg.previous_secret,
        reg.previous_expires,
        json.dumps(dict(reg.headers)),
        reg.max_rate,
        int(reg.ordered),
        reg.disabled_reason,
        reg.health_from,
    )


class Queued(NamedTuple):
    """A delivery to add: fired for one registration (`skipped` while the bridge keeps it
    disabled). `event` names the PhoneCallEvent (call, extension, type): its Sequence."""

    event_id: str
    dedup: str
    params: dict[str, str]
    app: str = ""
    event: str = ""
    ordering: str = ""  # app, URL and call of an ordered registration
    skipped: bool = False


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
        for reg in sorted((_registration(r) for r in rows), key=_modified):
            self._index(reg)

    async def refresh(self, event_id: str) -> None:
        """Re-reads one registration (another bridge changed or deleted it)."""
        rows = await self.db.fetchall(
            f"SELECT {_EVENT_COLUMNS} FROM phone_call_events WHERE id = ?",  # noqa: S608
            (event_id,),
        )
        self._unindex(event_id)
        if rows:
            self._index(_registration(rows[0]))

    def _index(self, reg: Registration) -> None:
        self.by_id[reg.id] = reg
        self._by_extension.setdefault(reg.extension, {})[reg.id] = reg
        if reg.listening:
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
        return sorted(
            (
                r
                for r in self._by_extension.get(extension, {}).values()
                if type_ is None or r.type == type_
            ),
            key=_modified,
        )

    def count(self, extension: str, app: str) -> int:
        """How many registrations `app` has on `extension` (every type and status)."""
        return sum(r.app == app for r in self._by_extension.get(extension, {}).values())

    def enabled(self, extension: str, type_: int) -> list[Registration]:
        return [r for r in self.listening(extension, type_) if r.status == ENABLED]

    def listening(self, extension: str, type_: int) -> list[Registration]:
        """The enabled ones and those the bridge disabled (whose events are kept)."""
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
        values = _row(reg)
        updates = ", ".join(f"{c} = excluded.{c}" for c in _EVENT_COLUMNS.split(", ")[1:])
        marks = ", ".join("?" * len(values))
        await self.db.execute(
            f"INSERT INTO phone_call_events ({_EVENT_COLUMNS}) "  # noqa: S608
            f"VALUES ({marks}) ON CONFLICT (id) DO UPDATE SET {updates}",
            values,
        )
        await self._announce([reg.id])

    async def delete(self, ids: Iterable[str]) -> None:
        ids = list(ids)
        await self.db.transaction(
            [("DELETE FROM phone_call_events WHERE id = ?", [(i,) for i in ids])]
        )
        for i in ids:
            self._unindex(i)
        await self._announce(ids)

    async def _announce(self, ids: list[str]) -> None:
        """Tells the other bridges on a shared store (each re-reads these registrations)."""
        if self.db.shared:
            for event_id in ids:
                await self.db.notify(CHANGED_CHANNEL, event_id)

    async def disable(self, event_id: str, modified: str, reason: str = "") -> bool:
        """Disables an enabled registration (`reason`: the bridge did, and why); False if it
        was not enabled (deleted, or disabled already)."""
        reg = self.by_id.get(event_id)
        if reg is None or reg.status != ENABLED:
            return False
        await self.save(replace(reg, status=DISABLED, modified=modified, disabled_reason=reason))
        return True


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
        self._sequences: OrderedDict[tuple[str, str], int] = OrderedDict()

    async def add(
        self, rows: Iterable[Queued | tuple[str, str, dict[str, str]]], now: float
    ) -> int:
        """Adds the rows whose dedup key was never seen (by any bridge), numbering each new
        PhoneCallEvent per app and call (`Sequence`, in the payload). A skipped row is kept
        finished, with one `skipped` line in the attempt log. Returns how many are new."""
        fresh = await self._fresh([r if isinstance(r, Queued) else Queued(*r) for r in rows])
        numbered = await self._number(fresh)
        if self.db.shared:  # bridges inserting the same keys lock them in one order
            numbered.sort(key=lambda item: item[1].dedup)
        counts = await self.db.transaction(
            [
                (
                    "INSERT INTO outbox (id, event_id, dedup, call_id, payload, created_at, "
                    "next_at, "
                    "state, app, sequence, ordering) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (dedup) DO NOTHING",
                    [
                        (
                            delivery_id,
                            row.event_id,
                            row.dedup,
                            row.params.get("CallID", ""),
                            _form({**row.params, "Sequence": str(seq)}),
                            now,
                            now,
                            "skipped" if row.skipped else "pending",
                            row.app,
                            seq,
                            row.ordering,
                        )
                        for delivery_id, row, seq in numbered
                    ],
                ),
                (
                    "INSERT INTO deliveries (delivery_id, event_id, attempt, at, status, "
                    "duration_ms, "
                    "error, outcome) VALUES (?, ?, 0, ?, NULL, 0, ?, 'skipped')",
                    [
                        (delivery_id, row.event_id, now, _SKIPPED_ERROR)
                        for delivery_id, row, _ in numbered
                        if row.skipped
                    ],
                ),
            ]
        )
        return counts[0]

    async def _fresh(self, rows: list[Queued]) -> list[Queued]:
        """The rows whose dedup key is neither in the store nor earlier in `rows`."""
        seen: set[str] = set()
        keys = list({row.dedup for row in rows})
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            found = await self.db.fetchall(
                f"SELECT dedup FROM outbox WHERE dedup IN ({', '.join('?' * len(chunk))})",  # noqa: S608
                tuple(chunk),
            )
            seen.update(r[0] for r in found)
        fresh = []
        for row in rows:
            if row.dedup not in seen:
                seen.add(row.dedup)
                fresh.append(row)
        return fresh

    async def _number(
        self,
        rows: list[Queued],
    ) -> list[tuple[str, Queued, int]]:
        """(delivery id, row, Sequence): each new event of an app's call numbered after the
        last one stored (rows of the same event, for several registrations, share it)."""
        numbered: list[tuple[str, Queued, int]] = []
        events: dict[tuple[str, str, str], int] = {}
        latest = await self._last({(r.app, r.params.get("CallID", "")) for r in rows})
        for row in rows:
            pair = (row.app, row.params.get("CallID", ""))
            seq = events.get((*pair, row.event or row.dedup))
            if seq is None:
                seq = latest[pair] = self._sequences[pair] = latest[pair] + 1
                self._sequences.move_to_end(pair)
                events[(*pair, row.event or row.dedup)] = seq
            numbered.append((secrets.token_hex(12), row, seq))
        while len(self._sequences) > _SEQUENCES:
            self._sequences.popitem(last=False)
        return numbered

    async def _last(self, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
        """The last Sequence given to each (app, call)'s events (0: none). Remembered by a
        single bridge; read from the store (one query per 500 calls) for those it does not
        remember, and always when bridges share it (another may have fired)."""
        last = dict.fromkeys(pairs, 0)
        unknown = set(pairs)
        if not self.db.shared:
            for pair in pairs & self._sequences.keys():
                last[pair] = self._sequences[pair]
                unknown.discard(pair)
        calls = sorted({call for _, call in unknown})
        for i in range(0, len(calls), 500):
            chunk = calls[i : i + 500]
            rows = await self.db.fetchall(
                "SELECT app, call_id, MAX(sequence) FROM outbox WHERE call_id IN "  # noqa: S608
                f"({', '.join('?' * len(chunk))}) GROUP BY app, call_id",
                tuple(chunk),
            )
            for app, call, seq in rows:
                if (app, call) in unknown:
                    last[(app, call)] = int(seq or 0)
        return last

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
                "AND lease_until < ?",
                (time.time() if now is None else now,),
            )
        return await self.db.execute("UPDATE outbox SET state = 'pending' WHERE state = 'sending'")

    async def release_mine(self) -> int:
        """At a clean stop: the rows this bridge claimed and did not finish are pending again
        (another bridge sends them at once, not after the lease)."""
        return await self.db.execute(
            "UPDATE outbox SET state = 'pending', owner = NULL, lease_until = NULL "
            "WHERE state = 'sending' AND owner = ?",
            (self.owner,),
        )

    async def next_due(self) -> float | None:
        """When the next delivery is due (or, shared, the next lease runs out)."""
        if self.db.shared:
            rows = await self.db.fetchall(
                "SELECT MIN(CASE WHEN state = 'pending' THEN next_at ELSE lease_until END) "
                "FROM outbox WHERE state IN ('pending', 'sending')"
            )
        else:
            rows = await self.db.fetchall("SELECT MIN(next_at) FROM outbox WHERE state = 'pending'")
        return rows[0][0] if rows and rows[0][0] is not None else None

    async def backlog(self, now: float) -> tuple[int, float | None]:
        """(deliveries due now and not being sent, when the oldest of them became due)."""
        rows = await self.db.fetchall(
            "SELECT COUNT(*), MIN(next_at) FROM outbox WHERE state = 'pending' AND next_at <= ?",
            (now,),
        )
        count, oldest = rows[0] if rows else (0, None)
        return int(count), oldest

    async def record(self, results: list[tuple[Delivery, dict[str, Any], str, float]]) -> None:
        """Logs attempts and moves their rows on (pending again, delivered, failed), all in
        one transaction: (delivery, {at, status, duration_ms, error}, state, next_at)."""

        await self.db.transaction(
            [
                (
                    "INSERT INTO deliveries (delivery_id, event_id, attempt, at, status, "
                    "duration_ms, "
                    "error, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            d.id,
                            d.event_id,
                            d.attempts + 1,
                            a["at"],
                            a["status"],
                            a["duration_ms"],
                            a["error"],
                            state,
                        )
                        for d, a, state, _ in results
                    ],
                ),
                (
                    "UPDATE outbox SET attempts = attempts + 1, state = ?, next_at = ?, "
                    "last_status = ?, last_error = ?, owner = NULL, lease_until = NULL WHERE id = "
                    "?",
                    [
                        (
                            "pending" if state == "retry" else state,
                            next_at,
                            a["status"],
                            a["error"],
                            d.id,
                        )
                        for d, a, state, next_at in results
                    ],
                ),
            ]
        )

    async def purge(self, before: float, chunk: int = 5000) -> int:
        """Deletes delivered and failed rows finished before `before`, and attempts logged
        before it, `chunk` rows per transaction (the writer is never held up long)."""
        total = 0
        for sql in (
            _PURGE_SHARED if self.db.backend == "postgresql" else (_PURGE_OUTBOX, _PURGE_ATTEMPTS)
        ):
            while True:
                done = await self.db.execute(sql, (before, chunk))
                total += done
                if done < chunk:
                    break
        return total

    async def attempts(self, event_id: str) -> list[dict[str, Any]]:
        rows = await self.db.fetchall(
            "SELECT delivery_id, attempt, at, status, duration_ms, error, outcome "
            "FROM deliveries WHERE event_id = ? ORDER BY at DESC",
            (event_id,),
        )
        keys = ("deliveryId", "attempt", "at", "status", "durationMs", "error", "outcome")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    async def skip(self, deliveries: list[Delivery], now: float) -> None:
        """Finishes taken rows as `skipped` (their registration is disabled): kept for
        `recover`, not sent."""
        await self.db.transaction(
            [
                (
                    "INSERT INTO deliveries (delivery_id, event_id, attempt, at, status, "
                    "duration_ms, "
                    "error, outcome) VALUES (?, ?, 0, ?, NULL, 0, ?, 'skipped')",
                    [(d.id, d.event_id, now, _SKIPPED_ERROR) for d in deliveries],
                ),
                (
                    "UPDATE outbox SET state = 'skipped', next_at = ?, owner = NULL, "
                    "lease_until = NULL WHERE id = ?",
                    [(now, d.id) for d in deliveries],
                ),
            ]
        )

    async def postpone(self, delivery: Delivery, at: float) -> None:
        """A taken row goes back to pending until `at` (not an attempt: maxRate)."""
        await self.db.execute(
            "UPDATE outbox SET state = 'pending', next_at = ?, owner = NULL, lease_until = NULL "
            "WHERE id = ?",
            (at, delivery.id),
        )

    async def replay(self, event_id: str, delivery_id: str, now: float) -> bool:
        """Queues one delivery of the registration again (a new series of attempts, the same
        id); False if there is no such delivery. One being sent right now is left to finish."""
        rows = await self.db.fetchall(
            "SELECT state FROM outbox WHERE id = ? AND event_id = ?", (delivery_id, event_id)
        )
        if not rows:
            return False
        await self.db.execute(
            "UPDATE outbox SET state = 'pending', attempts = 0, next_at = ?, owner = NULL, "
            "lease_until = NULL WHERE id = ? AND state <> 'sending'",
            (now, delivery_id),
        )
        return True

    async def recover(self, event_id: str, since: float, until: float, now: float) -> int:
        """Queues again every delivery of the registration created in [since, until] that was
        not delivered (failed, given up, skipped): due now, the oldest first (due times
        spread over the window's thousandth before now, in creation order)."""
        return await self.db.execute(
            "UPDATE outbox SET state = 'pending', attempts = 0, owner = NULL, lease_until = NULL, "
            "next_at = ? - (? - created_at) * 0.001 WHERE event_id = ? AND "
            "created_at >= ? AND created_at <= ? AND state IN ('failed', 'skipped')",
            (now, until, event_id, since, until),
        )

    async def health(self, event_id: str, since: float) -> tuple[float | None, int]:
        """(when its failing began, deliveries given up since): counted from its last
        successful attempt, or `since`, whichever is later; (None, 0) when nothing failed."""
        rows = await self.db.fetchall(
            "SELECT MAX(at) FROM deliveries WHERE event_id = ? AND outcome = 'delivered'",
            (event_id,),
        )
        start = max(since, float(rows[0][0] or 0.0)) if rows else since
        rows = await self.db.fetchall(
            "SELECT MIN(at), SUM(CASE WHEN outcome = 'failed' THEN 1 ELSE 0 END) FROM deliveries "
            "WHERE event_id = ? AND at > ? AND outcome IN ('failed', 'retry')",
            (event_id, start),
        )
        first, failed = rows[0] if rows else (None, 0)
        return (None if first is None else float(first)), int(failed or 0)
