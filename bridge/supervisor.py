"""Supervised background tasks: never a silent dead task.

Every long-running coroutine of the daemon (the AMI link, webhook dispatch and its workers, the
result writer, the purges) is started through `Supervisor.spawn`. An unexpected exception is
logged once with its traceback and the task starts again after a backoff; a task that keeps
crashing (`max_crashes` within `window` seconds) is given up, and the supervisor calls
`on_fatal`, which makes the daemon exit non-zero so that systemd (or the container runtime)
restarts the whole process. `/healthz` reads `states()`.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import structlog

log = structlog.get_logger("bridge.supervisor")
RUNNING, RESTARTING, FAILED, DONE = "running", "restarting", "failed", "done"
Loop = Callable[[], Coroutine[Any, Any, None]]  # a coroutine function the supervisor runs
Spawn = Callable[[str, Loop], "asyncio.Task[None]"]  # Supervisor.spawn


@dataclass
class _Child:
    name: str
    factory: Loop
    state: str = RUNNING
    crashes: deque[float] = field(default_factory=deque)
    task: asyncio.Task[None] | None = None


class Supervisor:
    """Starts named coroutines, restarts them on crashes, reports their states."""

    def __init__(
        self,
        on_fatal: Callable[[str], None],
        *,
        backoff_min: float = 0.5,
        backoff_max: float = 30.0,
        max_crashes: int = 5,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.on_fatal = on_fatal
        self.backoff_min, self.backoff_max = backoff_min, backoff_max
        self.max_crashes, self.window = max_crashes, window
        self.clock = clock
        self._children: dict[str, _Child] = {}

    def spawn(self, name: str, factory: Loop) -> asyncio.Task[None]:
        """Runs `factory()` now and again after each crash; `name` must be unique."""
        if name in self._children and self._children[name].state in (RUNNING, RESTARTING):
            raise ValueError(f"a task named {name!r} is already supervised")
        child = _Child(name, factory)
        self._children[name] = child
        child.task = asyncio.create_task(self._guard(child), name=name)
        return child.task

    def states(self) -> dict[str, str]:
        """`running`, `restarting`, `failed` or `done` per task name."""
        return {name: child.state for name, child in self._children.items()}

    @property
    def failed(self) -> list[str]:
        return [name for name, child in self._children.items() if child.state == FAILED]

    async def stop(self) -> None:
        """Cancels every task and waits for them."""
        tasks = [c.task for c in self._children.values() if c.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _guard(self, child: _Child) -> None:
        while True:
            child.state = RUNNING
            try:
                await child.factory()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a crashed child is restarted (logged), whatever the bug
                delay = self._crashed(child)
            else:
                child.state = DONE
                log.info("task.finished", task=child.name)
                return
            if delay is None:
                return
            await asyncio.sleep(delay)

    def _crashed(self, child: _Child) -> float | None:
        """Logs the crash (called inside the except block: with its traceback); returns the
        delay before the restart, or None when the task is given up."""
        now = self.clock()
        child.crashes.append(now)
        while child.crashes and child.crashes[0] < now - self.window:
            child.crashes.popleft()
        if len(child.crashes) >= self.max_crashes:
            child.state = FAILED
            log.exception(
                "task.failed", task=child.name, crashes=len(child.crashes), window_s=self.window
            )
            self.on_fatal(child.name)
            return None
        delay: float = min(self.backoff_max, self.backoff_min * 2.0 ** (len(child.crashes) - 1))
        child.state = RESTARTING
        log.exception("task.crashed", task=child.name, restart_in_s=delay)
        return delay
