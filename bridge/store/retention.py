"""Retention: finished deliveries, attempt logs, expired nonces and old placed calls are
purged while the bridge runs (`purge` once, `run_forever` on a period)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection

import structlog

from bridge.errors import BridgeError
from bridge.store.hooks import Outbox
from bridge.store.placed import CallStore

log = structlog.get_logger("bridge.retention")
PURGE_EVERY = 3600.0  # seconds between purges


class Retention:
    """Keeps the outbox and the attempt log to `retention` seconds, and the placed calls to
    the nonce window (the calls in `live()`, still up, are kept whatever their age)."""

    def __init__(
        self,
        outbox: Outbox,
        calls: CallStore,
        retention: float,
        live: Callable[[], Collection[str]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.outbox = outbox
        self.calls = calls
        self.retention = retention
        self.live = live
        self.clock = clock

    async def purge(self, now: float) -> dict[str, int]:
        """One purge as of `now`; returns the rows deleted per kind."""
        done = {
            "deliveries": await self.outbox.purge(now - self.retention),
            "calls": await self.calls.purge(now, self.live()),
        }
        if any(done.values()):
            log.info("retention.purged", **done)
        return done

    async def run_forever(self, every: float = PURGE_EVERY) -> None:
        """Purges every `every` seconds until cancelled (a store error is logged and retried
        at the next turn). The first purge waits a period too: by then the AMI link has
        resynced, so `live()` holds the calls that were up across a restart."""
        while True:
            await asyncio.sleep(every)
            try:
                await self.purge(self.clock())
            except BridgeError:
                log.exception("retention.purge_failed")
