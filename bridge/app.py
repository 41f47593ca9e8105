"""The composition root: the only place that builds things.

`build_services` wires the adapters the HTTP handlers use (tracker, stores, token store, the AMI
port); `Bridge` adds the AMI client, the call feed, the webhook dispatcher and retention, owns
the supervised tasks, and starts and stops everything in order (SIGTERM/SIGINT in `run`).
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import structlog
from aiohttp import web

from bridge.ami.client import DEFAULT_EVENT_CLASSES, AmiClient
from bridge.ami.events import TRACKED_EVENTS
from bridge.ami.ports import AmiPort
from bridge.api.context import Services
from bridge.api.edge import Runner
from bridge.api.server import build_app
from bridge.api.stream import hub_for
from bridge.ari.client import AriClient
from bridge.auth import REVOKED_CHANNEL, TokenStore
from bridge.calls import control
from bridge.calls.faxes import Faxes
from bridge.calls.hangup import CONFIRM_WITHIN, Hangups
from bridge.calls.limits import Limiter
from bridge.calls.nodes import Node, Nodes
from bridge.calls.phoneless import Callbacks, Invites
from bridge.calls.placing import Placing
from bridge.calls.queues import QueueMembers
from bridge.calls.recordings import Recordings
from bridge.calls.watch import TrackerWatch
from bridge.config import DEFAULT_NODE, Config
from bridge.directory import Directory
from bridge.domain.model import Effect
from bridge.domain.tracker import CallTracker
from bridge.errors import TaskFailed
from bridge.feeds.calls import CallsFeed
from bridge.feeds.conferences import ConferencesFeed
from bridge.feeds.presence import PresenceFeed
from bridge.feeds.queues import QueuesFeed
from bridge.live.hub import Hub
from bridge.metrics import Metrics
from bridge.reload import Reloader
from bridge.store.backends import open_database
from bridge.store.db import Database
from bridge.store.faxes import FaxStore
from bridge.store.history import HistoryStore
from bridge.store.hooks import CHANGED_CHANNEL, Outbox, Registrations
from bridge.store.idempotency import Keys
from bridge.store.placed import CallStore
from bridge.store.recordings import RecordingStore, SizeOf
from bridge.store.retention import Retention
from bridge.supervisor import Supervisor
from bridge.tls import server_context
from bridge.webhooks.dispatcher import Dispatcher

log = structlog.get_logger("bridge")


def build_services(
    config: Config,
    db: Database,
    pbx: Mapping[str, AmiPort],
    *,
    tokens: TokenStore | None = None,
    settle: float | None = None,
) -> Services:
    """What the HTTP handlers use, around an (unopened) database and the AMI port of each
    node (by name); `settle` (tests) bounds how long an answer waits for the effect of its
    AMI actions."""
    directory = tokens.directory if tokens is not None else Directory(config)
    # the first node keeps the historic call ids; the others' ids cover their name
    nodes = [
        Node(
            n.name,
            pbx[n.name],
            CallTracker(directory.extension_of_endpoint(n.name), "" if i == 0 else n.name),
            ari=AriClient(n.ari, n.name) if n.ari is not None else None,
        )
        for i, n in enumerate(config.nodes)
    ]
    watch = TrackerWatch()
    calls = CallStore(db)
    limiter = Limiter(config.limits, config.apps)  # a reload calls limiter.apply(config)
    cluster = Nodes(nodes, directory)
    recordings = RecordingStore(db, size_of=_size_of(cluster))
    ctx = control.Context(  # the base of each node's own (Nodes.control)
        cluster.first.pbx,
        cluster.first.tracker,
        directory,
        watch,
        config.dialing,
        config.parking,
        settle_within=control.SETTLE_WITHIN if settle is None else settle,
        node=cluster.first.name,
        recorded=recordings.add,
        limiter=limiter,
    )
    placing = Placing(cluster, calls, directory, limiter)
    metrics = Metrics(lambda: {n.name: n.pbx.stats for n in nodes})
    metrics.add_calls(lambda: {n.name: len(n.tracker.calls) for n in nodes})
    return Services(
        config=config,
        directory=directory,
        tokens=tokens
        or TokenStore(directory, db, config.auth.token_ttl, max_tokens=config.auth.max_tokens),
        metrics=metrics,
        db=db,
        nodes=cluster,
        calls=calls,
        registrations=Registrations(db),
        outbox=Outbox(db, lease=config.storage.lease),
        keys=Keys(db),
        watch=watch,
        hangups=Hangups(
            cluster, directory, watch, confirm_within=CONFIRM_WITHIN if settle is None else settle
        ),
        placing=placing,
        callbacks=Callbacks(placing, directory),
        invites=Invites(placing, cluster, directory),
        queues=QueueMembers(cluster, directory, watch),
        control=control.CallControl(cluster, ctx),
        limiter=limiter,
        history=HistoryStore(db, config.history.retention),
        recordings=Recordings(recordings, cluster),
        faxes=Faxes(FaxStore(db), cluster, directory, config.faxes),
    )


def _size_of(nodes: Nodes) -> SizeOf:
    """How the recording store learns a file's length: from its node's ARI, if it has one."""

    async def size_of(node: str, name: str) -> int | None:
        ari = nodes.by_name[node].ari if node in nodes.by_name else None
        return await ari.size(name) if ari is not None else None

    return size_of


@dataclass
class Bridge:
    """Everything one running bridge owns."""

    config: Config
    db: Database
    services: Services
    webhooks: Dispatcher
    retention: Retention
    supervisor: Supervisor
    hub: Hub
    links: tuple[AmiClient, ...] = ()  # every node's, in config order
    feeds: tuple[CallsFeed, ...] = ()  # every node's, in config order
    runner: web.AppRunner | None = None
    reloader: Reloader | None = None  # set when the bridge runs from a file (`run(path=)`)
    failed: str | None = None  # the supervised task that was given up, if any
    stop_requested: asyncio.Event | None = None

    @classmethod
    def build(cls, config: Config) -> Bridge:
        db = open_database(config.storage)
        links = {
            n.name: AmiClient(
                n,
                events=TRACKED_EVENTS,
                name=_link_name(n.name),
                event_classes=(*DEFAULT_EVENT_CLASSES, "agent", "user"),
            )
            for n in config.nodes
        }  # agent: QueueMember*; user: the faxes' UserEvents
        svc = build_services(config, db, links)
        webhooks = Dispatcher(config.webhooks, svc.registrations, svc.outbox)
        svc.metrics.add_webhooks(lambda: webhooks.disabled)
        svc.history.closed_sinks.append(webhooks.sink)  # Hangups of calls that ended away
        hub = hub_for(svc)
        synced: dict[str, float | None] = {node.name: None for node in svc.nodes.all}
        feeds = [
            cls._feed(svc, node, links[node.name], webhooks, hub, synced=synced)
            for node in svc.nodes.all
        ]
        retention = Retention(
            svc.outbox, svc.calls, config.webhooks.retention, live=svc.nodes.cluster.calls.keys
        )
        bridge = cls(
            config,
            db,
            svc,
            webhooks,
            retention,
            Supervisor(lambda _name: None),
            hub,
            links=tuple(links.values()),
            feeds=tuple(feeds),
        )
        bridge.supervisor.on_fatal = bridge._give_up
        svc.tasks = bridge.supervisor.states
        directory = svc.directory
        webhooks.fires = lambda reg: (
            reg.extension in directory.extensions and (reg.app in directory.apps)
        )
        return bridge

    def reloads_from(self, path: str | Path) -> Reloader:
        """SIGHUP re-reads `path` (bridge.reload); the retention of finished deliveries and
        this object's own config follow it too."""
        reloader = Reloader(path, self.services, self.webhooks, self.hub)

        def follow(cfg: Config) -> None:
            self.config = cfg
            self.retention.retention = cfg.webhooks.retention

        reloader.on_applied.append(follow)
        reloader.started()
        self.reloader = reloader
        return reloader

    @staticmethod
    def _feed(
        svc: Services,
        node: Node,
        link: AmiClient,
        webhooks: Dispatcher,
        hub: Hub,
        *,
        synced: dict[str, float | None],
    ) -> CallsFeed:
        """One node's events into its tracker, and from there to the webhooks, the history
        and the live hub (every node feeds the same ones). `synced`: node -> the snapshot time of
        its rebuild since its last login, None before (shared by every node's feed)."""
        feed = CallsFeed(node.tracker, svc.db, sinks=node.sinks)
        feed.attach(link)
        link.add_event_handler(svc.faxes.on_event)
        if svc.nodes.several:  # a trunk call's far half fires nothing, writes no history
            far = svc.nodes.cluster.far_half

            def shown(effects: list[Effect]) -> None:
                kept = [e for e in effects if not far(node.name, e.call_id)]
                if kept:
                    webhooks.sink(kept)
                    svc.history.sink(kept)
                    svc.recordings.store.sink(kept)

            feed.sinks.append(shown)
        else:
            feed.sinks += [webhooks.sink, svc.history.sink, svc.recordings.store.sink]
        feed.sinks += [hub.sink, svc.watch.wake]  # what shows calls, and who waits on one
        feed.resync_hooks.append(hub.resynced)

        async def close_gone(_: object) -> None:  # after the feed's resync: what ended away
            synced[node.name] = feed.resynced  # None when the rebuild failed
            # only once every node is resynced: a node not back yet has live calls that its
            # tracker does not show, and their open records would be closed as if they ended
            snapshots = [t for t in synced.values() if t is not None]
            if len(snapshots) == len(synced):
                await svc.history.close_gone(lambda: set(svc.nodes.cluster.calls), min(snapshots))

        def unsynced(_: str) -> None:
            synced[node.name] = None

        link.add_connect_handler(close_gone)
        link.add_disconnect_handler(unsynced)
        PresenceFeed(node.presence).attach(link)
        QueuesFeed(node.queue_agents, svc.watch.wake).attach(link)
        ConferencesFeed(node.rooms, svc.watch.wake).attach(link)
        return feed

    def _give_up(self, task: str) -> None:
        """A supervised task keeps crashing: stop, and exit non-zero (systemd restarts us)."""
        self.failed = task
        if self.stop_requested is not None:
            self.stop_requested.set()

    async def start(self) -> str:
        """Opens storage, starts the HTTP server and the AMI link; returns the base URL."""
        await self.db.open()
        await self.services.tokens.load()
        await self.services.calls.load(time.time())
        await self.services.registrations.load()
        await self.webhooks.start(self.supervisor.spawn)
        self.supervisor.spawn("tokens-purge", self.services.tokens.run_forever)
        self.supervisor.spawn("retention-purge", self.retention.run_forever)
        if self.db.shared:  # other bridges' changes: registrations, revoked tokens
            self.supervisor.spawn("store-listen", self._listen)
        self.supervisor.spawn("history", self.services.history.run_forever)
        self.supervisor.spawn("recordings", self.services.recordings.store.run_forever)
        self.supervisor.spawn("faxes", self.services.faxes.run_forever)
        self.runner = Runner(
            build_app(self.services, self.hub),
            request_timeout=self.config.http.request_timeout,
            access_log=None,
            handle_signals=False,
            shutdown_timeout=5,
        )
        await self.runner.setup()
        http = self.config.http
        tls = server_context(http.tls) if http.tls else None
        site = web.TCPSite(self.runner, http.host, http.port, ssl_context=tls)
        await site.start()
        for link in self.links:
            await link.start(self.supervisor.spawn)
        url = http.public_url or f"{'https' if tls else 'http'}://{http.host}:{http.port}"
        log.info(
            "bridge.started",
            url=url,
            ami=[f"{n.name}={n.host}:{n.port}" for n in self.config.nodes],
        )
        return url

    async def _listen(self) -> None:
        svc = self.services
        await self.db.listen(
            {CHANGED_CHANNEL: svc.registrations.refresh, REVOKED_CHANNEL: svc.tokens.revoked},
            resync=svc.registrations.load,
        )

    async def stop(self) -> None:
        """Stops taking requests, finishes in-flight ones, closes AMI and storage."""
        log.info("bridge.stopping")
        if self.runner is not None:
            await self.runner.cleanup()
        for link in self.links:
            await link.close()
        await self.webhooks.stop()  # first: it lets attempts in flight finish
        await self.supervisor.stop()
        await self.services.calls.drain()
        await self.services.history.flush()
        await self.services.recordings.store.flush()  # may still ask ARI for sizes
        for node in self.services.nodes.all:
            if node.ari is not None:
                await node.ari.close()
        await self.db.close()
        log.info("bridge.stopped")


async def _serve(bridge: Bridge, stop: asyncio.Event, hup: asyncio.Event) -> None:
    """Waits for `stop`, reloading each time `hup` is set (signals during a reload: one more)."""
    while not stop.is_set():
        stopping = asyncio.ensure_future(stop.wait())
        hupped = asyncio.ensure_future(hup.wait())
        await asyncio.wait({stopping, hupped}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        hupped.cancel()
        if hup.is_set() and not stop.is_set() and bridge.reloader is not None:
            hup.clear()
            try:
                await bridge.reloader.reload()
            except Exception:  # a reload must never take the bridge down
                log.exception("config.reload.crashed")


def _link_name(node: str) -> str:
    """How a node's AMI link names itself in logs and ActionIDs."""
    return "ami" if node == DEFAULT_NODE else f"ami-{node}"


async def run(
    config: Config, stop: asyncio.Event | None = None, *, path: str | Path | None = None
) -> None:
    """Runs a bridge until `stop` is set or SIGTERM/SIGINT arrives; SIGHUP re-reads `path`
    (the file `config` came from), one reload at a time."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    bridge = Bridge.build(config)
    bridge.stop_requested = stop
    hup = asyncio.Event()
    if path is not None:
        bridge.reloads_from(path)
        loop.add_signal_handler(signal.SIGHUP, hup.set)
    try:
        await bridge.start()
        await _serve(bridge, stop, hup)
    finally:
        await bridge.stop()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
    if bridge.failed is not None:
        raise TaskFailed(f"background task {bridge.failed} kept crashing; see the log")
