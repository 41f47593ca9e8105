"""The load generator: calls at a rate through both bridges (make-call on both nodes, some
through the trunk, to public numbers, to phones that ring late, are busy or never answer),
phone-to-phone calls originated on Asterisk directly, a few parked, held or transferred, each
hung up after a random time (through the API or on Asterisk). It keeps its own account of what
became of every call it placed: answered, failed or cut (gone before its time)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bridge.ami.client import AmiClient
from bridge.config import AmiConfig
from bridge.domain.callids import phone_call_id
from bridge.errors import BridgeError
from tests.conftest import CRM, HELPDESK
from tests.soak.world import AMI_PORTS, Api, Bridge

CALLS = "/uapi/phoneCalls"
# (weight, kind, source, destination, node the call lives on)
MIX: list[tuple[int, str, str, str, str]] = [
    (3, "api", "210", "024", "node1"),
    (1, "api", "210", "025", "node1"),
    (1, "api", "210", "027", "node1"),
    (3, "api", "410", "411", "node2"),
    (1, "api", "410", "412", "node2"),
    (2, "api", "210", "0003*410", "node1"),
    (1, "api", "410", "5551234", "node2"),
    (2, "phone", "024", "210", "node1"),
]
NODE_OF_EXT = {
    "210": "node1",
    "024": "node1",
    "025": "node1",
    "027": "node1",
    "410": "node2",
    "411": "node2",
    "412": "node2",
}


@dataclass
class Placed:
    """One call the generator placed and what it knows of it."""

    kind: str
    source: str
    destination: str
    node: str
    linkedid: str
    call_id: str
    placed_at: float
    bridge: str
    extra: str = ""
    outcome: str = ""  # answered | failed | cut | unknown
    ended_at: float = 0.0


class Channels:
    """Each node's live channels, polled once a second with the generator's own AMI links:
    linkedid -> [(channel, state)], and the linkedids ever seen answered (two PJSIP legs up)."""

    def __init__(self) -> None:
        self.links = {
            node: AmiClient(
                AmiConfig(
                    name=node,
                    port=port,
                    secret="sandbox-secret",
                    reconnect_min=0.2,
                    reconnect_max=1,
                ),
                events=(),
                name=f"soak-{node}",
            )
            for node, port in AMI_PORTS.items()
        }
        self.now: dict[str, dict[str, list[tuple[str, str]]]] = {n: {} for n in AMI_PORTS}
        self.fresh: dict[str, float] = dict.fromkeys(AMI_PORTS, 0.0)
        self.answered: set[str] = set()

    async def start(self) -> None:
        for link in self.links.values():
            await link.start()
            await link.wait_connected(15)

    async def close(self) -> None:
        for link in self.links.values():
            await link.close()

    async def poll(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.gather(*(self.refresh(node) for node in self.links))
            await asyncio.sleep(1)

    async def refresh(self, node: str) -> None:
        try:
            chans = await self.links[node].send_list({"Action": "CoreShowChannels"}, timeout=5)
        except (BridgeError, OSError):
            return
        calls: dict[str, list[tuple[str, str]]] = {}
        for chan in chans:
            calls.setdefault(chan.get("Linkedid", ""), []).append(
                (chan.get("Channel", ""), chan.get("ChannelStateDesc", ""))
            )
        for linkedid, legs in calls.items():
            if sum(1 for name, state in legs if name.startswith("PJSIP/") and state == "Up") >= 2:
                self.answered.add(linkedid)
        self.now[node], self.fresh[node] = calls, time.monotonic()

    async def hang_up(self, node: str, linkedid: str) -> None:
        for name, _ in self.now[node].get(linkedid, []):
            with contextlib.suppress(BridgeError, OSError):
                await self.links[node].send({"Action": "Hangup", "Channel": name}, timeout=5)

    async def settled(self, node: str, since: float, within: float = 60) -> bool:
        """Waits for a snapshot of `node` taken after `since`."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.fresh[node] > since:
                return True
            await asyncio.sleep(0.5)
        return False


@dataclass
class Generator:
    """Places calls at `rate` a second until stopped; `placed` is its account."""

    api: Api
    bridges: list[Bridge]
    channels: Channels
    rng: random.Random
    rate: float
    placed: list[Placed] = field(default_factory=list)
    refused: Counter[str] = field(default_factory=Counter)
    controls: Counter[str] = field(default_factory=Counter)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def run(self, stop: asyncio.Event) -> None:
        weights = [m[0] for m in MIX]
        while not stop.is_set():
            await asyncio.sleep(self.rng.expovariate(self.rate))
            _, kind, src, dst, node = self.rng.choices(MIX, weights)[0]
            duration = self.rng.uniform(2, 12)
            extra = (
                self.rng.choice(["park", "hold", "transfer"]) if self.rng.random() < 0.15 else ""
            )
            task = asyncio.create_task(self.call(kind, src, dst, node, duration, extra))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def finish(self) -> None:
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)

    async def call(
        self, kind: str, src: str, dst: str, node: str, duration: float, extra: str
    ) -> None:
        placed = await (
            self.make_call(src, dst, node) if kind == "api" else self.originate(src, dst, node)
        )
        if placed is None:
            return
        self.placed.append(placed)
        await asyncio.sleep(min(2.5, duration))
        if extra and placed.linkedid in self.channels.answered:
            placed.extra = extra
            await self.control(placed, extra)
        await asyncio.sleep(max(0.0, duration - 2.5))
        await self.end(placed)

    def bridge(self) -> Bridge:
        live = [b for b in self.bridges if b.alive()] or self.bridges
        return self.rng.choice(live)

    async def make_call(self, src: str, dst: str, node: str) -> Placed | None:
        body = {
            "extension": src,
            "nonce": secrets.token_hex(8),
            "phoneCallView": [{"source": [src], "destination": [dst]}],
        }
        for _ in range(6):
            bridge = self.bridge()
            status, answer = await self.api.request(
                bridge, "POST", f"{CALLS}/@me/simple", CRM, body
            )
            if status == 202:
                call_id = str(answer[0]["id"])
                return Placed("api", src, dst, node, call_id, call_id, time.time(), bridge.name)
            if status not in (0, 502, 503):
                self.refused[f"{status} {answer and answer.get('error', {}).get('code')}"] += 1
                return None
            await asyncio.sleep(2)
        self.refused["no bridge answered"] += 1
        return None

    async def originate(self, src: str, dst: str, node: str) -> Placed | None:
        """A phone-to-phone call started on Asterisk: `src`'s phone answers, then dials `dst`."""
        linkedid = f"soak-{secrets.token_hex(6)}"
        action = {
            "Action": "Originate",
            "Channel": f"PJSIP/{src}",
            "Context": "uapi-phones",
            "Exten": dst,
            "Priority": "1",
            "CallerID": f"Phone {src} <{src}>",
            "ChannelId": linkedid,
            "OtherChannelId": f"{linkedid}-2",
            "Async": "true",
            "Timeout": "20000",
        }
        try:
            await self.channels.links[node].send(action, timeout=5)
        except (BridgeError, OSError):
            self.refused["originate refused"] += 1
            return None
        call_id = phone_call_id(linkedid, "" if node == "node1" else node)
        return Placed("phone", src, dst, node, linkedid, call_id, time.time(), "ami")

    async def control(self, placed: Placed, extra: str) -> None:
        path = f"{CALLS}/@me/{placed.source}/{placed.call_id}"
        if placed.kind != "api":
            path = f"{CALLS}/@me/{placed.destination}/{placed.call_id}"
        actions: list[dict[str, Any]] = {
            "park": [{"action": "Park", "phoneCallViewId": "00"}],
            "hold": [
                {"action": "OnHold", "phoneCallViewId": "00"},
                {"action": "OffHold", "phoneCallViewId": "00"},
            ],
            "transfer": [
                {
                    "action": "Transfer",
                    "phoneCallViewId": "00",
                    "sendCallTo": "412" if placed.node == "node2" else "025",
                }
            ],
        }[extra]
        for body in actions:
            status, _ = await self.api.request(self.bridge(), "PUT", path, CRM, body)
            self.controls[f"{body['action']} {status}"] += 1
            await asyncio.sleep(1)

    async def end(self, placed: Placed) -> None:
        node, started = placed.node, time.monotonic()
        if not await self.channels.settled(node, started):
            placed.outcome = "unknown"
            return
        answered = placed.linkedid in self.channels.answered
        if placed.linkedid not in self.channels.now[node]:
            placed.outcome = "cut" if answered else "failed"
            placed.ended_at = time.time()
            return
        placed.outcome = "answered" if answered else "failed"
        if self.rng.random() < 0.5:
            path = f"{CALLS}/12/@self/{placed.call_id}"
            await self.api.request(self.bridge(), "DELETE", path, HELPDESK)
        await asyncio.sleep(1)
        await self.channels.hang_up(node, placed.linkedid)  # what the API did not end
        placed.ended_at = time.time()

    def counts(self) -> dict[str, int]:
        return dict(Counter(p.outcome for p in self.placed))
