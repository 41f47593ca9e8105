"""Shared fixtures: a config like the demo one, and the real aiohttp app on loopback."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.web_runner import BaseRunner

from bridge import config as config_mod
from bridge.api.context import SERVICES, Services
from bridge.api.edge import Runner
from bridge.api.server import build_app
from bridge.auth import TokenStore
from bridge.directory import Directory
from bridge.metrics import Metrics
from bridge.store.db import Database
from bridge.store.postgres import PostgresDatabase
from bridge.store.sqlite import SqliteDatabase
from tests.contract.openapi_check import ValidatingClient
from tests.pg import schema_url

ROOT = Path(__file__).resolve().parent.parent
CRM = "demo-crm-token-0123456789"
HELPDESK = "demo-helpdesk-token-0123456789"
ADMIN = "demo-admin-token-0123456789"


@pytest.fixture
def raw_config(tmp_path: Path) -> dict[str, Any]:
    """The demo config as a plain dict, with storage in a temporary folder."""
    raw = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    raw["storage"]["path"] = str(tmp_path / "bridge.sqlite3")
    return copy.deepcopy(raw)


@pytest.fixture
def config(raw_config: dict[str, Any]) -> config_mod.Config:
    """The parsed demo config."""
    return config_mod.parse(raw_config, env={})


@dataclass
class FakeAmiStats:
    """Stands in for the AMI client's stats in API-only tests (the real link is tested apart)."""

    connected: bool = True
    reconnects: int = 0
    connect_attempts: int = 1
    events_received: int = 0
    actions_sent: int = 0
    actions_timed_out: int = 0
    frames_malformed: int = 0


class Clock:
    """A settable clock for token expiry."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class BridgeServer(TestServer):
    """aiohttp's TestServer with the bridge's own runner (api/edge.py), as the daemon runs."""

    async def _make_runner(self, **kwargs: Any) -> BaseRunner:
        return Runner(self.app, request_timeout=self.app[SERVICES].config.http.request_timeout,
                      **kwargs)


@dataclass
class Api:
    client: TestClient[Any, Any]
    services: Services
    clock: Clock
    ami: FakeAmiStats

    def auth(self, token: str = CRM) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def make_api(config: config_mod.Config) -> AsyncIterator[Callable[..., Any]]:
    """Builds the real aiohttp app around a config (and optional DB path) and serves it."""
    opened: list[tuple[TestClient[Any, Any], Database]] = []

    async def make(cfg: config_mod.Config = config) -> Api:
        db = SqliteDatabase(cfg.storage.path)
        await db.open()
        directory = Directory(cfg)
        clock = Clock()
        tokens = TokenStore(directory, db, cfg.auth.token_ttl, clock=clock)
        await tokens.load()
        stats = FakeAmiStats()
        svc = Services(cfg, directory, tokens, Metrics(lambda: stats), db, ami=stats)
        # Every answer is checked against bridge/api/openapi.yaml (tests/contract).
        client: TestClient[Any, Any] = ValidatingClient(BridgeServer(build_app(svc)))
        await client.start_server()
        opened.append((client, db))
        return Api(client, svc, clock, stats)

    yield make
    for client, db in opened:
        await client.close()
        await db.close()


@pytest.fixture
async def api(make_api: Callable[..., Any]) -> Api:
    """The API over the demo config."""
    result: Api = await make_api()
    return result


@pytest.fixture(params=["sqlite", "postgresql"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """An open, migrated store of the test's own: a SQLite file, then a PostgreSQL schema
    (every store test runs on both backends)."""
    if request.param == "sqlite":
        database: Database = SqliteDatabase(tmp_path / "test.sqlite3")
        await database.open()
        yield database
        await database.close()
        return
    async with schema_url() as url:
        database = PostgresDatabase(url, max_size=4)
        await database.open()
        yield database
        await database.close()
