"""Two nodes in-process: two fake AMI servers -> two real clients -> one Bridge (composition
root), over config/demo-cluster.yaml. The real two-node sandbox is tests/system/test_nodes.py."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from bench.corpus import wire
from bridge import app as app_mod
from bridge import config as config_mod
from bridge.store import placed as calls_store
from bridge.store.db import StoreUnavailable
from tests.ami.fake_ami import FakeAmi
from tests.conftest import CRM
from tests.domain.replay import load
from tests.live.conftest import Reader
from tests.polling import until
from tests.system.daemon import free_port

AUTH = {"Authorization": f"Bearer {CRM}"}
NODE2_CALL = "0123456789abcdef0123"


def on_node2(text: str, call_id: str) -> str:
    """A recorded node1 call as node2 would report it: 410 and 411 instead of 210 and 024."""
    return (
        text.replace("PJSIP/210", "PJSIP/410")
        .replace("PJSIP/024", "PJSIP/411")
        .replace(call_id, NODE2_CALL)
    )


def until_hangup(name: str) -> tuple[str, list[bytes]]:
    """(call id, wire frames) of a recorded call up to its first Hangup (it stays live)."""
    script = load(name)
    first = next(i for i, (_, e) in enumerate(script.lines) if e["Event"] == "Hangup")
    return script.call_id, [wire(e).encode() for _, e in script.lines[:first]]


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakeAmi, FakeAmi]]:
    one, two = FakeAmi(secret="sandbox-secret"), FakeAmi(secret="sandbox-secret")
    await one.start()
    await two.start()
    yield one, two
    await one.close()
    await two.close()


@pytest.fixture
async def bridge(
    cluster_raw: dict[str, Any], fakes: tuple[FakeAmi, FakeAmi]
) -> AsyncIterator[app_mod.Bridge]:
    cluster_raw["http"]["port"] = free_port()
    for node, fake in zip(cluster_raw["ami"], fakes, strict=True):
        node.update(port=fake.port, reconnect_min=0.05, reconnect_max=0.1)
    running = app_mod.Bridge.build(config_mod.parse(cluster_raw, env={}))
    await running.start()
    try:
        await until(
            lambda: (
                all(link.connected for link in running.links)
                and all(f.named("CoreShowChannels") for f in fakes)
            ),
            5,
        )
        yield running
    finally:
        await running.stop()


async def test_two_nodes_one_api(bridge: app_mod.Bridge, fakes: tuple[FakeAmi, FakeAmi]) -> None:
    """A call on each node; @self lists both; a DELETE reaches the node of the call; node2
    down: its extensions 503 naming it, node1 keeps placing and listing; node2 back: resynced,
    its live call listed again with its id."""
    one, two = fakes
    first_id, first = until_hangup("two_party")
    second_id, second = until_hangup("phone_to_phone")
    await one.send_raw(*first, pause=0)
    await two.send_raw(*(on_node2(f.decode(), second_id).encode() for f in second), pause=0)
    nodes = bridge.services.nodes
    await until(
        lambda: (
            first_id in nodes["node1"].tracker.calls and NODE2_CALL in nodes["node2"].tracker.calls
        ),
        3,
    )
    base = f"http://127.0.0.1:{bridge.config.http.port}"
    calls = f"{base}/uapi/phoneCalls/@me"
    async with aiohttp.ClientSession(headers=AUTH) as http:
        async with http.get(f"{calls}/@self") as resp:
            assert resp.status == 200
            assert {c["id"] for c in (await resp.json())["entry"]} == {first_id, NODE2_CALL}
        async with http.get(f"{calls}/410") as resp:
            assert [c["id"] for c in (await resp.json())["entry"]] == [NODE2_CALL]
        async with http.get(f"{calls}/@self/stream") as resp:  # the live stream spans nodes
            events = await Reader(resp).until("ready")
            assert {e.data["id"] for e in events if e.kind == "call"} == {first_id, NODE2_CALL}
        async with http.get(f"{base}/healthz") as resp:
            report = await resp.json()
            assert (resp.status, report["ami"]) == (200, "connected")
            assert set(report["tasks"]) >= {"ami-link:node1", "ami-link:node2"}

        legs = {c.name for c in nodes["node2"].tracker.channels.values()}
        async with http.delete(f"{calls}/410/{NODE2_CALL}") as resp:
            assert resp.status == 200
        assert {a["Channel"] for a in two.named("Hangup")} == legs
        assert one.named("Hangup") == []

        await two.refuse()
        two.drop()
        await until(lambda: not nodes["node2"].pbx.connected, 3)
        async with http.get(f"{calls}/413") as resp:
            body = await resp.json()
            assert (resp.status, body["error"]["code"]) == (503, "pbx_unavailable")
            assert "node2" in body["error"]["message"]
        async with http.get(f"{calls}/210") as resp:
            assert [c["id"] for c in (await resp.json())["entry"]] == [first_id]
        async with http.post(
            f"{calls}/simple", json={"phoneCallView": [{"source": ["210"], "destination": ["024"]}]}
        ) as resp:
            assert resp.status == 202, await resp.text()
        assert one.named("Originate")
        async with http.get(f"{base}/healthz") as resp:
            report = await resp.json()
            assert (resp.status, report["nodes"]["node2"]["ami"]) == (200, "disconnected")
        async with http.get(f"{base}/healthz?strict=1") as resp:
            assert resp.status == 503

        # node2 comes back with a live call the bridge placed before: listed again, same id
        two.channels = [json.loads(json.dumps(c)) for c in _snapshot()]
        await two.start()
        await until(
            lambda: nodes["node2"].pbx.connected and NODE2_CALL in nodes["node2"].tracker.calls, 5
        )
        async with http.get(f"{calls}/410") as resp:
            assert [c["id"] for c in (await resp.json())["entry"]] == [NODE2_CALL]


def _snapshot() -> list[dict[str, str]]:
    """CoreShowChannel entries of a 410 -> 411 call that is up."""
    common = {
        "Linkedid": NODE2_CALL,
        "ChannelState": "6",
        "Duration": "00:00:05",
        "BridgeId": "b-1",
    }
    return [
        {
            **common,
            "Channel": "PJSIP/410-00000031",
            "Uniqueid": NODE2_CALL,
            "Application": "AppDial",
            "ApplicationData": "(Outgoing Line)",
            "CallerIDNum": "410",
        },
        {
            **common,
            "Channel": "PJSIP/411-00000032",
            "Uniqueid": "1700000001.2",
            "Application": "Dial",
            "ApplicationData": "PJSIP/411,30",
            "CallerIDNum": "411",
        },
    ]


async def test_a_node_not_yet_back_keeps_its_calls_history_open(
    cluster_raw: dict[str, Any], fakes: tuple[FakeAmi, FakeAmi]
) -> None:
    """A call up on node2 across a bridge restart, node2 not reconnected yet when node1 is
    resynced (found by the soak, issue 27): node1's login does not close node2's call in the
    history as if it had ended (its real end would then be lost)."""
    one, two = fakes
    two.channels = [json.loads(json.dumps(c)) for c in _snapshot()]
    cluster_raw["http"]["port"] = free_port()
    for node, fake in zip(cluster_raw["ami"], fakes, strict=True):
        node.update(port=fake.port, reconnect_min=0.05, reconnect_max=0.1)
    config = config_mod.parse(cluster_raw, env={})
    first = app_mod.Bridge.build(config)
    await first.start()
    try:
        await until(lambda: NODE2_CALL in first.services.nodes["node2"].tracker.calls, 5)
        await first.services.history.flush()
    finally:
        await first.stop()
    await two.refuse()
    two.drop()
    asked = len(one.named("QueueStatus"))
    second = app_mod.Bridge.build(config)
    await second.start()
    try:  # QueueStatus comes after the history's look at what ended: node1 is through
        await until(lambda: len(one.named("QueueStatus")) > asked, 5)
        rows = await second.db.fetchall(
            "SELECT ended FROM call_history WHERE id = ?", (NODE2_CALL,)
        )
        assert rows == [(None,)]
    finally:
        await second.stop()


async def test_a_resync_while_the_store_is_away_waits_for_it(
    cluster_raw: dict[str, Any], fakes: tuple[FakeAmi, FakeAmi], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bridge restarts while PostgreSQL is away (found by the soak, issue 27): node2's
    rebuild cannot read the stored plans, so node2 is not resynced, and its call up across
    the restart keeps its open history record (it was closed as ended, 0 s); once the store
    is back the rebuild is done and the call is tracked."""
    one, two = fakes
    two.channels = [json.loads(json.dumps(c)) for c in _snapshot()]
    cluster_raw["http"]["port"] = free_port()
    for node, fake in zip(cluster_raw["ami"], fakes, strict=True):
        node.update(port=fake.port, reconnect_min=0.05, reconnect_max=0.1)
    config = config_mod.parse(cluster_raw, env={})
    first = app_mod.Bridge.build(config)
    await first.start()
    try:
        await until(lambda: NODE2_CALL in first.services.nodes["node2"].tracker.calls, 5)
        await first.services.history.flush()
    finally:
        await first.stop()
    away = {"down": True, "tries": 0}
    find = calls_store.find

    async def unreachable(db: Any, ids: Any) -> Any:
        if away["down"] and ids:
            away["tries"] += 1
            raise StoreUnavailable("PostgreSQL is restarting")
        return await find(db, ids)

    monkeypatch.setattr(calls_store, "find", unreachable)
    asked = len(one.named("QueueStatus"))
    second = app_mod.Bridge.build(config)
    await second.start()
    try:  # node1 through its resync and the history's look; node2's rebuild tried twice
        await until(lambda: len(one.named("QueueStatus")) > asked and away["tries"] >= 2, 10)
        tracker = second.services.nodes["node2"].tracker
        assert NODE2_CALL not in tracker.calls
        query = ("SELECT ended FROM call_history WHERE id = ?", (NODE2_CALL,))
        assert await second.db.fetchall(*query) == [(None,)]
        away["down"] = False
        await until(lambda: NODE2_CALL in tracker.calls, 10)
        assert await second.db.fetchall(*query) == [(None,)]
    finally:
        await second.stop()
