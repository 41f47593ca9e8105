"""Fixtures for the AMI client tests: the fake server, a client wired to it, polling helpers."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Callable, Iterator, MutableMapping
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
import structlog

from bridge.ami import client as client_module
from bridge.ami.client import AmiClient
from bridge.config import AmiConfig
from tests.polling import until

from .fake_ami import FakeAmi

EVENTS = ("Newchannel", "Newstate", "Hangup", "OriginateResponse", "UserEvent")


def ami_config(port: int, **changes: Any) -> AmiConfig:
    """Small timeouts so that every fault shows within a fraction of a second."""
    base = AmiConfig(
        host="127.0.0.1",
        port=port,
        username="uapi",
        secret="s3cret",
        action_timeout=1.0,
        ping_interval=0.2,
        ping_timeout=0.4,
        reconnect_min=0.02,
        reconnect_max=0.1,
    )
    return replace(base, **changes)


@dataclass
class Seen:
    """What the client's handlers were called with."""

    events: list[Any] = field(default_factory=list)
    connects: list[list[Any]] = field(default_factory=list)
    disconnects: list[str] = field(default_factory=list)

    def named(self, name: str) -> list[Any]:
        return [e for e in self.events if e.get("Event") == name]

    def attach(self, client: AmiClient) -> None:
        async def on_connect(channels: list[Any]) -> None:
            self.connects.append(channels)

        client.add_event_handler(self.events.append)
        client.add_connect_handler(on_connect)
        client.add_disconnect_handler(self.disconnects.append)


@pytest.fixture(autouse=True)
async def no_loop_errors() -> AsyncIterator[None]:
    """Fails a test that left un-retrieved exceptions or destroyed pending tasks behind."""
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    yield
    gc.collect()
    await asyncio.sleep(0)
    loop.set_exception_handler(None)
    assert not errors, errors


@pytest.fixture
def logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[MutableMapping[str, Any]]]:
    """Every structlog event the AMI client logs during the test."""
    with structlog.testing.capture_logs() as captured:
        # a fresh logger, in case an earlier test configured structlog to cache loggers
        monkeypatch.setattr(client_module, "log", structlog.get_logger(client_module.__name__))
        yield captured


@pytest.fixture
async def fake() -> AsyncIterator[FakeAmi]:
    """A running fake AMI server."""
    server = FakeAmi()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
def seen() -> Seen:
    """Records handler calls."""
    return Seen()


@pytest.fixture
async def make_client(fake: FakeAmi, seen: Seen) -> AsyncIterator[Callable[..., AmiClient]]:
    """Builds clients on the fake server (handlers attached to `seen`); closes them at the end."""
    made: list[AmiClient] = []

    def make(**changes: Any) -> AmiClient:
        client = AmiClient(ami_config(fake.port, **changes), events=EVENTS, name="test")
        seen.attach(client)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


@pytest.fixture
async def client(make_client: Callable[..., AmiClient], seen: Seen) -> AmiClient:
    """A started client, logged in and resynced once."""
    ami = make_client()
    await ami.start()
    assert await ami.wait_connected(3.0)
    await until(lambda: seen.connects, what="first resync")
    return ami
