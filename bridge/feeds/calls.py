"""Feeds the AMI link into the call tracker: every event, and a resync at every (re)login.

The tracker is pure; this adapter gives it the clock, the stored plans of API calls, and
turns its effects into log lines (and, through its sinks, into webhooks, history, live events
and the wake-up of requests waiting on a call; resync hooks see each rebuild). A rebuild needs
the stored plans: while the store is unreachable it waits for it (the link still up), and
`resynced` says when the snapshot of the last rebuild was taken (None: not rebuilt since the
last login).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import structlog

from bridge.ami.message import AmiMessage
from bridge.ami.ports import AmiPort
from bridge.domain.channels import group_by_call
from bridge.domain.model import Effect
from bridge.domain.tracker import CallTracker
from bridge.errors import BridgeError
from bridge.store import placed as calls_store
from bridge.store.db import Database, StoreError

log = structlog.get_logger("bridge.calls")
EffectSink = Callable[[list[Effect]], None]
STORE_RETRY = 1.0  # seconds between looks for the stored plans while the store is away


class CallsFeed:
    def __init__(
        self,
        tracker: CallTracker,
        db: Database,
        clock: Callable[[], float] = time.time,
        *,
        sinks: list[EffectSink] | None = None,
    ) -> None:
        self.tracker = tracker
        self.db = db
        self.clock = clock
        # who hears the effects (a node's sinks, which call control's changes reach too)
        self.sinks: list[EffectSink] = [] if sinks is None else sinks
        self.resync_hooks: list[Callable[[], None]] = []  # after every rebuild of the calls
        self.ami: AmiPort | None = None
        self.resynced: float | None = None  # the last rebuild's snapshot time; None: not yet
        self._snapped = 0.0

    def attach(self, ami: AmiPort) -> None:
        self.ami = ami
        ami.add_event_handler(self.on_event)
        ami.add_snapshot_hook(self._snapshot)
        ami.add_connect_handler(self.on_connect)

    def on_event(self, message: AmiMessage) -> None:
        self._emit(self.tracker.apply(message.fields, self.clock()))

    def _snapshot(self) -> None:
        self.resynced, self._snapped = None, self.clock()
        self.tracker.mark(self._snapped)

    async def on_connect(self, channels: list[AmiMessage]) -> None:
        """Rebuilds the live calls; API calls get their stored plan (and so keep their views)."""
        live = group_by_call(channels, self.tracker.node)
        placed = await self._plans(list(live))
        if placed is None:
            log.warning("calls.resync.abandoned", reason="AMI link lost while the store was away")
            return
        effects = self.tracker.resync(
            channels, {cid: p.meta() for cid, p in placed.items()}, self.clock()
        )
        self._emit(effects)
        parked = await self._parked()
        log.info(
            "calls.resynced",
            calls=len(self.tracker.calls),
            channels=len(channels),
            api_calls=len(placed),
            parked=len(parked),
            changes=len(effects),
        )
        self.resynced = self._snapped
        for hook in self.resync_hooks:
            hook()

    async def _plans(self, ids: list[str]) -> dict[str, calls_store.PlacedCall] | None:
        """The stored plans of `ids`, waiting for the store while the link is up (None: it
        went down). Not resyncing instead would leave calls up unknown, and their history
        records would be closed as if they had ended (found by the soak, issue 27)."""
        while True:
            try:
                return await calls_store.find(self.db, ids)
            except StoreError as exc:
                if self.ami is None or not self.ami.connected:
                    return None
                log.warning("calls.resync.store_unavailable", error=str(exc), retry_in=STORE_RETRY)
                await asyncio.sleep(STORE_RETRY)

    async def _parked(self) -> list[AmiMessage]:
        """The parked calls, as ParkedCall events (CoreShowChannels does not say who is parked)."""
        if self.ami is None:
            return []
        try:
            listed = await self.ami.send_list({"Action": "ParkedCalls"})
        except BridgeError as exc:
            log.warning("calls.resync.parked.failed", error=str(exc))
            return []
        parked = [m for m in listed if m.event == "parkedcall"]
        for message in parked:
            self.on_event(message)
        return parked

    def _emit(self, effects: list[Effect]) -> None:
        for effect in effects:
            if effect.kind == "changed":
                continue  # no party step: the sinks' business only
            # One info line per call (its end); each party's steps for whoever debugs.
            emit = log.info if effect.kind == "ended" else log.debug
            emit(
                f"call.{effect.kind}", call_id=effect.call_id, party=effect.party, role=effect.role
            )
        if effects:
            for sink in self.sinks:
                sink(effects)
