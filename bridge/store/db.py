"""The store interface every store module uses, whatever the backend (SQLite or PostgreSQL).

SQL is written once, with `?` placeholders and the syntax both backends share (`INSERT ... ON
CONFLICT`, `RETURNING`); a statement that must differ picks by `db.backend`. Foreign errors are
converted here: `StoreUnavailable` when the database cannot be reached (the API answers 503
`store_unavailable`), `StoreError` for anything else.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Literal

from bridge.errors import BridgeError

Params = Sequence[Any]
Step = tuple[str, Sequence[Params]]  # one statement, run once per parameter row
Backend = Literal["sqlite", "postgresql"]
Listener = Callable[[str], Awaitable[None]]  # called with a notification's payload


class StoreError(BridgeError):
    """The database could not be opened, migrated or written."""


class StoreUnavailable(StoreError):
    """The database cannot be reached right now (the bridge keeps trying to reconnect)."""


class Session(ABC):
    """Statements inside one transaction (`Database.session()`), for read-then-write logic."""

    @abstractmethod
    async def execute(self, sql: str, params: Params = ()) -> int: ...

    @abstractmethod
    async def fetchall(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]: ...

    async def serialize(self, key: int) -> None:  # noqa: B027 (a no-op where one bridge writes)
        """Holds `key` until this transaction ends: the sessions of every bridge that ask for
        the same key run one after the other (PostgreSQL: an advisory transaction lock; SQLite
        has one connection, one session at a time already). For writers that touch the same
        rows in different orders, which would otherwise deadlock."""

    async def execute_each(self, sql: str, rows: Sequence[Params]) -> list[int]:
        """`execute` once per row, in order; the rows each changed. A backend may do it in one
        round trip (SQLite: one worker-thread hop for the lot, not one per row)."""
        return [await self.execute(sql, params) for params in rows]


class Database(ABC):
    """One store: opened and migrated at start, closed at shutdown."""

    backend: Backend
    shared = False  # True when several bridges may use it at once (PostgreSQL)

    @abstractmethod
    async def open(self) -> None:
        """Connects (creating what is missing) and migrates; raises StoreError."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def execute(self, sql: str, params: Params = ()) -> int:
        """Runs one statement in its own transaction; returns the number of rows changed."""

    @abstractmethod
    async def fetchall(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]: ...

    @abstractmethod
    async def transaction(self, steps: Sequence[Step]) -> list[int]:
        """Runs the steps in one transaction (all or nothing); returns the rows changed by
        each step (summed over its parameter rows)."""

    @abstractmethod
    def session(self) -> AbstractAsyncContextManager[Session]:
        """A transaction held across awaits (committed on exit, rolled back on an error)."""

    async def notify(self, channel: str, payload: str) -> None:  # noqa: B027 (optional: a no-op unless shared)
        """Tells every bridge on this database (no-op where only one bridge can be)."""

    async def listen(  # noqa: B027 (as notify)
        self,
        listeners: Mapping[str, Listener],
        resync: Callable[[], Awaitable[None]],
    ) -> None:
        """Calls `listeners[channel](payload)` for each notification until cancelled, and
        `resync()` after each (re)connection, when notifications may have been missed. Only
        shared backends notify: the others return at once."""
