"""The embedded backend: one SQLite file, one connection used from worker threads."""

from __future__ import annotations

import asyncio
import base64
import secrets
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import structlog

from bridge.store.db import Database, Params, Session, Step, StoreError
from bridge.store.migrations import SQLITE

log = structlog.get_logger("bridge.store")
T = TypeVar("T")
MIGRATIONS = SQLITE


class SqliteDatabase(Database):
    """Every statement runs in a worker thread, serialized by a lock (one writer anyway)."""

    backend = "sqlite"

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._gate = asyncio.Lock()  # an open session() holds it: nothing else runs inside

    def open_sync(self) -> None:
        """Opens (creating the folder) and migrates; called once at start-up."""
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=5000")
            migrate(conn)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open {self.path}: {exc}") from exc
        self._conn = conn

    async def open(self) -> None:
        await asyncio.to_thread(self.open_sync)

    def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._conn is None:
            raise StoreError("database is not open")
        with self._lock:
            try:
                return fn(self._conn)
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: {exc}") from exc

    async def call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Runs `fn(connection)` in a worker thread (after any open session)."""
        async with self._gate:
            return await asyncio.to_thread(self._run, fn)

    async def execute(self, sql: str, params: Params = ()) -> int:
        return await self.call(lambda c: c.execute(sql, params).rowcount)

    async def fetchall(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        return await self.call(lambda c: c.execute(sql, params).fetchall())

    async def transaction(self, steps: Sequence[Step]) -> list[int]:
        return await self.call(lambda c: _transaction(c, steps))

    def session(self) -> AbstractAsyncContextManager[Session]:
        return self._open_session()

    @asynccontextmanager
    async def _open_session(self) -> AsyncIterator[Session]:
        async with self._gate:
            await asyncio.to_thread(self._run, lambda c: c.execute("BEGIN IMMEDIATE"))
            try:
                yield _SqliteSession(self)
            except BaseException:
                await asyncio.to_thread(self._run, lambda c: c.execute("ROLLBACK"))
                raise
            await asyncio.to_thread(self._run, lambda c: c.execute("COMMIT"))

    async def close(self) -> None:
        await asyncio.to_thread(self.close_sync)

    def close_sync(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


class _SqliteSession(Session):
    def __init__(self, db: SqliteDatabase) -> None:
        self.db = db

    async def execute(self, sql: str, params: Params = ()) -> int:
        return await asyncio.to_thread(self.db._run, lambda c: c.execute(sql, params).rowcount)

    async def fetchall(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        return await asyncio.to_thread(self.db._run, lambda c: c.execute(sql, params).fetchall())

    async def execute_each(self, sql: str, rows: Sequence[Params]) -> list[int]:
        return await asyncio.to_thread(
            self.db._run, lambda c: [c.execute(sql, params).rowcount for params in rows]
        )


def _transaction(conn: sqlite3.Connection, steps: Sequence[Step]) -> list[int]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        counts = []
        for sql, rows in steps:
            before = conn.total_changes
            conn.executemany(sql, rows)
            counts.append(conn.total_changes - before)
        conn.execute("COMMIT")
    except sqlite3.Error:
        conn.execute("ROLLBACK")
        raise
    return counts


def migrate(conn: sqlite3.Connection) -> int:
    """Brings the schema to the newest version, one transaction per step; returns the version."""
    conn.create_function("random_base64", 1, _random_base64)
    version: int = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        raise StoreError(
            f"database schema version {version} is newer than this bridge knows ({len(MIGRATIONS)})"
        )
    for number in range(version, len(MIGRATIONS)):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in statements(MIGRATIONS[number]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number + 1}")
            conn.execute("COMMIT")
        except sqlite3.Error:
            conn.execute("ROLLBACK")
            raise
        log.info("store.migrated", backend="sqlite", version=number + 1)
    return len(MIGRATIONS)


def _random_base64(size: int) -> str:
    """SQL `random_base64(n)`: the base64 of n random bytes (new secrets in a migration)."""
    return base64.b64encode(secrets.token_bytes(size)).decode()


def statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
