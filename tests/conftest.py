"""Shared fixtures: a config like the demo one, and the real aiohttp app on loopback."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.web_runner import BaseRunner

from bridge import config as config_mod
from bridge.ami.message import ActionFields, AmiMessage
from bridge.ami.ports import AmiStats, ConnectHandler, EventHandler
from bridge.api.context import SERVICES, Services
from bridge.api.edge import Runner
from bridge.api.server import build_app
from bridge.app import build_services
from bridge.auth import TokenStore
from bridge.directory import Directory
from bridge.store.db import Database
from bridge.store.postgres import PostgresDatabase
from bridge.store.sqlite import SqliteDatabase
from tests.contract.openapi_check import ValidatingClient
from tests.pg import schema_url

ROOT = Path(__file__).resolve().parent.parent
CRM = "demo-crm-token-0123456789"
HELPDESK = "demo-helpdesk-token-0123456789"
ADMIN = "demo-admin-token-0123456789"


def shipped_config(tmp_path: Path, name: str = "demo.yaml") -> dict[str, Any]:
    """A config file of config/ as a plain dict, with storage in a temporary folder."""
    raw = yaml.safe_load((ROOT / "config" / name).read_text())
    raw["storage"]["path"] = str(tmp_path / "bridge.sqlite3")
    return copy.deepcopy(raw)


@pytest.fixture
def raw_config(tmp_path: Path) -> dict[str, Any]:
    """The demo config as a plain dict, with storage in a temporary folder."""
    return shipped_config(tmp_path)


@pytest.fixture
def config(raw_config: dict[str, Any]) -> config_mod.Config:
    """The parsed demo config."""
    return config_mod.parse(raw_config, env={})


class FakePort:
    """The AMI port (bridge.ami.ports.AmiPort) of API-only tests: records the actions sent and
    answers Success; the real link is tested apart (tests/ami, tests/system)."""

    def __init__(self) -> None:
        self.stats = AmiStats(connected=True, connect_attempts=1)
        self.sent: list[dict[str, Any]] = []
        self.events: list[EventHandler] = []
        self.connects: list[ConnectHandler] = []

    @property
    def connected(self) -> bool:
        return self.stats.connected

    @connected.setter
    def connected(self, value: bool) -> None:
        self.stats.connected = value

    async def send(
        self,
        action: ActionFields,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> AmiMessage:
        self.sent.append(dict(action))
        return AmiMessage({"Response": "Success"})

    async def send_list(
        self,
        action: ActionFields,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> list[AmiMessage]:
        self.sent.append(dict(action))
        return []

    def add_event_handler(self, handler: EventHandler) -> None:
        self.events.append(handler)

    def add_connect_handler(self, handler: ConnectHandler) -> None:
        self.connects.append(handler)

    def add_snapshot_hook(self, hook: Callable[[], None]) -> None:
        pass


class Clock:
    """A settable clock for token expiry."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class BridgeServer(TestServer):
    """aiohttp's TestServer with the bridge's own runner (api/edge.py), as the daemon runs."""

    async def _make_runner(self, **kwargs: Any) -> BaseRunner:
        return Runner(
            self.app, request_timeout=self.app[SERVICES].config.http.request_timeout, **kwargs
        )


@dataclass
class Api:
    client: TestClient[Any, Any]
    services: Services
    clock: Clock
    ami: AmiStats
    ports: dict[str, FakePort] = field(default_factory=dict)  # each node's (several nodes)

    def auth(self, token: str = CRM) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    @property
    def app(self) -> web.Application:
        """The aiohttp application being served."""
        app: Any = self.client.app  # aiohttp types it loosely
        assert isinstance(app, web.Application)
        return app

    @property
    def fake(self) -> FakePort:
        """The fake AMI port plugged in (see `plug`)."""
        pbx = self.services.nodes.first.pbx
        assert isinstance(pbx, FakePort)
        return pbx

    def plug(self, pbx: Any) -> None:
        """Puts another fake AMI port where the routes and use cases see it."""
        nodes = self.services.nodes
        nodes.plug(nodes.first.name, pbx)


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
        ports = {n.name: FakePort() for n in cfg.nodes}
        # The fake port sends no events: an answer waits 0.2 s at most for their effects.
        svc = build_services(cfg, db, ports, tokens=tokens, settle=0.2)
        # Every answer is checked against bridge/api/openapi.yaml (tests/contract).
        client: TestClient[Any, Any] = ValidatingClient(BridgeServer(build_app(svc)))
        await client.start_server()
        opened.append((client, db))
        return Api(client, svc, clock, svc.nodes.first.pbx.stats, ports)

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
