"""One connected stream: what it may see, how it wants calls rendered, and its bounded queue.

The hub offers frames without ever waiting; a client whose queue is full gets a last
`overflow` frame, is closed, and its connection is aborted if it cannot even take that.
"""

from __future__ import annotations

import asyncio
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
    queue: asyncio.Queue[Item] = field(default_factory=asyncio.Queue)
    closing: bool = False
    abort: Callable[[], None] | None = None  # drops the connection (set by the handler)

    def offer(self, item: Item) -> bool:
        """Queues `item`; False when it was dropped (this client is closing or overflowed)."""
        if self.closing:
            return False
        if self.queue.qsize() >= self.size:
            self._overflow()
            return False
        self.queue.put_nowait(item)
        return True

    def snapshot(self, *, reset: bool) -> None:
        """Everything queued is superseded by a fresh snapshot."""
        if self.closing:
            return
        self._clear()
        self.queue.put_nowait(Snapshot(reset))

    def _clear(self) -> int:
        dropped = 0
        while not self.queue.empty():
            if isinstance(self.queue.get_nowait(), bytes):
                dropped += 1
        return dropped

    def _overflow(self) -> None:
        dropped = self._clear() + 1
        self.closing = True
        self.queue.put_nowait(frame("overflow", {"dropped": dropped, "limit": self.size}))
        self.queue.put_nowait(None)
        self.on_overflow(self, dropped)
        asyncio.get_running_loop().call_later(OVERFLOW_GRACE, self._abort)

    def _abort(self) -> None:
        if self.abort is not None:
            self.abort()

    def take(self) -> list[Item]:
        """Everything queued now, in order (the writer sends it as one write)."""
        items: list[Item] = []
        while not self.queue.empty():
            items.append(self.queue.get_nowait())
        return items
