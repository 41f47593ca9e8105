"""The API with a calls feed driving its live hub, and a small SSE reader for the tests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from bridge import config as config_mod
from bridge.ami.message import AmiMessage
from bridge.api.stream import HUB
from bridge.feeds.calls import CallsFeed
from bridge.live.hub import Hub
from tests.api.conftest import FakePbx
from tests.conftest import CRM, Api
from tests.domain.replay import T0, load

OTHER = "other-org-token-0123456789"  # an app of organization 4 (extension 0004*300)
URL = "/uapi/phoneCalls/@me/@self/stream"


@dataclass
class Event:
    kind: str
    id: str | None
    data: Any

    @property
    def seq(self) -> int:
        """The hub's sequence number in the id (`{epoch}-{seq}`); 0 for an event without one."""
        return int(self.id.rsplit("-", 1)[1]) if self.id else 0


@dataclass
class Reader:
    """Reads Server-Sent Events off an open response."""

    resp: aiohttp.ClientResponse
    comments: list[str] = field(default_factory=list)

    async def next(self, wait: float = 2.0) -> Event:
        kind, event_id, data = "message", None, ""
        async with asyncio.timeout(wait):
            while True:
                raw = await self.resp.content.readline()
                if not raw:
                    raise EOFError("the stream closed")
                line = raw.decode().rstrip("\r\n")
                if not line:
                    if data:
                        return Event(kind, event_id, json.loads(data))
                    continue
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "":
                    self.comments.append(value)
                elif name == "event":
                    kind = value
                elif name == "id":
                    event_id = value
                elif name == "data":
                    data += value

    async def until(self, kind: str, wait: float = 2.0) -> list[Event]:
        """Events up to and including the first of `kind`."""
        got = []
        while True:
            event = await self.next(wait)
            got.append(event)
            if event.kind == kind:
                return got


async def poll(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    """Returns once `condition()` holds; TimeoutError after `seconds`."""
    async with asyncio.timeout(seconds):
        while not condition():  # noqa: ASYNC110 - the condition is plain state, no event
            await asyncio.sleep(0.001)


@dataclass
class Live:
    api: Api
    hub: Hub
    feed: CallsFeed
    pbx: FakePbx

    async def open(self, url: str = URL, token: str = CRM, **headers: str) -> Reader:
        resp = await self.api.client.get(url, headers={**self.api.auth(token), **headers})
        assert resp.status == 200, await resp.text()
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        return Reader(resp)

    async def play(self, name: str = "two_party", start: float = 0.0, until: float = 99.0) -> str:
        """Feeds a recorded call's events between `start` and `until` (seconds) to the bridge;
        yields to the loop after each, as a socket read would."""
        script = load(name)
        meta = script.meta()
        if meta is not None and script.call_id not in self.api.services.nodes.first.tracker.calls:
            self.api.services.nodes.first.tracker.annotate(script.call_id, meta)
        for at, event in script.lines:
            if start < at <= until:
                self.feed.clock = lambda at=at: T0 + at  # type: ignore[misc]
                self.feed.on_event(AmiMessage(event))
                await asyncio.sleep(0)
        await asyncio.sleep(0)
        return script.call_id


@pytest.fixture
def stream_config(raw_config: dict[str, Any]) -> dict[str, Any]:
    """The demo config with an organization-4 app; tests may set `stream:` keys in it."""
    raw_config["apps"].append({"name": "other", "organization": "4", "token": OTHER})
    raw_config["stream"] = {"heartbeat": 0.2}
    return raw_config


@pytest.fixture
async def live(make_api: Callable[..., Any], stream_config: dict[str, Any]) -> Live:
    """The real app, its hub driven by a calls feed the test plays recorded calls into."""
    api: Api = await make_api(config_mod.parse(stream_config, env={}))
    pbx = FakePbx()
    api.plug(pbx)
    hub = api.app[HUB]
    node = api.services.nodes.first  # its sinks hear call control's changes too
    feed = CallsFeed(node.tracker, api.services.db, sinks=node.sinks)
    feed.sinks.append(hub.sink)
    feed.resync_hooks.append(hub.resynced)
    return Live(api, hub, feed, pbx)
