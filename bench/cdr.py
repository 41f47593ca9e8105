"""Call history latency with 100,000 records: p50 and p99 of `GET /uapi/cdr/@me` for a
20-record page with a date range (30 of the 90 days stored) and a source filter, through the
real HTTP app (aiohttp on loopback, auth, logging) on the embedded SQLite store.

    .venv/bin/python bench/cdr.py [--records 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiohttp.test_utils import TestClient, TestServer

from bench.list_latency import measure, pct
from bridge import logs
from bridge.api.server import build_app
from bridge.app import Bridge
from bridge.config import load
from bridge.domain.history import iso
from bridge.domain.model import Call, Effect

CRM = "demo-crm-token-0123456789"
ADMIN = "demo-admin-token-0123456789"
HELPDESK = "demo-helpdesk-token-0123456789"
EXTENSIONS = ["0003*210", "0003*024", "0003*025", "0003*026", "0003*027", "0004*300"]
DAY = 86400.0


def a_call(n: int, rng: random.Random, now: float) -> Call:
    """One ended call of the last 90 days: an extension or a public number calls another."""
    at = now - rng.random() * 90 * DAY
    source = rng.choice([*EXTENSIONS, f"555{rng.randrange(10_000):04d}"])
    dest = rng.choice([e for e in EXTENSIONS if e != source] + ["5551234", "5559876"])
    call = Call(f"{n:020x}", at)
    src = call.add_party(source, "*" in source, "source")
    dst = call.add_party(dest, "*" in dest, "destination")
    if rng.random() < 0.7:
        src.answered = dst.answered = call.answered = at + 5
        src.disposition = dst.disposition = 0
    else:
        dst.disposition = rng.choice([1, 2, 3])
    src.left = dst.left = call.ended = at + 5 + rng.random() * 300
    src.hangup_cause = dst.hangup_cause = "16"
    return call


async def fill(bridge: Bridge, records: int) -> None:
    rng, now = random.Random(13), time.time()
    history = bridge.services.history
    for n in range(records):
        call = a_call(n, rng, now)
        history.sink([Effect("ended", call.id, call=call)])
        if n % 5000 == 4999:
            await history.flush()
    await history.flush()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--config", type=Path, default=Path("config/demo.yaml"))
    args = parser.parse_args()
    sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - log lines are produced, not shown
    logs.configure("info", json=True)
    now = time.time()
    window = {"startDate": iso(now - 30 * DAY), "endDate": iso(now)}
    cases = [
        ("user app, source=0003*210", CRM, "/uapi/cdr/@me", {**window, "source": "0003*210"}),
        ("admin app, source=0003*210", ADMIN, "/uapi/cdr", {**window, "source": "0003*210"}),
        (
            "admin app, public number 5551234 as destination",
            ADMIN,
            "/uapi/cdr",
            {**window, "destination": "5551234"},
        ),
        ("user app, no number (scope 210+026 only)", CRM, "/uapi/cdr/@me", window),
        (
            "organization app, source + disposition=1",
            HELPDESK,
            "/uapi/cdr",
            {**window, "source": "0003*024", "disposition": "1"},
        ),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        config = load(args.config)
        config = dataclasses.replace(
            config, storage=dataclasses.replace(config.storage, path=f"{tmp}/b.sqlite3")
        )
        bridge = Bridge.build(config)
        await bridge.db.open()
        started = time.perf_counter()
        await fill(bridge, args.records)
        filled = time.perf_counter() - started
        client = TestClient(TestServer(build_app(bridge.services)))
        await client.start_server()
        results = []
        try:
            for name, token, path, params in cases:
                page = {"path": path, "token": token, "entries": 20}
                await measure(client, params, 10, **page)  # warm up
                results.append((name, await measure(client, params, 200, **page)))
        finally:
            await client.close()
            bridge.db.close()
    print(
        f"GET /uapi/cdr with {args.records} records ({filled:.1f} s to write them), "
        "a 30-day range, 20-record pages, loopback HTTP, SQLite"
    )
    for name, times in results:
        print(
            f"{name:50s}: p50 {pct(times, 50):7.2f} ms   p99 {pct(times, 99):7.2f} ms"
            f"   ({len(times)} requests; target p50 < 20 ms)"
        )


if __name__ == "__main__":
    asyncio.run(main())
