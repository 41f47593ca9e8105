"""One bridge over the two sandbox nodes (`scripts/asterisk-sandbox up --nodes 2`,
config/demo-cluster.yaml): calls on each node listed through one `@self`, a call between the
nodes through the trunk, park and hang-up on node 2, node 2 down (node 1 keeps working, node 2's
extensions 503) and node 2 resynced when it returns, its live calls listed again by id."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge.ami.client import AmiClient
from bridge.errors import AmiActionFailed
from tests.polling import until, wait_for
from tests.system.conftest import Node2, Sandbox, own_link
from tests.system.daemon import RunningBridge, free_port, get
from tests.system.test_list_calls import poll_views
from tests.system.test_make_call import hang_up, legs
from tests.system.test_webhooks import Receiver, register, soon

pytestmark = pytest.mark.system
CALLS = "/uapi/phoneCalls/@me"


def body(extension: str, source: str, destination: str) -> dict[str, Any]:
    return {
        "extension": extension,
        "phoneCallView": [{"source": [source], "destination": [destination]}],
    }


def both_up(bridge: RunningBridge) -> bool:
    status, report = bridge.health()
    return status == 200 and report.get("ami") == "connected"


async def up(bridge: RunningBridge) -> bool:
    """`both_up` off the event loop (the loop also runs the test's AMI proxy)."""
    return bool(await asyncio.to_thread(both_up, bridge))


async def node2_down(bridge: RunningBridge) -> bool:
    _, report = await asyncio.to_thread(bridge.health)
    state: str = report.get("nodes", {}).get("node2", {}).get("ami", "")
    return state == "disconnected"


async def on_call(
    bridge: RunningBridge, call_id: str, *parties: str, within: float = 20
) -> dict[str, dict[str, Any]]:
    """Polls List until every party's view is on call; fails with the bridge's last log lines
    (what it saw of the call) if not."""
    try:
        return await poll_views(
            bridge, f"@me/410/{call_id}", dict.fromkeys(parties, "5"), within=within
        )
    except pytest.fail.Exception:
        tail = [
            line
            for line in bridge.log_lines()
            if line.get("call_id") == call_id or str(line.get("event", "")).startswith("ami.")
        ][-30:]
        pytest.fail(
            f"call {call_id} not on call for {parties} within {within} s; bridge log: {tail}"
        )


@pytest.fixture
def cluster(tmp_path: Path, sandbox: Sandbox, node2: Node2) -> Iterator[RunningBridge]:
    """A bridge over both nodes, both links up."""
    running = RunningBridge(tmp_path, sandbox, config="demo-cluster.yaml")
    try:
        wait_for(lambda: both_up(running), 30)
        yield running
    finally:
        running.stop()
        node2.start()  # a test may have stopped node 2: leave it up for the next one


@pytest.fixture
async def ami2(node2: Node2) -> AsyncIterator[AmiClient]:
    """The test's own AMI link to node 2 (to look at and clean up its calls)."""
    async with own_link(node2, "nodes-test") as client:
        yield client


async def place(bridge: RunningBridge, payload: dict[str, Any]) -> str:
    status, answer = await asyncio.to_thread(bridge.request, "POST", f"{CALLS}/simple", payload)
    assert status == 202, answer
    return str(answer[0]["id"])


async def listed(bridge: RunningBridge, path: str) -> list[str]:
    status, answer = await asyncio.to_thread(bridge.request, "GET", f"{CALLS}/{path}")
    assert status in (200, 204), answer
    return [e["id"] for e in answer["entry"]] if answer else []


async def channels(ami: AmiClient) -> dict[str, str]:
    """Every live channel of a node: name -> state."""
    return {
        c["Channel"]: c["ChannelStateDesc"]
        for c in await ami.send_list({"Action": "CoreShowChannels"})
    }


async def gone(ami: AmiClient, prefix: str) -> bool:
    return not any(n.startswith(prefix) for n in await channels(ami))


async def test_calls_on_each_node_are_listed_through_one_self(
    cluster: RunningBridge, ami: AmiClient, ami2: AmiClient
) -> None:
    """210 -> 024 rings on node 1, 410 -> 411 on node 2; John's @self lists both; each
    Asterisk has only its own call's legs."""
    first = await place(cluster, body("210", "210", "024"))
    second = await place(cluster, body("410", "410", "411"))
    try:
        await poll_views(cluster, f"@me/210/{first}", {"0003*210": "5", "0003*024": "5"})
        await poll_views(cluster, f"@me/410/{second}", {"0003*410": "5", "0003*411": "5"})
        assert {first, second} <= set(await listed(cluster, "@self"))
        assert await listed(cluster, "410") == [second]
        assert (await legs(ami, first)).get("PJSIP/210") == "Up"
        assert (await legs(ami2, second)).get("PJSIP/410") == "Up"
        assert await legs(ami2, first) == {}
        assert await legs(ami, second) == {}
    finally:
        await hang_up(ami, first)
        await hang_up(ami2, second)


async def test_a_call_between_the_nodes_goes_through_the_trunk(
    cluster: RunningBridge, ami: AmiClient, ami2: AmiClient
) -> None:
    """210 (node 1) -> 410 (node 2): placed on node 1, dialled through its trunk; node 2's
    phone 410 really answers; List shows the one call under 210 and under 410; DELETE through
    410 ends the legs on both nodes."""
    call_id = await place(cluster, body("210", "210", "0003*410"))
    try:
        views = await poll_views(cluster, f"@me/210/{call_id}", {"0003*210": "5", "0003*410": "5"})
        assert set(views) == {"0003*210", "0003*410"}
        on_node2 = await channels(ami2)
        assert any(n.startswith("PJSIP/410-") and s == "Up" for n, s in on_node2.items())
        assert any(n.startswith("PJSIP/node1-") for n in on_node2)
        assert (await legs(ami, call_id)).get("PJSIP/node2") == "Up"  # node 1's trunk leg
        assert await listed(cluster, "410") == [call_id]
        assert await listed(cluster, "210") == [call_id]
        status, answer = await asyncio.to_thread(
            cluster.request, "DELETE", f"{CALLS}/410/{call_id}"
        )
        assert (status, answer) == (200, [{"id": call_id}])
        await until(lambda: gone(ami2, "PJSIP/node1-"), 10)
        await until(lambda: gone(ami2, "PJSIP/410-"), 10)
        assert await legs(ami, call_id) == {}
    finally:
        await hang_up(ami, call_id)


async def test_park_and_hang_up_on_node2(cluster: RunningBridge, ami2: AmiClient) -> None:
    """410 parks 411 on node 2 (node 2 lists it parked); DELETE hangs the parked call up."""
    call_id = await place(cluster, body("410", "410", "411"))
    try:
        await poll_views(cluster, f"@me/410/{call_id}", {"0003*410": "5", "0003*411": "5"})
        status, answer = await asyncio.to_thread(
            cluster.request,
            "PUT",
            f"{CALLS}/410/{call_id}",
            {"action": "Park", "phoneCallViewId": "00"},
        )
        assert status == 200, answer
        parked = {v["extension"]: v for v in answer[0]["phoneCallView"]}["0003*411"]
        assert parked["parkedBy"] == "0003*410"
        events = await ami2.send_list({"Action": "ParkedCalls"})
        assert parked["parkedPos"] in {e.get("ParkingSpace") for e in events}
        status, answer = await asyncio.to_thread(
            cluster.request, "DELETE", f"{CALLS}/410/{call_id}"
        )
        assert (status, answer) == (200, [{"id": call_id}])
        await until(lambda: _no_legs(ami2, call_id), 10)
        assert not [
            e
            for e in await ami2.send_list({"Action": "ParkedCalls"})
            if e.get("Event") == "ParkedCall"
        ]
    finally:
        await hang_up(ami2, call_id)


async def _no_legs(ami: AmiClient, call_id: str) -> bool:
    return not await legs(ami, call_id)


async def test_webhooks_fire_from_node2_and_once_for_a_trunk_call(
    cluster: RunningBridge, ami: AmiClient, ami2: AmiClient
) -> None:
    """A webhook on 410 fires for a call on node 2; for a call from 210 (node 1) through the
    trunk, 410's DialIn fires once, with the id List shows (node 2's half fires nothing)."""
    rec = Receiver(free_port())
    await rec.start()
    calls: list[tuple[AmiClient, str]] = []
    try:
        url = f"http://127.0.0.1:{rec.port}"
        await register(cluster, "@me/410", "DialOut", f"{url}/out")
        await register(cluster, "@me/410", "DialIn", f"{url}/in")
        local = await place(cluster, body("410", "410", "411"))
        calls.append((ami2, local))
        await soon(lambda: any(g["path"] == "/out" for g in rec.got))
        assert local in next(g["payload"] for g in rec.got if g["path"] == "/out")
        trunk = await place(cluster, body("210", "210", "0003*410"))
        calls.append((ami, trunk))
        await soon(lambda: any(g["path"] == "/in" for g in rec.got))
        await asyncio.sleep(2)  # a second DialIn (node 2's half) would have come by now
        dial_in = [g["payload"] for g in rec.got if g["path"] == "/in"]
        assert len(dial_in) == 1, dial_in
        assert trunk in dial_in[0]
    finally:
        for link, call_id in calls:
            await hang_up(link, call_id)
        await rec.stop()


async def test_node2_down_node1_keeps_working(
    cluster: RunningBridge, node2: Node2, ami: AmiClient
) -> None:
    """node 2's Asterisk stopped: its extensions answer 503 naming it, node 1 keeps placing and
    listing calls, /healthz is 200 degraded (503 with strict); node 2 back: both connected."""
    node2.stop_asterisk()
    await until(lambda: node2_down(cluster), 15)
    call_id = ""
    try:
        for method, path, payload in (
            ("GET", f"{CALLS}/410", None),
            ("POST", f"{CALLS}/simple", body("410", "410", "411")),
        ):
            status, answer = await asyncio.to_thread(cluster.request, method, path, payload)
            assert (status, answer["error"]["code"]) == (503, "pbx_unavailable")
            assert "node2" in answer["error"]["message"]
        call_id = await place(cluster, body("210", "210", "024"))
        await poll_views(cluster, f"@me/210/{call_id}", {"0003*210": "5", "0003*024": "5"})
        assert await listed(cluster, "210") == [call_id]
        status, report = cluster.health()
        assert (status, report["status"], report["ami"]) == (200, "degraded", "partial")
        assert report["nodes"]["node1"]["ami"] == "connected"
        assert (await asyncio.to_thread(_get_status, f"{cluster.url}/healthz?strict")) == 503
    finally:
        if call_id:
            await hang_up(ami, call_id)
        node2.start()
    await until(lambda: up(cluster), 30)
    assert await listed(cluster, "410") == []


def _get_status(url: str) -> int:
    return get(url)[0]


class Proxy:
    """A TCP forwarder in front of node 2's AMI: cutting it parts the bridge from node 2
    while Asterisk (and its calls) keeps running."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.port = free_port()
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def cut(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for writer in self.writers:
            writer.transport.abort()
        self.writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        self.writers += [writer, up_writer]
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.transport.abort()


async def test_node2_is_resynced_when_it_returns(
    tmp_path: Path, sandbox: Sandbox, node2: Node2, ami2: AmiClient
) -> None:
    """The link to node 2 is cut while a call there goes on (410 -> 411, placed through the
    API): 503 meanwhile; when the link returns the bridge rebuilds node 2's calls from
    CoreShowChannels and lists the call again with its id and its views on call."""
    proxy = Proxy(node2.ami_port)
    await proxy.start()
    bridge = RunningBridge(
        tmp_path, sandbox, config="demo-cluster.yaml", ami_ports={"node2": proxy.port}
    )
    call_id = ""
    try:
        await until(lambda: up(bridge), 30)
        call_id = await place(bridge, body("410", "410", "411"))
        await on_call(bridge, call_id, "0003*410", "0003*411")
        await proxy.cut()
        await until(lambda: node2_down(bridge), 15)
        status, answer = await asyncio.to_thread(bridge.request, "GET", f"{CALLS}/410")
        assert (status, answer["error"]["code"]) == (503, "pbx_unavailable")
        assert (await legs(ami2, call_id)).get("PJSIP/410") == "Up"  # the call went on
        await proxy.start()
        await until(lambda: up(bridge), 30)
        views = await on_call(bridge, call_id, "0003*410", "0003*411")
        assert (views["0003*410"]["id"], views["0003*411"]["id"]) == ("00", "01")
        assert await listed(bridge, "410") == [call_id]
    finally:
        if call_id:
            with contextlib.suppress(AmiActionFailed):
                await hang_up(ami2, call_id)
        bridge.stop()
        await proxy.cut()
