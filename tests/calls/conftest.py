"""Fixtures of the use-case tests: the use cases as bridge.app builds them, over the demo
config's real Directory and a fake AMI port per node, without HTTP (as h11 tests its state
machine: requests in, decisions and AMI actions out)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bridge import config as config_mod
from bridge.api.context import Services
from bridge.app import build_services
from bridge.store.sqlite import SqliteDatabase
from bridge.tenants import App, User
from tests.conftest import FakePort, shipped_config


@dataclass
class World:
    """The services of one bridge and the fake port of each of its nodes."""

    svc: Services
    ports: dict[str, FakePort]

    def app(self, name: str) -> App:
        return self.svc.directory.apps[name]

    def user(self, user_id: str) -> User:
        return self.svc.directory.users[user_id]

    @property
    def port(self) -> FakePort:
        """The first node's port."""
        return self.ports[self.svc.nodes.first.name]

    def sent(self) -> list[dict[str, Any]]:
        """Every action any node was sent."""
        return [a for p in self.ports.values() for a in p.sent]


@pytest.fixture
async def make_world(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """Builds the services over a config of config/ (by file name), each node on a FakePort."""
    opened: list[tuple[Services, SqliteDatabase]] = []

    async def make(name: str = "demo.yaml") -> World:
        cfg = config_mod.parse(shipped_config(tmp_path, name), env={})
        db = SqliteDatabase(cfg.storage.path)
        await db.open()
        ports = {n.name: FakePort() for n in cfg.nodes}
        svc = build_services(cfg, db, dict(ports), settle=0.05)
        opened.append((svc, db))
        return World(svc, ports)

    yield make
    for svc, db in opened:
        await svc.calls.drain()
        await db.close()


@pytest.fixture
async def world(make_world: Callable[..., Any]) -> World:
    """One node: config/demo.yaml."""
    made: World = await make_world()
    return made


@pytest.fixture
async def cluster(make_world: Callable[..., Any]) -> World:
    """Two nodes joined by trunks: config/demo-cluster.yaml (410-413 live on node2)."""
    made: World = await make_world("demo-cluster.yaml")
    return made


def variables(action: dict[str, Any]) -> dict[str, str]:
    """An Originate's Variable headers as a dict."""
    return dict(v.split("=", 1) for v in action["Variable"])


def chan(uid: str, name: str, linkedid: str | None = None, caller: str = "") -> dict[str, str]:
    """A Newchannel event of a channel that is up."""
    return {
        "Event": "Newchannel",
        "Uniqueid": uid,
        "Linkedid": linkedid or uid,
        "Channel": name,
        "ChannelState": "6",
        "CallerIDNum": caller,
    }


def live_call(world: World, a: str = "210", b: str = "024", node: str = "") -> str:
    """A call between phones `a` and `b`, both up, in `node`'s tracker (default: the first's);
    returns its id."""
    tracker = world.svc.nodes[node or world.svc.nodes.first.name].tracker
    before = set(tracker.calls)
    tracker.apply(chan(f"9.{a}", f"PJSIP/{a}-0000000{a}", caller=a), 1000.0)
    tracker.apply(chan(f"9.{b}", f"PJSIP/{b}-0000000{b}", linkedid=f"9.{a}", caller=b), 1000.0)
    [call_id] = set(tracker.calls) - before
    return call_id
