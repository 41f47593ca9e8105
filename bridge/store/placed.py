"""Calls placed through the API: their ids (found again after a restart) and their nonces.

A nonce names the call it came with while that call is live: the same app sending the same
nonce again gets that call back; once the call has ended the nonce places a new one (4PSA's
MCP server sends one nonce for every call of a session). Strict retries are Idempotency-Key's.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

import structlog

from bridge.domain.model import CallMeta
from bridge.domain.views import iso
from bridge.errors import BridgeError
from bridge.store.db import Database, Session, Step

log = structlog.get_logger("bridge.calls")
NONCE_WINDOW = 24 * 3600  # calls older than this are not looked up by nonce after a restart
CLAIM_GRACE = 15.0  # a nonce claimed this recently on another bridge names a call being placed
Live = Callable[[str], bool]  # is the call with this id still live (the tracker knows)?
_COLUMNS = "id, extension, user_id, app, nonce, published, created_at, plan"


@dataclass(frozen=True)
class PlacedCall:
    id: str
    extension: str
    user_id: str
    app: str
    nonce: str | None
    published: str
    created_at: float
    plan: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, call_id: str, meta: CallMeta) -> PlacedCall:
        """The row of a call the API placed, from what the domain knows of it."""
        plan = {
            "sources": list(meta.sources),
            "destinations": list(meta.destinations),
            "source_caller_id": meta.source_caller_id,
            "destination_caller_id": meta.destination_caller_id,
            "allow_public_transfer": meta.allow_public_transfer,
        }
        return cls(
            call_id,
            meta.extension,
            meta.user_id,
            meta.app,
            meta.nonce,
            iso(meta.published),
            meta.published,
            plan,
        )

    def meta(self) -> CallMeta:
        """What the call tracker needs to show this call as requested."""
        p = self.plan
        return CallMeta(
            self.extension,
            self.user_id,
            self.app,
            self.nonce,
            self.created_at,
            tuple(p.get("sources", ())),
            tuple(p.get("destinations", ())),
            str(p.get("source_caller_id", "")),
            str(p.get("destination_caller_id", "")),
            bool(p.get("allow_public_transfer", False)),
        )


def _row(row: tuple[Any, ...]) -> PlacedCall:
    cid, ext, user_id, app, nonce, published, created_at, plan = row
    return PlacedCall(
        cid, ext, user_id, app, nonce, published, created_at, json.loads(plan or "{}")
    )


class CallStore:
    """Placed calls in the store, with the latest call of each (app, nonce) held in memory.

    The nonce check is in memory and synchronous, so two racing requests cannot both pass it,
    and the row can be written while the Originate is on its way (the make-call latency is
    then the larger of the two, not their sum). On a shared store (several bridges) `claim`
    also claims the nonce in the database, so that two bridges racing place one call.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self._nonces: dict[tuple[str, str], PlacedCall] = {}
        self._prune_at = 1024  # entries in _nonces before the ended calls are dropped
        self._saving: set[asyncio.Task[None]] = set()

    async def load(self, now: float) -> None:
        """The latest call of each nonce placed within NONCE_WINDOW (the live ones matter)."""
        rows = await self.db.fetchall(
            f"SELECT {_COLUMNS} FROM calls WHERE nonce IS NOT NULL AND created_at >= ?"  # noqa: S608
            " ORDER BY created_at",
            (now - NONCE_WINDOW,),
        )
        self._nonces = {(r[3], r[4]): _row(r) for r in rows}  # the newest wins

    def reuse(self, app: str, nonce: str | None, live: Live) -> PlacedCall | None:
        """The call this app placed with this nonce, while it is live."""
        if nonce is None:
            return None
        placed = self._nonces.get((app, nonce))
        if placed is None or not live(placed.id):
            return None
        return placed

    def hold(self, call: PlacedCall, live: Live) -> None:
        """Reserves the call's nonce (before any await, so a racing request sees it)."""
        if call.nonce is None:
            return
        self._nonces[(call.app, call.nonce)] = call
        if len(self._nonces) > self._prune_at:  # amortized: ended calls' nonces are free
            self._nonces = {k: c for k, c in self._nonces.items() if live(c.id)}
            self._prune_at = max(1024, 2 * len(self._nonces))

    async def claim(self, call: PlacedCall, live: Live, now: float) -> PlacedCall:
        """The call to answer with: the live call this app placed with this nonce (on any
        bridge sharing the store), else `call`, whose nonce is then held (and claimed)."""
        placed = self.reuse(call.app, call.nonce, live)
        if placed is not None:
            return placed
        self.hold(call, live)
        if call.nonce is None or not self.db.shared:
            return call
        try:
            async with self.db.session() as session:
                winner = await _claim(session, call, live, now)
        except BaseException:
            self._nonces.pop((call.app, call.nonce), None)
            raise
        self._nonces[(call.app, call.nonce)] = winner
        return winner

    async def save(self, call: PlacedCall) -> None:
        await self.db.execute(
            f"INSERT INTO calls ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"  # noqa: S608
            " ON CONFLICT (id) DO NOTHING",
            _values(call),
        )

    def save_soon(self, call: PlacedCall) -> asyncio.Task[None]:
        """Writes the call in the background; a failure is logged (the call rings anyway)."""
        task = asyncio.create_task(self._save_logged(call))
        self._saving.add(task)
        task.add_done_callback(self._saving.discard)
        return task

    async def _save_logged(self, call: PlacedCall) -> None:
        try:
            await self.save(call)
        except BridgeError:
            log.exception(
                "call.store.failed",
                call_id=call.id,
                effect="after a restart this call is shown without its request",
            )

    async def drain(self) -> None:
        """Waits for the rows still being written (at shutdown)."""
        if self._saving:
            await asyncio.gather(*self._saving, return_exceptions=True)

    async def forget(self, call: PlacedCall) -> None:
        """Drops a call whose Originate Asterisk refused, so its nonce can be used again."""
        if call.nonce is not None and self._nonces.get((call.app, call.nonce)) is call:
            del self._nonces[(call.app, call.nonce)]
        steps: list[Step] = [("DELETE FROM calls WHERE id = ?", [(call.id,)])]
        if self.db.shared and call.nonce is not None:
            steps.append(
                (
                    "DELETE FROM nonces WHERE app = ? AND nonce = ? AND call_id = ?",
                    [(call.app, call.nonce, call.id)],
                )
            )
        await self.db.transaction(steps)

    async def find(self, ids: Collection[str]) -> dict[str, PlacedCall]:
        return await find(self.db, ids)

    async def purge(self, now: float, live: Collection[str]) -> int:
        """Drops the nonces older than the window and the rows of those calls, except the rows
        of calls in `live` (still up: shown as requested after a restart), whose nonce only
        is cleared. Returns the rows deleted."""
        cutoff = now - NONCE_WINDOW
        for key in [k for k, c in self._nonces.items() if c.created_at < cutoff]:
            del self._nonces[key]
        keep = set(live)

        old = [
            r[0]
            for r in await self.db.fetchall("SELECT id FROM calls WHERE created_at < ?", (cutoff,))
        ]
        steps: list[Step] = [
            ("DELETE FROM calls WHERE id = ?", [(i,) for i in old if i not in keep]),
            (
                "UPDATE calls SET nonce = NULL WHERE created_at < ? AND nonce IS NOT NULL",
                [(cutoff,)],
            ),
        ]
        if self.db.shared:
            steps.append(("DELETE FROM nonces WHERE created_at < ?", [(cutoff,)]))
        counts = await self.db.transaction(steps)
        return counts[0]


def _values(call: PlacedCall) -> tuple[Any, ...]:
    return (
        call.id,
        call.extension,
        call.user_id,
        call.app,
        call.nonce,
        call.published,
        call.created_at,
        json.dumps(call.plan),
    )


async def _claim(session: Session, call: PlacedCall, live: Live, now: float) -> PlacedCall:
    """In one transaction: the nonce's row is ours (new, or its call has ended), or it names
    a call still live or being placed, which is the answer."""
    taken = await session.execute(
        "INSERT INTO nonces (app, nonce, call_id, created_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (app, nonce) DO NOTHING",
        (call.app, call.nonce, call.id, now),
    )
    if not taken:
        rows = await session.fetchall(
            "SELECT call_id, created_at FROM nonces WHERE app = ? AND nonce = ? FOR UPDATE",
            (call.app, call.nonce),
        )
        held, claimed_at = rows[0]
        if live(held) or claimed_at > now - CLAIM_GRACE:
            found = await session.fetchall(f"SELECT {_COLUMNS} FROM calls WHERE id = ?", (held,))  # noqa: S608
            if found:
                return _row(found[0])
        await session.execute(
            "UPDATE nonces SET call_id = ?, created_at = ? WHERE app = ? AND nonce = ?",
            (call.id, now, call.app, call.nonce),
        )
    await session.execute(
        f"INSERT INTO calls ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"  # noqa: S608
        " ON CONFLICT (id) DO NOTHING",
        _values(call),
    )
    return call


async def find(db: Database, ids: Collection[str]) -> dict[str, PlacedCall]:
    """The API calls among `ids` (the live calls at a resync)."""
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    rows = await db.fetchall(
        f"SELECT {_COLUMNS} FROM calls WHERE id IN ({marks})",  # noqa: S608
        tuple(ids),
    )
    return {row[0]: _row(row) for row in rows}
