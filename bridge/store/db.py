"""SQLite for state that must survive restarts: schema migrations and calls off the event loop."""

from __future__ import annotations

import asyncio
import base64
import secrets
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import structlog

from bridge.errors import BridgeError

log = structlog.get_logger(__name__)
T = TypeVar("T")

# Each entry moves the schema one version up (PRAGMA user_version). Append only: never edit one
# that has shipped, since a database already past it will not run it again.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE oauth_tokens (
        token_hash TEXT PRIMARY KEY,
        app TEXT NOT NULL,
        expires_at REAL NOT NULL
    );
    CREATE INDEX oauth_tokens_expiry ON oauth_tokens (expires_at);
    """,
    """
    CREATE TABLE calls (
        id TEXT PRIMARY KEY,
        extension TEXT NOT NULL,
        user_id TEXT NOT NULL,
        app TEXT NOT NULL,
        nonce TEXT,
        published TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE UNIQUE INDEX calls_nonce ON calls (app, nonce) WHERE nonce IS NOT NULL;
    """,
    # What the request asked for (sources, destinations, caller ids, allowPublicTransfer), so
    # a call still up after a restart is shown as before.
    """
    ALTER TABLE calls ADD COLUMN plan TEXT NOT NULL DEFAULT '{}';
    """,
    # PhoneCallEvents: registrations, the durable outbox of deliveries, the attempt log.
    """
    CREATE TABLE phone_call_events (
        id TEXT PRIMARY KEY,
        app TEXT NOT NULL,
        extension TEXT NOT NULL,
        type INTEGER NOT NULL,
        method INTEGER NOT NULL,
        url TEXT NOT NULL,
        note TEXT NOT NULL,
        status INTEGER NOT NULL,
        modified TEXT NOT NULL
    );
    CREATE INDEX phone_call_events_extension ON phone_call_events (extension, type);
    CREATE TABLE outbox (
        id TEXT PRIMARY KEY,
        event_id TEXT NOT NULL,
        dedup TEXT NOT NULL UNIQUE,
        call_id TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at REAL NOT NULL,
        next_at REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        state TEXT NOT NULL DEFAULT 'pending',
        last_status INTEGER,
        last_error TEXT
    );
    CREATE INDEX outbox_due ON outbox (state, next_at);
    CREATE TABLE deliveries (
        delivery_id TEXT NOT NULL,
        event_id TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        at REAL NOT NULL,
        status INTEGER,
        duration_ms REAL NOT NULL,
        error TEXT,
        outcome TEXT NOT NULL
    );
    CREATE INDEX deliveries_event ON deliveries (event_id, at);
    """,
    # Every registration signs with its own Standard Webhooks secret (`whsec_<base64>`);
    # retention purges by age.
    """
    ALTER TABLE phone_call_events ADD COLUMN secret TEXT NOT NULL DEFAULT '';
    UPDATE phone_call_events SET secret = 'whsec_' || random_base64(24) WHERE secret = '';
    CREATE INDEX deliveries_at ON deliveries (at);
    CREATE INDEX calls_created ON calls (created_at);
    """,
    # A nonce names a call only while it is live (the same nonce may place a new call once
    # that one ended), so it is no longer unique; the answers given to Idempotency-Key
    # requests are kept (24 hours) so that a retry gets the same answer after a restart.
    """
    DROP INDEX calls_nonce;
    CREATE INDEX calls_app_nonce ON calls (app, nonce) WHERE nonce IS NOT NULL;
    CREATE TABLE idempotency_keys (
        app TEXT NOT NULL,
        key TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        status INTEGER NOT NULL,
        content_type TEXT NOT NULL,
        body BLOB NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (app, key)
    );
    CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
    """,
)


class StoreError(BridgeError):
    """The database could not be opened, migrated or written."""


class Database:
    """One SQLite connection used from a worker thread; every call is serialized by a lock."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

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
        """Runs `fn(connection)` in a worker thread."""
        return await asyncio.to_thread(self._run, fn)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Runs one statement; returns the number of rows changed."""
        return await self.call(lambda c: c.execute(sql, params).rowcount)

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return await self.call(lambda c: c.execute(sql, params).fetchall())

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


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
            for statement in _statements(MIGRATIONS[number]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number + 1}")
            conn.execute("COMMIT")
        except sqlite3.Error:
            conn.execute("ROLLBACK")
            raise
        log.info("store.migrated", version=number + 1)
    return len(MIGRATIONS)


def _random_base64(size: int) -> str:
    """SQL `random_base64(n)`: the base64 of n random bytes (new secrets in a migration)."""
    return base64.b64encode(secrets.token_bytes(size)).decode()


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
