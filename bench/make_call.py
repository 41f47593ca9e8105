"""Make-call latency: `POST /uapi/phoneCalls/13/simple` through a running bridge (the daemon
as users run it, in its own process: HTTP, auth, validation, nonce, Originate over its AMI
link, 202) beside a raw panoramisk Originate of the same action to the same sandbox Asterisk
(until "successfully queued"), and the ratio. Also the bridge's AmiClient alone, in process.

Then throughput (issue 28): `--burst` make-calls through the API with `--concurrency` requests in
flight, beside the same number of raw panoramisk Originates pipelined on one AMI link (all sent
at once, each until "successfully queued"), same phones, rounds interleaved (`--rounds`); the
ratio API/raw (target >= 0.5). config/demo.yaml sets the fair-share limits out of the way
(`limits.requests`, `limits.calls` and `ami.originate_rate` / `originate_queue` at 100000), so
this measures the bridge, not its pacing.

Needs the sandbox: `scripts/asterisk-sandbox up`. The source is the busy phone 027, so every
call ends at once and nothing rings for long.

    .venv/bin/python bench/make_call.py [--calls 60] [--burst 100] [--concurrency 16]
                                        [--rounds 3]

BENCH_PROFILE=file runs the daemon under cProfile.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
import yaml
from panoramisk import Manager

from bench.corpus import free_port
from bridge import logs
from bridge.ami.actions import CallPlan, originate
from bridge.app import Bridge
from bridge.config import load

ROOT = Path(__file__).resolve().parents[1]
# The organization app, for user 13 (the user app may only act for its own user's phones, and
# the busy phone 027 is user 13's)
TOKEN = "demo-helpdesk-token-0123456789"
PATH = "/uapi/phoneCalls/13/simple"
BODY = {"extension": "027", "phoneCallView": [{"source": ["027"], "destination": ["024"]}]}


async def _until_up(port: int) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(100):
            try:
                async with session.get(f"http://127.0.0.1:{port}/healthz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit("the bridge did not come up (is the sandbox up?)")


def plan() -> CallPlan:
    """The plan the API builds for BODY (same targets, caller ids, wait)."""
    return CallPlan(
        secrets.token_hex(10),
        ("PJSIP/027",),
        ("PJSIP/024",),
        "John Doe <210>",
        "John Doe <210>",
        25,
        None,
    )


async def api_call(session: aiohttp.ClientSession, url: str) -> float:
    started = time.perf_counter()
    async with session.post(url, json=BODY, headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
        body = await resp.read()
        assert resp.status == 202, (resp.status, body)
    return (time.perf_counter() - started) * 1000


async def raw_http_call(port: int) -> float:
    """The same POST over a bare keep-alive socket: the bridge's own time, not a client's."""
    return await _raw_http.post(port)


class _RawHttp:
    def __init__(self) -> None:
        self.conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post(self, port: int) -> float:
        if self.conn is None:
            self.conn = await asyncio.open_connection("127.0.0.1", port)
        reader, writer = self.conn
        body = json.dumps(BODY).encode()
        head = (
            f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        started = time.perf_counter()
        writer.write(head + body)
        status = await reader.readline()
        length = 0
        while (line := await reader.readline()) != b"\r\n":
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await reader.readexactly(length)
        assert b" 202 " in status, status
        return (time.perf_counter() - started) * 1000


_raw_http = _RawHttp()


async def bridge_ami_call(bridge: Bridge) -> float:
    """The bridge's own AMI client sending the Originate (no HTTP, no validation, no store)."""
    started = time.perf_counter()
    await bridge.services.nodes.first.pbx.send(originate(plan()))
    return (time.perf_counter() - started) * 1000


async def raw_call(manager: Manager) -> float:
    started = time.perf_counter()
    resp = await manager.send_action(originate(plan()), as_list=False)
    assert "queued" in resp.message, resp
    return (time.perf_counter() - started) * 1000


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def api_burst(session: aiohttp.ClientSession, url: str, n: int, concurrency: int) -> float:
    """Make-calls per second through the API, `concurrency` requests in flight."""

    async def worker(share: int) -> None:
        for _ in range(share):
            await api_call(session, url)

    shares = [n // concurrency + (1 if w < n % concurrency else 0) for w in range(concurrency)]
    started = time.perf_counter()
    await asyncio.gather(*(worker(s) for s in shares if s))
    return n / (time.perf_counter() - started)


async def link_burst(bridge: Bridge, n: int) -> float:
    """Originates per second through the bridge's own AmiClient (its link gets every event),
    all n pipelined: the AMI link's share of the API's time, without HTTP."""
    started = time.perf_counter()
    await asyncio.gather(*(bridge_ami_call(bridge) for _ in range(n)))
    return n / (time.perf_counter() - started)


async def paced(send: Callable[[], Awaitable[float]], n: int, concurrency: int) -> float:
    """Originates with `concurrency` in flight, like the API's clients (not all at once)."""

    async def worker(share: int) -> None:
        for _ in range(share):
            await send()

    shares = [n // concurrency + (1 if w < n % concurrency else 0) for w in range(concurrency)]
    started = time.perf_counter()
    await asyncio.gather(*(worker(s) for s in shares if s))
    return n / (time.perf_counter() - started)


async def raw_burst(manager: Manager, n: int) -> float:
    """Originates per second, all n pipelined on one AMI link (each until it is queued)."""
    started = time.perf_counter()
    await asyncio.gather(*(raw_call(manager) for _ in range(n)))
    return n / (time.perf_counter() - started)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=60)
    parser.add_argument("--burst", type=int, default=100, help="calls per throughput round")
    parser.add_argument("--concurrency", type=int, default=16, help="API requests in flight")
    parser.add_argument("--rounds", type=int, default=3, help="throughput rounds of each")
    parser.add_argument("--config", type=Path, default=Path("config/demo.yaml"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        raw_cfg = yaml.safe_load(args.config.read_text())
        raw_cfg["http"].update(host="127.0.0.1", port=port)
        raw_cfg["storage"]["path"] = f"{tmp}/b.sqlite3"
        raw_cfg.setdefault("logging", {})["level"] = "info"
        cfg_path = Path(tmp) / "bridge.yaml"
        cfg_path.write_text(yaml.safe_dump(raw_cfg))
        profile = os.environ.get("BENCH_PROFILE")  # a path: the daemon runs under cProfile
        cmd = [str(ROOT / ".venv" / "bin" / "uapi-bridge")]
        if profile:
            cmd = [sys.executable, "-m", "cProfile", "-o", profile, "-m", "bridge"]
        daemon = subprocess.Popen(
            [*cmd, "--config", str(cfg_path)],
            # BENCH_LOG=file keeps the daemon's log (http.request has each request's duration)
            stderr=open(os.environ.get("BENCH_LOG", os.devnull), "w"),  # noqa: SIM115
        )
        if not os.environ.get("BENCH_STDERR"):
            sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - log lines are produced, not shown
        logs.configure("info", json=True)
        config = load(cfg_path)
        bridge = Bridge.build(
            dataclasses.replace(
                config, storage=dataclasses.replace(config.storage, path=f"{tmp}/own.sqlite3")
            )
        )
        (own,) = bridge.links  # the config's one node
        await own.start()
        assert await own.wait_connected(10), "is the sandbox up?"
        [ami] = config.nodes
        manager = Manager(
            loop=asyncio.get_running_loop(),
            host=ami.host,
            port=ami.port,
            username=ami.username,
            secret=ami.secret,
            events="off",
            ping_delay=3600,
        )
        await manager.connect()
        url = f"http://127.0.0.1:{port}{PATH}"
        try:
            await _until_up(port)
            async with aiohttp.ClientSession() as session:
                await api_call(session, url)  # warm up every path
                await raw_http_call(port)
                await raw_call(manager)
                ours, bare, link, raw = [], [], [], []
                for _ in range(args.calls):  # interleaved, so drift hits all alike
                    ours.append(await api_call(session, url))
                    bare.append(await raw_http_call(port))
                    link.append(await bridge_ami_call(bridge))
                    raw.append(await raw_call(manager))
                    await asyncio.sleep(0.05)
                api_rates, raw_rates, link_rates, busy, own_cpu = [], [], [], [], []
                raw16, link16 = [], []
                for _ in range(args.rounds):  # interleaved; a pause lets the calls end
                    await asyncio.sleep(1.0)
                    cpu0, own0 = cpu_seconds(daemon.pid), time.process_time()
                    wall0 = time.perf_counter()
                    api_rates.append(await api_burst(session, url, args.burst, args.concurrency))
                    wall = time.perf_counter() - wall0
                    busy.append((cpu_seconds(daemon.pid) - cpu0) / wall)
                    own_cpu.append((time.process_time() - own0) / wall)
                    await asyncio.sleep(1.0)
                    raw_rates.append(await raw_burst(manager, args.burst))
                    await asyncio.sleep(1.0)
                    link_rates.append(await link_burst(bridge, args.burst))
                    await asyncio.sleep(1.0)
                    raw16.append(
                        await paced(lambda: raw_call(manager), args.burst, args.concurrency)
                    )
                    await asyncio.sleep(1.0)
                    link16.append(
                        await paced(lambda: bridge_ami_call(bridge), args.burst, args.concurrency)
                    )
        finally:
            manager.close()
            await own.close()
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(10)
    p50r = statistics.median(raw)
    print(
        f"make-call, {args.calls} calls each, interleaved, sandbox Asterisk on loopback; "
        "the API is the daemon in its own process"
    )
    for label, times in (
        ("API, aiohttp client", ours),
        ("API, bare HTTP socket", bare),
        ("bridge AmiClient Originate", link),
        ("raw panoramisk Originate", raw),
    ):
        p50 = statistics.median(times)
        print(
            f"{label:27}: p50 {p50:6.2f} ms  mean {statistics.mean(times):6.2f} ms"
            f"  ratio to raw {p50 / p50r:5.2f}"
        )
    print("target: API <= 1.3x raw AMI")
    api_rate, raw_rate = statistics.median(api_rates), statistics.median(raw_rates)
    print(
        f"throughput, {args.burst} calls a round, {args.rounds} rounds each (median): "
        f"API ({args.concurrency} in flight) {api_rate:6.0f} calls/s "
        f"[{', '.join(f'{r:.0f}' for r in api_rates)}], raw pipelined Originate "
        f"{raw_rate:6.0f} calls/s [{', '.join(f'{r:.0f}' for r in raw_rates)}], "
        f"ratio {api_rate / raw_rate:5.2f} (target >= 0.5)"
    )
    print(
        f"bridge AmiClient pipelined (in this process, its link gets every event): "
        f"{statistics.median(link_rates):6.0f} calls/s "
        f"[{', '.join(f'{r:.0f}' for r in link_rates)}], ratio to raw "
        f"{statistics.median(link_rates) / raw_rate:5.2f}"
    )
    for label, rates in (("raw panoramisk", raw16), ("bridge AmiClient", link16)):
        print(
            f"{label} Originate, {args.concurrency} in flight (as the API's clients): "
            f"{statistics.median(rates):6.0f} calls/s [{', '.join(f'{r:.0f}' for r in rates)}],"
            f" API / this {api_rate / statistics.median(rates):5.2f}"
        )
    print(
        f"during the API rounds: daemon CPU {100 * statistics.median(busy):.0f}% of one core, "
        f"this process (the HTTP client) {100 * statistics.median(own_cpu):.0f}% "
        f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
    )


if __name__ == "__main__":
    asyncio.run(main())
