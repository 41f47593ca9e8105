"""What the soak runs on: the two bridges (shared PostgreSQL, both nodes, bridge A's AMI links
through TCP proxies that a fault can cut), the sandbox scripts, and a small async API client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from tests.conftest import ROOT
from tests.system.daemon import RunningBridge, get
from tests.system.test_nodes import Proxy

PG_URL = "postgresql://uapi:sandbox-secret@127.0.0.1:15432/uapi"
AMI_PORTS = {"node1": 15038, "node2": 15138}
LEASE = 6.0
BRIDGE_OVERRIDES: dict[str, dict[str, Any]] = {
    "webhooks": {
        "allow_networks": ["127.0.0.0/8"],
        "backoff_min": 1,
        "backoff_max": 4,
        "timeout": 5,
        "max_attempts": 60,
    },
}


def sandbox(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Runs scripts/asterisk-sandbox (or scripts/postgres-sandbox when args[0] is 'pg')."""
    script = "postgres-sandbox" if args[0] == "pg" else "asterisk-sandbox"
    argv = [str(ROOT / "scripts" / script), *(args[1:] if args[0] == "pg" else args)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


def rss_kib(pid: int) -> int:
    """VmRSS of a process in KiB (0 when it is gone)."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


LAST_WINDOW = 600.0  # seconds: issue 27's "no growth over 10 minutes beyond 10 %"


@dataclass
class Bridge:
    """One bridge process under the soak: its name, daemon handle, AMI proxies, RSS record."""

    name: str
    daemon: RunningBridge
    proxies: dict[str, Proxy] = field(default_factory=dict)
    rss_start: int = 0
    rss: list[tuple[int, float, int]] = field(default_factory=list)  # (pid, time, KiB) samples
    restarts: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def url(self) -> str:
        return self.daemon.url

    def alive(self) -> bool:
        return self.daemon.proc.poll() is None

    def healthy(self) -> bool:
        status, body = get(f"{self.url}/healthz?strict")
        return status == 200 and bool(body)

    def sees(self, node: str) -> bool:
        """Whether the bridge is up with its AMI link to `node` logged in (it resyncs then)."""
        status, body = get(f"{self.url}/healthz")
        with contextlib.suppress(ValueError, KeyError, TypeError):
            return status in (200, 503) and json.loads(body)["nodes"][node]["ami"] == "connected"
        return False

    def kill(self) -> None:
        if self.alive():
            self.daemon.proc.send_signal(signal.SIGKILL)
            self.daemon.proc.wait(10)

    def sample(self, now: float) -> None:
        if self.alive():
            self.rss.append((self.daemon.proc.pid, now, rss_kib(self.daemon.proc.pid)))

    def longest_life(self) -> dict[str, float]:
        """RSS of its longest-lived process over its life (a restart starts a new one):
        minutes sampled, first and last KiB, growth in %."""
        lives: dict[int, list[tuple[float, int]]] = {}
        for pid, at, kib in self.rss:
            lives.setdefault(pid, []).append((at, kib))
        if not lives:
            return {}
        life = max(lives.values(), key=lambda s: s[-1][0] - s[0][0])
        (t0, first), (t1, last) = life[0], life[-1]
        out: dict[str, float] = {
            "minutes": round((t1 - t0) / 60, 1),
            "first_kib": first,
            "last_kib": last,
            "growth_pct": _growth(first, last),
        }
        if t1 - t0 >= LAST_WINDOW:  # the process's last 10 minutes, its start left behind
            then = next(kib for at, kib in life if at >= t1 - LAST_WINDOW)
            out["last_10_min_pct"] = _growth(then, last)
        return out

    def restart(self) -> None:
        self.daemon.start()
        self.restarts += 1


def _growth(before: int, after: int) -> float:
    """RSS growth in %, to a tenth (0 when `before` is unknown)."""
    return round(100 * (after - before) / before, 1) if before else 0.0


async def start_bridges(tmp: Path, pg_url: str) -> list[Bridge]:
    """Bridges A (node links through proxies) and B (direct), both on `pg_url`."""
    overrides = dict(BRIDGE_OVERRIDES, storage={"url": pg_url, "lease": LEASE})
    bridges = []
    for name in ("a", "b"):
        (tmp / name).mkdir(parents=True, exist_ok=True)
        proxies = {node: Proxy(port) for node, port in AMI_PORTS.items()} if name == "a" else {}
        for proxy in proxies.values():
            await proxy.start()
        ports = {node: proxy.port for node, proxy in proxies.items()}
        daemon = RunningBridge(
            tmp / name, None, overrides, config="demo-cluster.yaml", ami_ports=ports or None
        )
        bridges.append(Bridge(name, daemon, proxies))
    return bridges


async def wait_healthy(bridge: Bridge, within: float) -> bool:
    return await _wait_until(bridge.healthy, within)


async def wait_seen(bridges: list[Bridge], node: str, within: float) -> bool:
    """Until every bridge is back on `node`: the end of a fault that blinded them to it (the
    AMI client retries with a back-off, so a link comes back a while after its cause)."""
    return await _wait_until(lambda: all(b.sees(node) for b in bridges), within)


async def _wait_until(check: Callable[[], bool], within: float) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        if await asyncio.to_thread(check):
            return True
        await asyncio.sleep(0.2)
    return False


class Api:
    """JSON requests to the bridges, never raising: (status, body); status 0 = no answer."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def request(
        self, bridge: Bridge, method: str, path: str, token: str, body: Any = None, wait: float = 10
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"}
        try:
            async with self.session.request(
                method,
                f"{bridge.url}{path}",
                json=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=wait),
            ) as resp:
                raw = await resp.read()
                return resp.status, json.loads(raw) if raw else None
        except (aiohttp.ClientError, TimeoutError, json.JSONDecodeError, OSError):
            return 0, None
