"""What watches the bridges from outside: three webhook receivers (good, 500 on a fifth of
requests, slow) that record every request, and live-stream clients that keep the calls their
stream shows and reconnect with Last-Event-ID when cut."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
from aiohttp import web

from tests.soak.world import Bridge
from tests.system.daemon import free_port


@dataclass
class Hit:
    """One webhook request as a receiver got it."""

    path: str
    webhook_id: str
    call_id: str
    at: float
    status: int


class Receiver:
    """A loopback webhook receiver; `mode`: good, flaky (500 on 20 %) or slow (2 s)."""

    def __init__(self, mode: str, seed: int) -> None:
        self.mode = mode
        self.port = free_port()
        self.rng = random.Random(seed)
        self.hits: list[Hit] = []
        self.runner: web.AppRunner | None = None
        self.site: web.TCPSite | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{self.mode}"

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.text()
        payload = body if request.method == "POST" else request.rel_url.raw_query_string
        status = 200
        if self.mode == "flaky" and self.rng.random() < 0.2:
            status = 500
        if self.mode == "slow":
            await asyncio.sleep(2)
        self.hits.append(
            Hit(
                request.path,
                request.headers.get("webhook-id", ""),
                dict(parse_qsl(payload)).get("CallID", ""),
                time.time(),
                status,
            )
        )
        return web.Response(status=status)

    async def start(self) -> None:
        if self.runner is None:
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", self.handle)
            self.runner = web.AppRunner(app, shutdown_timeout=0.5)
            await self.runner.setup()
        self.site = web.TCPSite(self.runner, "127.0.0.1", self.port)
        await self.site.start()

    async def down(self) -> None:
        if self.site is not None:
            await self.site.stop()
            self.site = None

    async def close(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


@dataclass
class StreamClient:
    """A live-stream client of one user's `@self`, spread over the bridges."""

    name: str
    path: str  # e.g. /uapi/phoneCalls/@me/@self
    token: str
    bridges: list[Bridge]
    calls: dict[str, Any] = field(default_factory=dict)
    last_id: str = ""
    connects: int = 0
    resets: int = 0
    ready: bool = False
    bridge: Bridge | None = None
    events: int = 0

    async def run(
        self, session: aiohttp.ClientSession, stop: asyncio.Event, rng: random.Random
    ) -> None:
        while not stop.is_set():
            live = [b for b in self.bridges if b.alive()] or self.bridges
            self.bridge = rng.choice(live)
            with contextlib.suppress(aiohttp.ClientError, TimeoutError, OSError, ValueError):
                await self._follow(session, self.bridge)
            self.ready = False
            await asyncio.sleep(0.5)

    async def _follow(self, session: aiohttp.ClientSession, bridge: Bridge) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        if self.last_id:
            headers["Last-Event-ID"] = self.last_id
        timeout = aiohttp.ClientTimeout(total=None, sock_read=40)
        async with session.get(
            f"{bridge.url}{self.path}/stream", headers=headers, timeout=timeout
        ) as resp:
            if resp.status != 200:
                return
            self.connects += 1
            kind, data = "", ""
            async for raw in resp.content:
                line = raw.decode().rstrip("\r\n")
                if line.startswith("event:"):
                    kind = line[6:].strip()
                elif line.startswith("data:"):
                    data = line[5:].strip()
                elif line.startswith("id:"):
                    self.last_id = line[3:].strip()
                elif not line and kind:
                    self._apply(kind, json.loads(data) if data else {})
                    kind, data = "", ""

    def _apply(self, kind: str, data: dict[str, Any]) -> None:
        self.events += 1
        if kind == "call":
            self.calls[data["id"]] = data
        elif kind == "ended":
            self.calls.pop(data["id"], None)
        elif kind == "reset":
            self.resets += 1
            self.calls.clear()
        elif kind == "ready":
            self.ready = True
