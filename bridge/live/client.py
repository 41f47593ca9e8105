"""One connected stream: what it may see, how it wants calls rendered, and its bounded queue.

The hub offers frames without ever waiting; a client whose queue is full gets a last
`overflow` frame, is closed, and its connection is aborted if it cannot even take that.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from bridge.live.frames import frame

OVERFLOW_GRACE = 1.0  # seconds a closed client has to take its `overflow` frame


@dataclass(frozen=True)
class View:
    """How a client's calls are rendered: links under `base`, only `fields` (None: all)."""

    base: str  # https://host/uapi/phoneCalls/{userId}
    fields: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Snapshot:
    """Queue marker: send every live call now (after a `reset` event when `reset`)."""

    reset: bool


Item = bytes | Snapshot | None  # a frame, a snapshot to take, or None: close


@dataclass(eq=False)
class Client:
    scope: frozenset[str]  # extended numbers whose calls it sees
    view: View
    size: int  # queue bound
    on_overflow: Callable[[Client, int], None]
    queue: deque[Item] = field(default_factory=deque)
    closing: bool = False
    sent: int = 0  # frames written
    abort: Callable[[], None] | None = None  # drops the connection (set by the handler)
    # Writes bytes to the connection now, unless its buffer is full (False); set by the
    # handler once the response has started.
    direct: Callable[[bytes], bool] | None = None
    idle: bool = False  # the writer waits for work
    # The scope as the directory gives it now (`@self`: every extension of the user), asked
    # again after a reload; None: the scope is fixed (one extension named in the path).
    rescope: Callable[[], frozenset[str]] | None = None
    _waiter: asyncio.Future[None] | None = None

    def push(self, frames: list[bytes]) -> tuple[int, int]:
        """A flush's frames for this client: written at once when its writer is idle (no
        task switch for the common case), else queued. Returns (frames written, frames dropped
        that no overflow counted)."""
        if self.closing:
            return 0, len(frames)
        direct = self.direct if self.idle and not self.queue else None
        if direct is not None and direct(b"".join(frames)):
            self.sent += len(frames)
            return len(frames), 0
        for i, data in enumerate(frames):
            if not self.offer(data):
                return 0, len(frames) - i - 1  # the overflow counted the one that failed
        return 0, 0

    def offer(self, item: Item) -> bool:
        """Queues `item`; False when it was dropped (this client is closing or overflowed)."""
        if self.closing:
            return False
        if len(self.queue) >= self.size:
            self._overflow()
            return False
        self._put(item)
        return True

    def _put(self, item: Item) -> None:
        self.queue.append(item)
        self.wake()

    def wake(self) -> None:
        """Lets the writer look at the queue (and at whether the connection is still there)."""
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def wait(self) -> None:
        """Returns when something is queued, or `wake` was called."""
        if not self.queue:
            self.idle = True
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self.idle = False
                self._waiter = None

    def snapshot(self, *, reset: bool) -> None:
        """Everything queued is superseded by a fresh snapshot."""
        if self.closing:
            return
        self.queue.clear()
        self._put(Snapshot(reset))

    def end(self) -> None:
        """Ends the stream once what is queued is written (the bridge is stopping: the
        browser's EventSource reconnects to the next one with its Last-Event-ID)."""
        if not self.closing:
            self._put(None)

    def _overflow(self) -> None:
        dropped = sum(isinstance(i, bytes) for i in self.queue) + 1
        self.queue.clear()
        self.closing = True
        self._put(frame("overflow", {"dropped": dropped, "limit": self.size}))
        self._put(None)
        self.on_overflow(self, dropped)
        asyncio.get_running_loop().call_later(OVERFLOW_GRACE, self._abort)

    def _abort(self) -> None:
        if self.abort is not None:
            self.abort()

    def take(self) -> list[Item]:
        """Everything queued now, in order (the writer sends it as one write)."""
        items = list(self.queue)
        self.queue.clear()
        return items
