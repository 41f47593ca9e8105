"""Supervised background tasks: restarted after a crash, given up (and the daemon told) when
they keep crashing, and every crash logged once with its traceback."""

from __future__ import annotations

import asyncio

from structlog.testing import capture_logs

from bridge.supervisor import FAILED, RUNNING, Supervisor
from tests.polling import until


async def test_a_crashed_task_is_restarted() -> None:
    """An injected fault ends the first run; the task runs again and stays up."""
    runs: list[int] = []
    fatal: list[str] = []

    async def worker() -> None:
        runs.append(1)
        if len(runs) == 1:
            raise RuntimeError("injected fault")
        await asyncio.sleep(3600)

    sup = Supervisor(fatal.append, backoff_min=0.01)
    with capture_logs() as logs:
        sup.spawn("worker", worker)
        await until(lambda: len(runs) == 2)
    assert sup.states() == {"worker": RUNNING}
    assert fatal == []
    crashes = [e for e in logs if e["event"] == "task.crashed"]
    assert len(crashes) == 1
    assert crashes[0]["task"] == "worker"
    assert crashes[0]["exc_info"] is True  # logged with its traceback
    await sup.stop()


async def test_a_task_that_keeps_crashing_is_given_up() -> None:
    """max_crashes within the window: the task is failed and on_fatal is called once."""
    fatal: list[str] = []
    runs: list[int] = []

    async def worker() -> None:
        runs.append(1)
        raise ValueError("always")

    sup = Supervisor(fatal.append, backoff_min=0.001, max_crashes=3, window=60)
    with capture_logs() as logs:
        sup.spawn("doomed", worker)
        await until(lambda: fatal)
    assert fatal == ["doomed"]
    assert len(runs) == 3
    assert sup.states() == {"doomed": FAILED}
    assert sup.failed == ["doomed"]
    assert [e["event"] for e in logs] == ["task.crashed", "task.crashed", "task.failed"]
    await sup.stop()


async def test_backoff_grows_and_is_bounded() -> None:
    """Restarts wait min * 2**(n-1), capped at backoff_max."""
    sup = Supervisor(lambda _: None, backoff_min=0.5, backoff_max=2.0, max_crashes=10)
    delays = []

    async def worker() -> None:
        raise RuntimeError("x")

    child_task = sup.spawn("w", worker)
    child_task.cancel()
    child = sup._children["w"]  # the delay rule is what is tested
    for _ in range(5):
        try:
            raise RuntimeError("x")
        except RuntimeError:
            delays.append(sup._crashed(child))
    assert delays == [0.5, 1.0, 2.0, 2.0, 2.0]
    await sup.stop()


async def test_stop_cancels_everything() -> None:
    """stop() cancels running tasks and waits for them."""
    sup = Supervisor(lambda _: None)
    task = sup.spawn("sleeper", lambda: asyncio.sleep(3600))
    await asyncio.sleep(0)
    await sup.stop()
    assert task.cancelled()
