"""Pacing of the Originates one Asterisk node receives (`ami.originate_rate`, `originate_queue`).

Asterisk has no calls-per-second limit of its own and fails under a flood of Originates, so
each node's link lets at most `originate_rate` of them leave per second, with a burst of one
second's worth (never more than twice the rate in any one-second window). An Originate waits
its turn in order; when `originate_queue` are already waiting, PbxBusy (503 pbx_busy) is
raised at once and nothing is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Callable

from bridge.domain.buckets import Bucket, Rate, retry_after
from bridge.errors import PbxBusy


class Pacer:
    """One node's Originate bucket and its queue of waiters."""

    def __init__(
        self, rate: float, queue: int, clock: Callable[[], float] = time.monotonic, node: str = ""
    ) -> None:
        self.rate = rate
        self.queue = queue
        self.node = node
        self.clock = clock
        self.waiting = 0  # Originates in the queue (the one about to leave included)
        self._bucket = Bucket(Rate(rate, max(1, math.floor(rate))), clock())
        self._turns = asyncio.Lock()  # FIFO: waiters leave in the order they came

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Waits for this Originate's turn (PbxBusy if the queue is full)."""
        if self.waiting >= self.queue:
            where = f" on node {self.node!r}" if self.node else ""
            raise PbxBusy(
                f"{self.waiting} calls are already waiting for Asterisk{where}; try again shortly.",
                retry_after((self.waiting + 1) / self.rate),
            )
        self.waiting += 1
        try:
            async with self._turns:
                # sleeping until the next token is the point: no event brings it sooner
                while (wait := self._bucket.take(self.clock())) > 0:  # noqa: ASYNC110
                    await asyncio.sleep(wait)
        finally:
            self.waiting -= 1
        yield
