"""The sandbox PostgreSQL (scripts/postgres-sandbox) for tests: a fresh schema per test.

Tests skip when it is not running, unless UAPI_PG_REQUIRED=1 (scripts/test sets it: there a
missing PostgreSQL is a failure, not a skip). UAPI_TEST_PG_URL points them at another server;
UAPI_TEST_PG_URL=none skips them without trying (scripts/check: the unit tier on SQLite alone).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import quote

import psycopg
import pytest

SANDBOX_URL = "postgresql://uapi:sandbox-secret@127.0.0.1:15432/uapi"
PG_URL = os.environ.get("UAPI_TEST_PG_URL", SANDBOX_URL)


async def _admin() -> psycopg.AsyncConnection[tuple[object, ...]]:
    if PG_URL == "none":
        pytest.skip("UAPI_TEST_PG_URL=none: no PostgreSQL for this run")
    try:
        return await psycopg.AsyncConnection.connect(PG_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        if os.environ.get("UAPI_PG_REQUIRED") == "1":
            pytest.fail(f"PostgreSQL not reachable ({exc}); run scripts/postgres-sandbox up")
        pytest.skip("PostgreSQL not reachable; run scripts/postgres-sandbox up")


@asynccontextmanager
async def schema_url() -> AsyncIterator[str]:
    """A URL whose connections see only a new, empty schema (dropped afterwards)."""
    name = f"test_{secrets.token_hex(6)}"
    async with await _admin() as admin:
        await admin.execute(f"CREATE SCHEMA {name}")
    try:
        yield f"{PG_URL}?options={quote(f'-csearch_path={name}')}"
    finally:  # a connection of its own: a test may have restarted the server
        async with await _admin() as admin:
            await admin.execute(f"DROP SCHEMA {name} CASCADE")
