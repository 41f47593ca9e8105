"""The whole pipeline in-process: a fake AMI server -> the real client -> framing -> call feed ->
tracker -> use cases -> routes, in one Bridge built by the composition root."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from bench.corpus import wire
from bridge import app as app_mod
from bridge import config as config_mod
from bridge.calls.hangup import CONFIRM_WITHIN
from tests.ami.fake_ami import FakeAmi
from tests.conftest import CRM
from tests.domain.replay import load
from tests.polling import until
from tests.system.daemon import free_port

AUTH = {"Authorization": f"Bearer {CRM}"}


@pytest.fixture
async def fake() -> AsyncIterator[FakeAmi]:
    server = FakeAmi(secret="sandbox-secret")
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def bridge(raw_config: dict[str, Any], fake: FakeAmi) -> AsyncIterator[app_mod.Bridge]:
    """A Bridge logged in to the fake AMI server."""
    raw_config["http"]["port"] = free_port()
    raw_config["ami"].update(port=fake.port, reconnect_min=0.05, reconnect_max=0.1)
    running = app_mod.Bridge.build(config_mod.parse(raw_config, env={}))
    await running.start()
    try:
        await until(
            lambda: running.services.nodes.first.pbx.connected and fake.named("CoreShowChannels"), 5
        )
        yield running
    finally:
        await running.stop()


async def test_list_then_delete_await_the_events(bridge: app_mod.Bridge, fake: FakeAmi) -> None:
    """A recorded call streamed by the fake server shows in List; DELETE sends Hangup for its
    legs and answers as soon as the Hangup events have reached the tracker; List then agrees."""
    script = load("two_party")
    first_hangup = next(i for i, (_, e) in enumerate(script.lines) if e["Event"] == "Hangup")
    await fake.send_raw(*(wire(e).encode() for _, e in script.lines[:first_hangup]), pause=0)
    base = f"http://127.0.0.1:{bridge.config.http.port}/uapi/phoneCalls/@me/210"
    async with aiohttp.ClientSession(headers=AUTH) as http:
        await until(lambda: script.call_id in bridge.services.nodes.first.tracker.calls, 3)
        async with http.get(base) as resp:
            assert resp.status == 200
            assert [c["id"] for c in (await resp.json())["entry"]] == [script.call_id]
        legs = dict(bridge.services.nodes.first.tracker.channels)
        started = time.monotonic()
        deleting = asyncio.create_task(http.delete(f"{base}/{script.call_id}"))
        await until(lambda: len(fake.named("Hangup")) == len(legs), 3)
        assert not deleting.done()  # it waits for Asterisk's word
        await fake.send_raw(
            *(
                wire(
                    {"Event": "Hangup", "Uniqueid": uid, "Channel": chan.name, "Cause": "16"}
                ).encode()
                for uid, chan in legs.items()
            ),
            pause=0,
        )
        async with await deleting as resp:
            assert (resp.status, await resp.json()) == (200, [{"id": script.call_id}])
        assert time.monotonic() - started < CONFIRM_WITHIN
        async with http.get(base) as resp:
            assert resp.status == 204
