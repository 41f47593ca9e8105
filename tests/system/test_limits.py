"""Fair share on the sandbox Asterisk (#21): an app over its calls limit, an organization at
max_calls, and a node's Originate pacing, with the Originates counted where Asterisk gets them
(a TCP proxy in front of its AMI port notes each `Action: Originate` that reaches it)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bridge.ami.client import AmiClient
from bridge.errors import AmiActionFailed
from tests.contract.openapi_check import check_answer
from tests.polling import until
from tests.system.conftest import Sandbox
from tests.system.daemon import RunningBridge, free_port

pytestmark = pytest.mark.system

FLOOD = "flood-token-0123456789abcdef"  # organization 3, calls {rate: 2, burst: 5}
OTHER = "other-org-token-0123456789ab"  # organization 4, the default limits
BUSY_SOURCE = {
    "extension": "027",  # 027 answers 486 Busy: each call ends at once on Asterisk
    "phoneCallView": [{"source": ["027"], "destination": ["5551234"]}],
}


class OriginateCounter:
    """A TCP forwarder in front of the sandbox's AMI that notes when each Originate passes.

    It runs its own event loop in a thread: the test's loop is busy with hundreds of requests,
    and the bridge's Pings through the proxy must not wait for it."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.port = free_port()
        self.stamps: list[float] = []
        self.writers: list[asyncio.StreamWriter] = []
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    async def start(self) -> None:
        self.thread.start()
        started = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", self.port), self.loop
        )
        self.server = await asyncio.wrap_future(started)

    async def close(self) -> None:
        if self.thread.is_alive():
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self._shut(), self.loop))
            self.loop.call_soon_threadsafe(self.loop.stop)
            await asyncio.to_thread(self.thread.join, 5)
            self.loop.close()

    async def _shut(self) -> None:
        self.server.close()
        for writer in self.writers:
            writer.transport.abort()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        self.writers += [writer, up_writer]
        await asyncio.gather(
            self._pipe(reader, up_writer, count=True),
            self._pipe(up_reader, writer),
            return_exceptions=True,
        )

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, count: bool = False
    ) -> None:
        tail = b""
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                if count:  # a header may be split between reads: keep the last bytes
                    seen = (tail + data).count(b"Action: Originate\r\n")
                    self.stamps += [time.monotonic()] * (
                        seen - tail.count(b"Action: Originate\r\n")
                    )
                    tail = (tail + data)[-32:]
                writer.write(data)
                await writer.drain()
        writer.transport.abort()

    def busiest_second(self) -> int:
        return max(
            (sum(1 for t in self.stamps if s <= t < s + 1.0) for s in self.stamps), default=0
        )


def with_apps(
    flood_limits: dict[str, Any], ami: dict[str, Any] | None = None, org_max: int | None = None
) -> Callable[[dict[str, Any]], None]:
    def edit(raw: dict[str, Any]) -> None:
        raw["apps"] += [
            {"name": "flood", "organization": "3", "token": FLOOD, "limits": flood_limits},
            {"name": "other", "user": "30", "token": OTHER},
        ]
        raw["limits"] = {}  # the defaults (demo.yaml's are for tests that drive it hard)
        raw["ami"].update(ami or {})
        if org_max is not None:
            raw["organizations"][0]["max_calls"] = org_max

    return edit


@pytest.fixture
def counter() -> OriginateCounter:
    return OriginateCounter(Sandbox.ami_port)


async def started(
    tmp_path: Path,
    sandbox: Sandbox,
    counter: OriginateCounter,
    edit: Callable[[dict[str, Any]], None],
) -> RunningBridge:
    await counter.start()

    def through_proxy(raw: dict[str, Any]) -> None:
        edit(raw)
        raw["ami"].update(port=counter.port, ping_interval=5, ping_timeout=10)

    bridge = RunningBridge(tmp_path, sandbox, edit=through_proxy)
    await until(lambda: asyncio.to_thread(lambda: bridge.health()[0] == 200), 30)
    return bridge


async def request(
    session: aiohttp.ClientSession,
    bridge: RunningBridge,
    method: str,
    path: str,
    token: str,
    body: Any = None,
    *,
    seen: list[Any] | None = None,
) -> tuple[int, Any, Any]:
    """One request; its answer is checked against openapi.yaml now, or later by `checked`
    when `seen` collects it (the check takes time the measured window should not)."""
    async with session.request(
        method, f"{bridge.url}{path}", json=body, headers={"Authorization": f"Bearer {token}"}
    ) as resp:
        raw = await resp.read()
        answer = (bridge.url, method, path, resp.status, list(resp.headers.items()), raw)
        if seen is None:
            await asyncio.to_thread(check_answer, *answer)
        else:
            seen.append(answer)
        return resp.status, resp.headers, (await resp.json()) if raw else None


async def checked(seen: list[Any]) -> None:
    """Every collected answer, as openapi.yaml says."""

    def check_all() -> None:
        for answer in seen:
            check_answer(*answer)

    await asyncio.to_thread(check_all)


async def hang_up_all(ami: AmiClient, prefixes: tuple[str, ...]) -> None:
    for chan in await ami.send_list({"Action": "CoreShowChannels"}):
        if chan["Channel"].startswith(prefixes):
            with contextlib.suppress(AmiActionFailed):
                await ami.send({"Action": "Hangup", "Channel": chan["Channel"]})


async def test_an_app_over_its_calls_limit_does_not_starve_another_organization(
    tmp_path: Path, sandbox: Sandbox, counter: OriginateCounter, ami: AmiClient
) -> None:
    """App A sends 200 make-calls at once with calls {rate: 2, burst: 5}: Asterisk gets at most
    5 + 2/s Originates, the rest are 429 with Retry-After; meanwhile app B (organization 4)
    lists and places a call normally."""
    bridge = await started(
        tmp_path,
        sandbox,
        counter,
        with_apps({"calls": {"rate": 2, "burst": 5}, "requests": {"rate": 1000, "burst": 1000}}),
    )
    try:
        seen: list[Any] = []
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            began = time.monotonic()
            flood = [
                request(
                    session,
                    bridge,
                    "POST",
                    "/uapi/phoneCalls/13/simple",
                    FLOOD,
                    BUSY_SOURCE,
                    seen=seen,
                )
                for _ in range(200)
            ]
            other = [
                request(session, bridge, "GET", "/uapi/phoneCalls/@me/300", OTHER, seen=seen),
                request(
                    session,
                    bridge,
                    "POST",
                    "/uapi/phoneCalls/@me/simple?callDuration=1",
                    OTHER,
                    {"phoneCallView": [{"source": ["300"], "destination": ["5551234"]}]},
                    seen=seen,
                ),
            ]
            answers = await asyncio.gather(*flood, *other)
            elapsed = time.monotonic() - began
        await checked(seen)
        a, b = answers[:200], answers[200:]
        placed = [x for x in a if x[0] == 202]
        refused = [x for x in a if x[0] == 429]
        assert len(placed) + len(refused) == 200, [x[2] for x in a if x[0] not in (202, 429)]
        assert all(
            x[2]["error"]["code"] == "rate_limited" and int(x[1]["Retry-After"]) >= 1
            for x in refused
        )
        print(f"calls limit: {len(placed)} placed, {len(refused)} refused in {elapsed:.2f} s")
        assert 5 <= len(placed) <= 5 + 2 * elapsed + 1
        assert b[0][0] in (200, 204)
        assert b[1][0] == 202, b[1][2]
        # counted on Asterisk's side: A's Originates plus B's one
        await until(lambda: len(counter.stamps) >= len(placed) + 1, 10)
        assert len(counter.stamps) == len(placed) + 1
    finally:
        bridge.stop()
        await counter.close()
        await hang_up_all(ami, ("PJSIP/300", "PJSIP/trunk", "Local/s@uapi-source"))


async def test_an_organization_at_max_calls_gets_409_until_a_call_ends(
    tmp_path: Path, sandbox: Sandbox, counter: OriginateCounter, ami: AmiClient
) -> None:
    """Organization 3 with max_calls 1: a live call 210 -> public makes the next make-call 409
    pc_limit_exceeded (no Originate reaches Asterisk); once that call is hung up, 202 again."""
    bridge = await started(tmp_path, sandbox, counter, with_apps({}, org_max=1))
    call = {"phoneCallView": [{"source": ["210"], "destination": ["5551234"]}]}
    try:
        async with aiohttp.ClientSession() as session:
            status, _, body = await request(
                session, bridge, "POST", "/uapi/phoneCalls/12/simple", FLOOD, call
            )
            assert status == 202, body
            first = body[0]["id"]
            await until(lambda: listed(session, bridge, first), 15)
            status, _, body = await request(
                session, bridge, "POST", "/uapi/phoneCalls/13/simple", FLOOD, BUSY_SOURCE
            )
            assert (status, body["error"]["code"]) == (409, "pc_limit_exceeded")
            assert "organization 3" in body["error"]["message"]
            assert len(counter.stamps) == 1
            await hang_up_all(ami, ("PJSIP/210", "PJSIP/trunk", "Local/s@uapi-source"))

            async def placed_again() -> bool:
                got = await request(
                    session, bridge, "POST", "/uapi/phoneCalls/13/simple", FLOOD, BUSY_SOURCE
                )
                return got[0] == 202

            await until(placed_again, 20)
    finally:
        bridge.stop()
        await counter.close()
        await hang_up_all(ami, ("PJSIP/210", "PJSIP/trunk", "Local/s@uapi-source"))


async def listed(session: aiohttp.ClientSession, bridge: RunningBridge, call_id: str) -> bool:
    status, _, body = await request(session, bridge, "GET", "/uapi/phoneCalls/12/210", FLOOD)
    return status == 200 and any(e["id"] == call_id for e in body["entry"])


async def test_originates_are_paced_per_node(
    tmp_path: Path, sandbox: Sandbox, counter: OriginateCounter, ami: AmiClient
) -> None:
    """originate_rate 10 (queue 50) and 100 make-calls at once from an app with high limits:
    Asterisk never sees more than 20 Originates in any one-second window, and every request is
    answered 202 (once Asterisk accepted its Originate) or 503 pbx_busy with Retry-After."""
    bridge = await started(
        tmp_path,
        sandbox,
        counter,
        with_apps(
            {"calls": {"rate": 1000, "burst": 1000}, "requests": {"rate": 1000, "burst": 1000}},
            ami={"originate_rate": 10, "originate_queue": 50},
        ),
    )
    try:
        seen: list[Any] = []
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=60)
        ) as session:
            answers = await asyncio.gather(
                *(
                    request(
                        session,
                        bridge,
                        "POST",
                        "/uapi/phoneCalls/13/simple",
                        FLOOD,
                        BUSY_SOURCE,
                        seen=seen,
                    )
                    for _ in range(100)
                )
            )
        await checked(seen)
        placed = [x for x in answers if x[0] == 202]
        busy = [x for x in answers if x[0] == 503]
        assert len(placed) + len(busy) == 100, [x[2] for x in answers if x[0] not in (202, 503)]
        assert all(
            x[2]["error"]["code"] == "pbx_busy" and int(x[1]["Retry-After"]) >= 1 for x in busy
        )
        assert busy, "with 50 waiting at most, some of 100 at once must be refused"
        assert len(counter.stamps) == len(placed)
        print(
            f"pacing: {len(placed)} placed, {len(busy)} busy; busiest second "
            f"{counter.busiest_second()} Originates"
        )
        assert counter.busiest_second() <= 20
        assert counter.stamps[-1] - counter.stamps[0] >= (len(placed) - 10) / 10 - 0.5
    finally:
        bridge.stop()
        await counter.close()
        await hang_up_all(ami, ("PJSIP/027", "Local/s@uapi-source"))
