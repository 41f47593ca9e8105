"""The shared backend: PostgreSQL through psycopg 3 (async) and a psycopg-pool connection pool.

Several bridges may use one database: migrations run under an advisory lock, and LISTEN/NOTIFY
tells every bridge what another one changed. A lost server shows as `StoreUnavailable` until the
pool has connected again (it keeps trying by itself); a statement that failed on a connection
found dead is tried once more on a fresh one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import lru_cache
from typing import Any, TypeVar

import psycopg
import structlog
from psycopg_pool import AsyncConnectionPool, PoolClosed, PoolTimeout

from bridge.store.db import Database, Listener, Params, Session, Step, StoreError, StoreUnavailable
from bridge.store.migrations import POSTGRES
from bridge.store.sqlite import statements

log = structlog.get_logger("bridge.store")
T = TypeVar("T")
Conn = psycopg.AsyncConnection[tuple[Any, ...]]
MIGRATIONS = POSTGRES
MIGRATION_LOCK = 0x75617069  # pg_advisory_xact_lock key: bridges starting together migrate once
CONNECT_TIMEOUT = 5.0  # seconds to wait for a connection before answering store_unavailable
LISTEN_RETRY = (0.5, 5.0)  # backoff of the LISTEN connection (min, max seconds)


@lru_cache(maxsize=512)
def _sql(sql: str) -> str:
    """The store's `?` placeholders in psycopg's style (no store SQL holds a literal ? or %)."""
    return sql.replace("%", "%%").replace("?", "%s")


def _converted(exc: Exception, where: str) -> StoreError:
    if isinstance(exc, PoolClosed):
        return StoreError(f"{where}: database is not open")
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError | PoolTimeout | OSError):
        return StoreUnavailable(f"{where}: {exc}")
    return StoreError(f"{where}: {exc}")


def redacted(url: str) -> str:
    """The URL without its password (for logs and errors)."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    return (
        f"postgresql://{info.get('user', '')}@{info.get('host', '')}:{info.get('port', 5432)}"
        f"/{info.get('dbname', '')}"
    )


class PostgresDatabase(Database):
    backend = "postgresql"
    shared = True

    def __init__(self, url: str, max_size: int = 10) -> None:
        self.url = url
        self.where = redacted(url)
        self._pool = AsyncConnectionPool(
            url,
            min_size=1,
            max_size=max_size,
            open=False,
            timeout=CONNECT_TIMEOUT,
            reconnect_timeout=365 * 86400.0,
            kwargs={"autocommit": True},
            name="uapi-bridge",
        )

    async def open(self) -> None:
        try:
            await self._pool.open(wait=True, timeout=CONNECT_TIMEOUT)
            async with self._pool.connection() as conn:
                await migrate(conn)
        except (psycopg.Error, PoolTimeout, OSError) as exc:
            await self._pool.close()
            raise StoreError(f"cannot open {self.where}: {exc}") from exc

    async def close(self) -> None:
        await self._pool.close()

    async def _run(self, fn: Callable[[Conn], Awaitable[T]]) -> T:
        for attempt in (1, 2):
            try:
                return await self._once(fn, last=attempt == 2)
            except _Retry as retry:
                log.info("store.reconnecting", backend="postgresql", error=str(retry))
        raise AssertionError("unreachable")

    async def _once(self, fn: Callable[[Conn], Awaitable[T]], last: bool) -> T:
        """One try on a pooled connection; `_Retry` when that connection was found dead (a
        restarted server: the pool drops it and the next try gets a fresh one)."""
        try:
            async with self._pool.connection() as conn:
                try:
                    return await fn(conn)
                except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                    if last or not conn.broken:
                        raise
                    raise _Retry(str(exc)) from exc
        except (psycopg.Error, PoolTimeout, PoolClosed, OSError) as exc:
            raise _converted(exc, self.where) from exc

    async def execute(self, sql: str, params: Params = ()) -> int:
        async def run(conn: Conn) -> int:
            cur = await conn.execute(_sql(sql), params)
            return cur.rowcount

        return await self._run(run)

    async def fetchall(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        async def run(conn: Conn) -> list[tuple[Any, ...]]:
            cur = await conn.execute(_sql(sql), params)
            return await cur.fetchall()

        return await self._run(run)

    async def transaction(self, steps: Sequence[Step]) -> list[int]:
        async def run(conn: Conn) -> list[int]:
            counts = []
            async with conn.transaction():
                cur = conn.cursor()
                for sql, rows in steps:
                    if rows:
                        await cur.executemany(_sql(sql), rows)
                    counts.append(max(cur.rowcount, 0) if rows else 0)
            return counts

        return await self._run(run)

    def session(self) -> AbstractAsyncContextManager[Session]:
        return self._open_session()

    @asynccontextmanager
    async def _open_session(self) -> AsyncIterator[Session]:
        try:
            async with self._pool.connection() as conn, conn.transaction():
                yield _PgSession(conn, self.where)
        except (psycopg.Error, PoolTimeout, PoolClosed, OSError) as exc:
            raise _converted(exc, self.where) from exc

    async def notify(self, channel: str, payload: str) -> None:
        await self.execute("SELECT pg_notify(?, ?)", (channel, payload))

    async def listen(
        self, listeners: Mapping[str, Listener], resync: Callable[[], Awaitable[None]]
    ) -> None:
        delay = LISTEN_RETRY[0]
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.url, autocommit=True, connect_timeout=int(CONNECT_TIMEOUT)
                ) as conn:
                    for channel in listeners:
                        await conn.execute(f'LISTEN "{channel}"')
                    await resync()
                    delay = LISTEN_RETRY[0]
                    log.info("store.listening", channels=sorted(listeners))
                    async for note in conn.notifies():
                        await listeners[note.channel](note.payload)
            except (psycopg.Error, OSError, StoreError) as exc:
                log.warning("store.listen.lost", error=str(exc), retry_in=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, LISTEN_RETRY[1])


class _Retry(Exception):
    """The statement met a dead connection before the server could act on it."""


class _PgSession(Session):
    def __init__(self, conn: Conn, where: str) -> None:
        self.conn = conn
        self.where = where

    async def execute(self, sql: str, params: Params = ()) -> int:
        cur = await self.conn.execute(_sql(sql), params)
        return cur.rowcount

    async def fetchall(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        cur = await self.conn.execute(_sql(sql), params)
        return await cur.fetchall()

    async def serialize(self, key: int) -> None:
        await self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (key,))


async def migrate(conn: Conn) -> int:
    """Brings the schema to the newest version in one transaction; returns the version."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = await (await conn.execute("SELECT version FROM schema_version")).fetchone()
        if row is None:
            await conn.execute("INSERT INTO schema_version VALUES (0)")
        version = int(row[0]) if row else 0
        if version > len(MIGRATIONS):
            raise StoreError(
                f"database schema version {version} is newer than this bridge "
                f"knows ({len(MIGRATIONS)})"
            )
        for number in range(version, len(MIGRATIONS)):
            for statement in statements(MIGRATIONS[number]):
                await conn.execute(statement.encode())
            await conn.execute("UPDATE schema_version SET version = %s", (number + 1,))
            log.info("store.migrated", backend="postgresql", version=number + 1)
    return len(MIGRATIONS)
