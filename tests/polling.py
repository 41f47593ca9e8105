"""The one way tests wait: poll a condition until it holds, fail at a deadline (no fixed sleeps)."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

T = TypeVar("T")


async def until(
    condition: Callable[[], Any], within: float = 5.0, what: str = "", interval: float | None = None
) -> float:
    """Polls `condition` (a function, or an async one) until it returns something truthy;
    returns how many seconds that took; fails the test after `within` seconds.

    The default interval is 10 ms, and 100 ms for an async condition (each poll is then a
    round trip, e.g. an AMI action to the sandbox)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
            interval = 0.1 if interval is None else interval
        if result:
            return loop.time() - started
        if loop.time() - started > within:
            pytest.fail(f"timed out after {within} s waiting for {what or condition}")
        await asyncio.sleep(0.01 if interval is None else interval)


def wait_for(
    predicate: Callable[[], T],
    timeout: float,
    interval: float = 0.1,
    message: str | None = None,
) -> T:
    """The blocking twin of `until`, for code outside the event loop: returns the predicate's
    truthy result, or fails the test at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            what = message or getattr(predicate, "__name__", repr(predicate))
            pytest.fail(f"timed out after {timeout} s waiting for {what}; last value: {result!r}")
        time.sleep(interval)
