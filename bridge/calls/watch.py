"""Awaiting what an AMI action should cause: a condition on the call tracker, with a deadline.

The tracker is pure and cannot signal, but every change it makes comes out of it as effects
(`Changed` for what no other effect says): the composition root hands `wake` to each node's
effect sinks, so each condition is checked again right after every change of a call, whatever
the order the sinks were added in. The conference feed wakes it too (a room changed).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

Condition = Callable[[], bool]


class TrackerWatch:
    """Conditions waited for by requests in flight (a few at a time)."""

    def __init__(self) -> None:
        self._waiting: dict[asyncio.Future[None], Condition] = {}

    def wake(self, _changes: object = None) -> None:
        """Checks every waiting condition (`_changes`: the effects of a change, or whatever
        else changed)."""
        for future, done in list(self._waiting.items()):
            if not future.done() and done():
                future.set_result(None)

    async def until(self, done: Condition, within: float) -> bool:
        """True once `done()` holds (at once if it does already); False after `within` s."""
        if done():
            return True
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting[future] = done
        try:
            async with asyncio.timeout(within):
                await future
        except TimeoutError:
            return False
        finally:
            del self._waiting[future]
        return True
