"""Composition root: builds the adapters, runs them, and shuts them down on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import signal
import time
from dataclasses import dataclass

import structlog
from aiohttp import web

from bridge.ami.client import AmiClient
from bridge.ami.events import TRACKED_EVENTS
from bridge.api.context import Services
from bridge.api.server import build_app
from bridge.auth import TokenStore
from bridge.calls_feed import CallsFeed
from bridge.config import Config
from bridge.directory import Directory
from bridge.live.hub import Hub
from bridge.live.stream import hub_for
from bridge.metrics import Metrics
from bridge.store.db import Database
from bridge.webhooks.dispatcher import Dispatcher

log = structlog.get_logger("bridge")


@dataclass
class Bridge:
    """Everything one running bridge owns."""

    config: Config
    db: Database
    ami: AmiClient
    services: Services
    feed: CallsFeed
    webhooks: Dispatcher
    hub: Hub
    runner: web.AppRunner | None = None

    @classmethod
    def build(cls, config: Config) -> Bridge:
        db = Database(config.storage.path)
        directory = Directory(config)
        ami = AmiClient(config.ami, events=TRACKED_EVENTS)
        metrics = Metrics(lambda: ami.stats)
        svc = Services(
            config=config,
            directory=directory,
            tokens=TokenStore(directory, db, config.auth.token_ttl),
            metrics=metrics,
            db=db,
            ami=ami.stats,
            pbx=ami,
        )
        feed = CallsFeed(svc.tracker, db)
        feed.attach(ami)
        webhooks = Dispatcher(config.webhooks, svc.registrations, svc.outbox,
                              directory.apps)
        feed.sinks.append(webhooks.sink)
        hub = hub_for(svc)
        feed.sinks.append(hub.sink)
        feed.watchers.append(hub.watch)
        feed.resync_hooks.append(hub.resynced)
        return cls(config, db, ami, svc, feed, webhooks, hub)

    async def start(self) -> str:
        """Opens storage, starts the HTTP server and the AMI link; returns the base URL."""
        await self.db.open()
        await self.services.tokens.load()
        await self.services.calls.load(time.time())
        await self.services.registrations.load()
        await self.webhooks.start()
        self.runner = web.AppRunner(
            build_app(self.services, self.hub), access_log=None, handle_signals=False,
            shutdown_timeout=5,
        )
        await self.runner.setup()
        http = self.config.http
        site = web.TCPSite(self.runner, http.host, http.port)
        await site.start()
        await self.ami.start()
        url = http.public_url or f"http://{http.host}:{http.port}"
        log.info("bridge.started", url=url, ami=f"{self.config.ami.host}:{self.config.ami.port}")
        return url

    async def stop(self) -> None:
        """Stops taking requests, finishes in-flight ones, closes AMI and storage."""
        log.info("bridge.stopping")
        if self.runner is not None:
            await self.runner.cleanup()
        await self.ami.close()
        await self.webhooks.stop()
        await self.services.calls.drain()
        await asyncio.to_thread(self.db.close)
        log.info("bridge.stopped")


async def run(config: Config, stop: asyncio.Event | None = None) -> None:
    """Runs a bridge until `stop` is set or SIGTERM/SIGINT arrives."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    bridge = Bridge.build(config)
    try:
        await bridge.start()
        await stop.wait()
    finally:
        await bridge.stop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
