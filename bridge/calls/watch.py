"""Awaiting what an AMI action should cause: a condition on the call tracker, with a deadline.

The tracker is pure and cannot signal; the composition root hands `wake` to the AMI port as an
event handler after the call feed's, so each condition is checked again right after every event
the tracker applied.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

Condition = Callable[[], bool]


class TrackerWatch:
    """Conditions waited for by requests in flight (a few at a time)."""

    def __init__(self) -> None:
        self._waiting: dict[asyncio.Future[None], Condition] = {}

    def wake(self, _event: Any = None) -> None:
        """Checks every waiting condition (after an event reached the tracker)."""
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
