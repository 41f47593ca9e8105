"""The PostgreSQL backend: one schema for both backends, 503 store_unavailable while the
server is unreachable, and recovery by itself (the server behind a TCP proxy the test cuts)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from bridge.store.db import StoreError, StoreUnavailable
from bridge.store.postgres import PostgresDatabase
from bridge.store.sqlite import migrate
from tests.conftest import Api
from tests.pg import schema_url


class Proxy:
    """Forwards a local port to PostgreSQL; `cut()` drops every connection and the port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in list(self.writers):
            writer.transport.abort()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.writers |= {writer, up_writer}
        await asyncio.gather(
            _pipe(reader, up_writer), _pipe(up_reader, writer), return_exceptions=True
        )
        self.writers -= {writer, up_writer}


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.transport.abort()


@pytest.fixture
async def proxied() -> AsyncIterator[tuple[PostgresDatabase, Proxy]]:
    async with schema_url() as url:
        parts = urlsplit(url)
        proxy = Proxy((parts.hostname or "", parts.port or 5432))
        await proxy.start()
        netloc = f"{parts.username}:{parts.password}@127.0.0.1:{proxy.port}"
        db = PostgresDatabase(urlunsplit(parts._replace(netloc=netloc)), max_size=2)
        await db.open()
        yield db, proxy
        await db.close()
        if proxy.server is not None and proxy.server.is_serving():
            await proxy.cut()  # its listening socket, else a ResourceWarning (an error)


async def test_unreachable_then_back_by_itself(proxied: tuple[PostgresDatabase, Proxy]) -> None:
    """While the server is gone every call raises StoreUnavailable; then it works again."""
    db, proxy = proxied
    await db.execute("INSERT INTO oauth_tokens VALUES (?, ?, ?)", ("h", "crm", 1.0))
    await proxy.cut()
    with pytest.raises(StoreUnavailable):
        await db.fetchall("SELECT app FROM oauth_tokens")
    await proxy.start()  # same port
    for _ in range(50):
        try:
            assert await db.fetchall("SELECT app FROM oauth_tokens") == [("crm",)]
            break
        except StoreUnavailable:
            await asyncio.sleep(0.2)
    else:
        pytest.fail("the pool did not reconnect within 10 s")


async def test_api_answers_503_store_unavailable_and_healthz_503(
    api: Api, proxied: tuple[PostgresDatabase, Proxy]
) -> None:
    """An API request that needs the database, and /healthz, answer 503 while it is gone."""
    db, proxy = proxied
    svc = api.services
    svc.db, svc.tokens.db, svc.outbox.db = db, db, db
    await proxy.cut()
    resp = await api.client.get("/uapi/phoneCalls/@me/@self", headers=api.auth("unknown-token"))
    assert resp.status == 503
    assert (await resp.json())["error"]["code"] == "store_unavailable"
    health = await api.client.get("/healthz")
    assert (health.status, (await health.json())["store"]) == (503, "unavailable")


async def test_a_server_that_cannot_be_reached_fails_the_start() -> None:
    """open() on a closed port raises StoreError (systemd restarts the bridge)."""
    db = PostgresDatabase("postgresql://u:p@127.0.0.1:9/uapi?connect_timeout=1")
    with pytest.raises(StoreError, match=r"cannot open postgresql://u@127\.0\.0\.1:9/uapi"):
        await db.open()


async def test_both_backends_end_with_the_same_tables_and_columns(tmp_path: Path) -> None:
    """Every table (but PostgreSQL's own bookkeeping) has the same columns on both."""
    conn = sqlite3.connect(tmp_path / "s.sqlite3", isolation_level=None)
    migrate(conn)
    lite = {
        (t, c[1])
        for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        for c in conn.execute(f"PRAGMA table_info({t})")
    }
    async with schema_url() as url:
        db = PostgresDatabase(url, max_size=1)
        await db.open()
        pg = set(
            await db.fetchall(
                "SELECT table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = current_schema()"
            )
        )
        await db.close()
    shared_only = {t for t, _ in pg} - {t for t, _ in lite}
    assert shared_only == {"schema_version", "nonces"}
    assert {r for r in pg if r[0] not in shared_only} == lite
