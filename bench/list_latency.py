"""List latency with 5,000 live calls in the tracker: p50 and p99 of
`GET /uapi/phoneCalls/@me/210` for a 20-call page and for `count=5000`, through the real HTTP
app (aiohttp on loopback, auth, logging), the calls replayed from a recorded sandbox call.

    .venv/bin/python bench/list_latency.py [--calls 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiohttp.test_utils import TestClient, TestServer

from bench.corpus import transcripts
from bridge import logs
from bridge.api.server import build_app
from bridge.app import Bridge
from bridge.config import load
from bridge.domain.model import CallMeta
from bridge.runtime import tune_gc

TOKEN = "demo-crm-token-0123456789"


class ConnectedPbx:
    """List only asks whether the AMI link is up."""

    connected = True


def fill(bridge: Bridge, calls: int) -> None:
    """`calls` copies of the recorded 210 -> 5551234 call, each up to both parties talking."""
    [(cid, events)] = [
        t
        for t in transcripts()
        if t[1][0].get("Context") == "uapi-source"
        and any(e.get("DialString") == "5551234@trunk" for e in t[1])
    ][:1]
    talking = events[: next(i for i, e in enumerate(events) if e["Event"] == "BridgeLeave")]
    tracker = bridge.services.nodes.first.tracker
    now = time.time()
    for n in range(calls):
        fresh = f"{n:08x}{cid[8:]}"
        tracker.annotate(
            fresh,
            CallMeta("0003*210", "12", "crm", None, now + n / 1000, ("0003*210",), ("5551234",)),
        )
        for event in talking:
            copy = {k: v.replace(cid, fresh) for k, v in event.items()}
            for key in ("Uniqueid", "DestUniqueid"):
                if key in copy and not copy[key].startswith(fresh):
                    copy[key] = f"{copy[key]}.{n}"
            tracker.apply(copy, now)
    assert len(tracker.calls) == calls
    assert all(len(c.channels) == 4 for c in tracker.calls.values())


async def measure(
    client: TestClient,
    params: dict[str, str],
    rounds: int,
    *,
    path: str = "/uapi/phoneCalls/@me/210",
    token: str = TOKEN,
    entries: int | None = None,
) -> list[float]:
    """Milliseconds of `rounds` GETs, each answered 200 (with `entries` items, if given)."""
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        resp = await client.get(path, params=params, headers={"Authorization": f"Bearer {token}"})
        raw = await resp.read()
        times.append((time.perf_counter() - started) * 1000)
        assert resp.status == 200, raw[:300]
        assert entries is None or len(json.loads(raw)["entry"]) == entries
    return times


def pct(times: list[float], q: float) -> float:
    return statistics.quantiles(times, n=100, method="inclusive")[int(q) - 1]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--config", type=Path, default=Path("config/demo.yaml"))
    args = parser.parse_args()
    sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - log lines are produced, not shown
    logs.configure("info", json=True)
    tune_gc()  # the collector paced as the daemon paces it (bridge.runtime)
    with tempfile.TemporaryDirectory() as tmp:
        config = load(args.config)
        config = dataclasses.replace(
            config, storage=dataclasses.replace(config.storage, path=f"{tmp}/b.sqlite3")
        )
        bridge = Bridge.build(config)
        await bridge.db.open()
        nodes = bridge.services.nodes
        nodes.plug(nodes.first.name, ConnectedPbx())  # type: ignore[arg-type]
        fill(bridge, args.calls)
        client = TestClient(TestServer(build_app(bridge.services)))
        await client.start_server()
        try:
            await measure(client, {}, 20)  # warm up
            page = await measure(client, {}, 300)
            full = await measure(client, {"count": "5000"}, 30)
        finally:
            await client.close()
            bridge.db.close()
    print(f"List with {args.calls} live calls (all on extension 210), loopback HTTP")
    print(
        f"count=20   : p50 {pct(page, 50):7.2f} ms   p99 {pct(page, 99):7.2f} ms"
        f"   ({len(page)} requests; target p50 < 2 ms, issue 28)"
    )
    print(
        f"count=5000 : p50 {pct(full, 50):7.2f} ms   p99 {pct(full, 99):7.2f} ms"
        f"   ({len(full)} requests; target p50 < 50 ms)"
    )


if __name__ == "__main__":
    asyncio.run(main())
