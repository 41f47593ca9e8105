"""Fair share (#21): what the limiter costs a request, and how exactly Originates are paced.

1. List p50 of `GET /uapi/phoneCalls/@me/210` (200 live calls, real HTTP app on loopback) with
   the per-app limiter on (limits high enough never to refuse: every request takes a token and
   gets its RateLimit headers) and with it replaced by a no-op, rounds interleaved in the same
   run; target ratio (p50 without / p50 with) >= 0.95.
2. Pacing: N Originates at once through the real AmiClient to a fake AMI server, for several
   `originate_rate`s: the rate the server sees after the burst, and the busiest one-second
   window (never more than 2 x the rate).

    .venv/bin/python bench/limits.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiohttp.test_utils import TestClient, TestServer

from bench.list_latency import ConnectedPbx, fill, measure, pct
from bridge import logs
from bridge.ami.client import AmiClient
from bridge.api.server import build_app
from bridge.app import Bridge
from bridge.calls.limits import Limiter, Ticket
from bridge.config import AmiConfig, load
from bridge.config_limits import LimitsConfig
from bridge.domain.buckets import Rate
from tests.ami.fake_ami import Action, Conn, FakeAmi

HIGH = LimitsConfig(Rate(1e9, 10**9), Rate(1e9, 10**9))


class NoLimiter(Limiter):
    """The request path as it was before #21: no bucket, no headers."""

    def take(self, app: str, kind: str, count: int = 1) -> Ticket:
        return Ticket(app, kind, count)

    def headers(self, app: str) -> dict[str, str]:
        return {}


async def list_cost(config_path: Path, rounds: int) -> tuple[list[float], list[float]]:
    with tempfile.TemporaryDirectory() as tmp:
        config = load(config_path)
        config = dataclasses.replace(
            config,
            limits=HIGH,
            storage=dataclasses.replace(config.storage, path=f"{tmp}/b.sqlite3"),
        )
        bridge = Bridge.build(config)
        await bridge.db.open()
        nodes = bridge.services.nodes
        nodes.plug(nodes.first.name, ConnectedPbx())  # type: ignore[arg-type]
        fill(bridge, 200)
        svc = bridge.services
        limited, free = svc.limiter, NoLimiter()
        client = TestClient(TestServer(build_app(svc)))
        await client.start_server()
        with_limits: list[float] = []
        without: list[float] = []
        try:
            await measure(client, {}, 50)  # warm up
            for n in range(rounds):  # each goes first in every other round
                for limiter in (limited, free) if n % 2 else (free, limited):
                    svc.limiter = limiter
                    times = await measure(client, {}, 100)
                    (with_limits if limiter is limited else without).extend(times)
        finally:
            await client.close()
            await bridge.db.close()
    return with_limits, without


class StampingAmi(FakeAmi):
    def __init__(self) -> None:
        super().__init__(secret="s")
        self.stamps: list[float] = []

    def _on_action(self, conn: Conn, action: Action) -> None:
        if action.get("Action") == "Originate":
            self.stamps.append(time.monotonic())
        super()._on_action(conn, action)


async def pacing(rate: float, count: int) -> dict[str, Any]:
    server = StampingAmi()
    await server.start()
    client = AmiClient(
        AmiConfig(port=server.port, secret="s", originate_rate=rate, originate_queue=count * 2),
        events=(),
        name="bench",
    )
    await client.start()
    assert await client.wait_connected(5)
    try:
        await asyncio.gather(
            *(
                client.send({"Action": "Originate", "Channel": f"PJSIP/{i}", "Async": "true"})
                for i in range(count)
            )
        )
    finally:
        await client.close()
        await server.close()
    stamps = server.stamps
    burst = max(1, int(rate))
    after = stamps[burst:]  # beyond the first second's worth: paced at `rate`
    seen = (len(after) - 1) / (after[-1] - after[0]) if len(after) > 1 else float("nan")
    busiest = max(sum(1 for t in stamps if s <= t < s + 1.0) for s in stamps)
    return {
        "rate": rate,
        "count": len(stamps),
        "seen": seen,
        "busiest": busiest,
        "seconds": stamps[-1] - stamps[0],
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--config", type=Path, default=Path("config/demo.yaml"))
    args = parser.parse_args()
    sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - log lines are produced, not shown
    logs.configure("info", json=True)
    with_limits, without = await list_cost(args.config, args.rounds)
    p_with, p_without = pct(with_limits, 50), pct(without, 50)
    print("List (200 live calls, count=20), loopback HTTP, rounds interleaved")
    print(
        f"  with the limiter   : p50 {p_with:6.2f} ms  p99 {pct(with_limits, 99):6.2f} ms"
        f"  ({len(with_limits)} requests)"
    )
    print(
        f"  without (no-op)    : p50 {p_without:6.2f} ms  p99 {pct(without, 99):6.2f} ms"
        f"  ({len(without)} requests)"
    )
    print(f"  ratio p50 without/with: {p_without / p_with:.3f} (target >= 0.95)")
    print("Originate pacing through AmiClient to a fake AMI (all sent at once)")
    for rate, count in ((10.0, 50), (20.0, 100), (50.0, 250)):
        got = await pacing(rate, count)
        print(
            f"  originate_rate {rate:5.0f}: {got['count']} Originates in {got['seconds']:.2f} s;"
            f" after the burst {got['seen']:.2f}/s (accuracy {got['seen'] / rate:.3f});"
            f" busiest 1-s window {got['busiest']} (limit {2 * rate:.0f})"
        )


if __name__ == "__main__":
    asyncio.run(main())
