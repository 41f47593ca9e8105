"""The composition root in-process: Bridge start/stop, supervised tasks restarted after an
injected fault, and a task that keeps crashing makes `run` fail (the daemon exits non-zero)."""

from __future__ import annotations

import asyncio
import functools
import os
import signal
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import yaml
from structlog.testing import capture_logs

from bridge import app as app_mod
from bridge import config as config_mod
from bridge.errors import TaskFailed
from bridge.supervisor import Supervisor
from bridge.webhooks.dispatcher import Dispatcher
from tests.polling import until
from tests.system.daemon import free_port


@pytest.fixture
def bridge_config(raw_config: dict[str, Any]) -> config_mod.Config:
    """The demo config on free ports (AMI: nothing listens, the bridge keeps retrying)."""
    raw_config["http"]["port"] = free_port()
    raw_config["ami"].update(port=free_port(), reconnect_min=0.05, reconnect_max=0.1)
    return config_mod.parse(raw_config, env={})


@pytest.fixture
async def running(bridge_config: config_mod.Config) -> AsyncIterator[app_mod.Bridge]:
    bridge = app_mod.Bridge.build(bridge_config)
    bridge.supervisor.backoff_min = 0.01
    await bridge.start()
    yield bridge
    await bridge.stop()


def _faulty(times: int) -> Any:
    """Dispatcher._dispatch that raises `times` times before running as usual."""
    original = Dispatcher._dispatch
    left = [times]

    async def dispatch(self: Dispatcher) -> None:
        if left[0] > 0:
            left[0] -= 1
            raise RuntimeError("injected fault")
        await original(self)

    return dispatch


async def test_bridge_starts_serves_and_stops(running: app_mod.Bridge) -> None:
    """start() serves HTTP and lists its supervised tasks in /healthz; stop() ends them."""
    url = f"http://127.0.0.1:{running.config.http.port}/healthz"
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        body = await resp.json()
    assert resp.status == 503  # nothing listens on the AMI port
    assert body["ami"] == "disconnected"
    assert body["store"] == "ok"
    assert {
        "ami-link",
        "webhooks-dispatch",
        "webhooks-outbox",
        "webhooks-results",
        "tokens-purge",
        "retention-purge",
    } <= set(body["tasks"])
    assert set(body["tasks"].values()) == {"running"}


async def test_a_crashed_worker_is_restarted(
    bridge_config: config_mod.Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The webhook dispatch loop crashes once (injected fault): it is logged with its
    traceback and runs again; the daemon keeps running."""
    monkeypatch.setattr(Dispatcher, "_dispatch", _faulty(1))
    bridge = app_mod.Bridge.build(bridge_config)
    bridge.supervisor.backoff_min = 0.01
    with capture_logs() as logs:
        await bridge.start()
        try:
            await until(lambda: any(e["event"] == "task.crashed" for e in logs), 3)
            await asyncio.sleep(0.1)
            assert bridge.supervisor.states()["webhooks-dispatch"] == "running"
            assert bridge.failed is None
        finally:
            await bridge.stop()
    [crash] = [e for e in logs if e["event"] == "task.crashed"]
    assert (crash["task"], crash["exc_info"]) == ("webhooks-dispatch", True)


async def test_a_task_that_keeps_crashing_ends_the_daemon(
    bridge_config: config_mod.Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker that crashes every time is given up and `run` raises TaskFailed, which
    __main__ turns into exit status 1 (systemd then restarts the service)."""
    monkeypatch.setattr(Dispatcher, "_dispatch", _faulty(1000))
    monkeypatch.setattr(app_mod, "Supervisor", functools.partial(Supervisor, backoff_min=0.001))
    with pytest.raises(TaskFailed, match="webhooks-dispatch"):
        await asyncio.wait_for(app_mod.run(bridge_config, asyncio.Event()), 10)


async def test_sighup_reloads_the_config_file(raw_config: dict[str, Any], tmp_path: Any) -> None:
    """`run(path=)`: SIGHUP re-reads the file (a new extension: /healthz says ok and the
    hash changes); a broken file: failed, the daemon keeps running; then `stop` ends it."""
    raw_config["http"]["port"] = free_port()
    raw_config["ami"].update(port=free_port(), reconnect_min=0.05, reconnect_max=0.1)
    path = tmp_path / "bridge.yaml"
    path.write_text(yaml.safe_dump(raw_config))
    stop = asyncio.Event()
    task = asyncio.create_task(app_mod.run(config_mod.load(path), stop, path=path))
    url = f"http://127.0.0.1:{raw_config['http']['port']}/healthz"

    async def config() -> dict[str, Any]:
        try:
            async with aiohttp.ClientSession() as http, http.get(url) as resp:
                shown: dict[str, Any] = (await resp.json())["config"]
                return shown
        except aiohttp.ClientError:
            return {}

    try:
        await until(config, 10)
        first = await config()
        raw_config["extensions"].append(
            {"number": "0003*211", "user": "13", "channel": "PJSIP/211"}
        )
        path.write_text(yaml.safe_dump(raw_config))
        os.kill(os.getpid(), signal.SIGHUP)
        await until(lambda: _reloaded(config, "ok"), 10)
        assert (await config())["hash"] != first["hash"]
        path.write_text("extensions: [\n")
        os.kill(os.getpid(), signal.SIGHUP)
        await until(lambda: _reloaded(config, "failed"), 10)
        assert not task.done()
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def _reloaded(config: Any, result: str) -> bool:
    return bool((await config()).get("last_reload") == result)
