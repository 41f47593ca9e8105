"""Webhook deliveries per second to a loopback receiver (its own process): through the
bridge's durable outbox (store write, send with signature, attempt logged) on SQLite, on
PostgreSQL with one bridge and with two bridges sharing it (two dispatchers in this process, each
with its own pool and lease owner, both fed every event: the dedup key lets each in once),
beside a bare aiohttp client loop posting the same requests with the same concurrency. On
SQLite also (issue 23) with an `ordered` registration (the events of each call one after the
other: 3 per call) and with a `maxRate` registration, in the same run as the plain outbox.

Scale-out (issue 28): one bridge and then two bridges each in its OWN process (this script run
with `--worker`) on one PostgreSQL schema, each fed every event, started together; the ratio
two processes / one process (target >= 1.5). The bench's dispatchers have no fair-share limits
in front of them (they are fed directly; no maxRate on the plain rows).

    .venv/bin/python bench/webhooks.py [--deliveries 3000] [--concurrency 16] [--pg-url URL]
                                       [--max-rate 200]

--pg-url defaults to scripts/postgres-sandbox's; the PostgreSQL rows are skipped if it is down.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import quote, urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
import psycopg

from bench.corpus import free_port
from bridge import logs
from bridge.store.db import Database
from bridge.store.hooks import Outbox, Queued, Registration, Registrations
from bridge.store.postgres import PostgresDatabase
from bridge.store.sqlite import SqliteDatabase
from bridge.webhooks import signing
from bridge.webhooks.dispatcher import Dispatcher
from bridge.webhooks.settings import WebhooksConfig

RECEIVER = """
import sys
from aiohttp import web
seen = [0]
async def ok(request):
    await request.read()
    seen[0] += 1
    return web.Response(status=200)
async def count(request):
    return web.Response(text=str(seen[0]))
app = web.Application()
app.router.add_get("/count", count)
app.router.add_route("*", "/{tail:.*}", ok)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""
SECRET = signing.new_secret()
PARAMS = {
    "CallID": "b6a8af34b5d0a0c9ca85",
    "CallerIDNum": "210",
    "CallerIDName": "John Doe",
    "CalledDID": "",
    "CalledExtension": "0003*024",
    "CallStatus": "ANSWER",
    "CallFlow": "IN",
    "CallerExtension": "0003*210",
    "CalledNumber": "024",
    "CallAPIID": "b6a8af34b5d0a0c9ca85",
}


async def received(port: int) -> int:
    """How many requests the receiver has answered (checks that nothing was skipped)."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/count") as resp,
    ):
        return int(await resp.text())


async def bare(url: str, n: int, concurrency: int) -> float:
    """`concurrency` workers, each posting its share back to back (no queue, no disk)."""
    payload = urlencode(PARAMS)
    async with aiohttp.ClientSession() as session:

        async def worker(first: int) -> None:
            for i in range(first, n, concurrency):
                headers = signing.headers(SECRET, f"d{i}", int(time.time()), payload)
                headers["Content-Type"] = "application/x-www-form-urlencoded"
                async with session.post(
                    url, data=payload, headers=headers, allow_redirects=False
                ) as resp:
                    await resp.read()
                    assert resp.status == 200

        started = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(min(concurrency, n))))
        return n / (time.perf_counter() - started)


async def outbox(
    url: str,
    n: int,
    concurrency: int,
    dbs: list[Database],
    ordered: bool = False,
    max_rate: float = 0.0,
) -> float:
    """Every bridge (one per database handle) is fed all n events; n deliveries go out.
    `ordered`: the events come 3 per call (each call's in order); `max_rate`: the
    registration's maxRate."""
    config = WebhooksConfig(
        allow_networks=(ipaddress.ip_network("127.0.0.0/8"),), per_receiver=concurrency
    )
    bridges = []
    for db in dbs:
        await db.open()
        regs = Registrations(db)
        await regs.save(
            Registration(
                "bench",
                "crm",
                "0003*024",
                2,
                1,
                url,
                "",
                0,
                "x",
                SECRET,
                ordered=ordered,
                max_rate=max_rate,
            )
        )
        bridges.append(Dispatcher(config, regs, Outbox(db)))
    rows = [_row(i, url, ordered) for i in range(n)]
    for hooks in bridges:
        await hooks.start()
    started = time.perf_counter()
    for hooks in bridges:
        hooks._fired.put_nowait(list(rows))  # what sink() queues, without a tracker in front
    while True:  # one query: the rows are written while we look
        [(delivered,)] = await dbs[0].fetchall(
            "SELECT COUNT(*) FROM outbox WHERE state = 'delivered'"
        )
        if delivered == n:
            break
        await asyncio.sleep(0.01)
    rate = n / (time.perf_counter() - started)
    for hooks in bridges:
        await hooks.stop()
    for db in dbs:
        await db.close()
    return rate


def _row(i: int, url: str, ordered: bool) -> Queued:
    """Event i: of its own call (plain), or the (i % 3)th of call i // 3 (ordered)."""
    if not ordered:
        return Queued("bench", f"call{i}:0003*024:2:bench", PARAMS, "crm", f"call{i}")
    call = f"call{i // 3}"
    return Queued(
        "bench",
        f"{call}:0003*024:{i % 3}:bench",
        {**PARAMS, "CallID": call},
        "crm",
        f"{call}:{i % 3}",
        f"crm {url} {call}",
    )


@asynccontextmanager
async def schema(pg_url: str) -> AsyncIterator[str | None]:
    """A fresh schema on PostgreSQL (None when it cannot be reached)."""
    name = f"bench_{secrets.token_hex(4)}"
    try:
        async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
            await conn.execute(f"CREATE SCHEMA {name}")
    except psycopg.OperationalError:
        yield None
        return
    try:
        yield f"{pg_url}?options={quote(f'-csearch_path={name}')}"
    finally:
        async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
            await conn.execute(f"DROP SCHEMA {name} CASCADE")


async def runs(
    url: str, n: int, concurrency: int, tmp: str, pg_url: str, max_rate: float
) -> dict[str, float | None]:
    """Deliveries/s of each set-up (None: PostgreSQL not reachable)."""

    def sqlite() -> list[Database]:
        return [SqliteDatabase(f"{tmp}/bench-{time.time_ns()}.sqlite3")]

    done: dict[str, float | None] = {
        "sqlite, one bridge": await outbox(url, n, concurrency, sqlite()),
        "sqlite, ordered": await outbox(url, n, concurrency, sqlite(), ordered=True),
        f"sqlite, maxRate {max_rate:g}": await outbox(
            url, n, concurrency, sqlite(), max_rate=max_rate
        ),
    }
    for bridges in (1, 2):
        label = f"postgresql, {'one bridge' if bridges == 1 else 'two bridges'}"
        async with schema(pg_url) as shared:
            done[label] = (
                None
                if shared is None
                else await outbox(
                    url, n, concurrency, [PostgresDatabase(shared) for _ in range(bridges)]
                )
            )
    for procs in (1, 2):
        label = f"postgresql, {'one process' if procs == 1 else 'two processes'}"
        async with schema(pg_url) as shared:
            done[label] = (
                None if shared is None else await processes(url, n, concurrency, shared, procs)
            )
    return done


BUSY: dict[int, list[float]] = {}  # per worker process: its CPU / wall while it ran


async def processes(url: str, n: int, concurrency: int, pg_url: str, procs: int) -> float:
    """`procs` bridges, each its own process on the same schema, all fed the n events at once
    (told to go together once each is set up); deliveries/s until all n are delivered."""
    cmd = [sys.executable, __file__, "--worker", url, pg_url, str(n), str(concurrency)]
    workers = [
        await asyncio.create_subprocess_exec(
            *cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        for _ in range(procs)
    ]
    for w in workers:  # each prints "ready" once its dispatcher runs
        assert w.stdout is not None
        assert await w.stdout.readline() == b"ready\n"
    for w in workers:
        assert w.stdin is not None
        w.stdin.write(b"go\n")
        await w.stdin.drain()
    seconds, cpu = [], []
    for w in workers:  # each prints how long it took from "go" until all n were delivered
        assert w.stdout is not None
        took, used = (await w.stdout.readline()).split()
        seconds.append(float(took))
        cpu.append(float(used) / float(took))
        await w.wait()
    BUSY[procs] = cpu
    return n / max(seconds)


async def worker(url: str, pg_url: str, n: int, concurrency: int) -> None:
    """One bridge of `processes` (this script with --worker)."""
    db = PostgresDatabase(pg_url)
    config = WebhooksConfig(
        allow_networks=(ipaddress.ip_network("127.0.0.0/8"),), per_receiver=concurrency
    )
    await db.open()
    regs = Registrations(db)
    await regs.save(Registration("bench", "crm", "0003*024", 2, 1, url, "", 0, "x", SECRET))
    hooks = Dispatcher(config, regs, Outbox(db))
    await hooks.start()
    rows = [_row(i, url, False) for i in range(n)]
    loop = asyncio.get_running_loop()
    print("ready", flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)
    started, cpu0 = time.perf_counter(), time.process_time()
    hooks._fired.put_nowait(rows)
    while True:
        [(delivered,)] = await db.fetchall("SELECT COUNT(*) FROM outbox WHERE state = 'delivered'")
        if delivered == n:
            break
        await asyncio.sleep(0.01)
    cpu = time.process_time()
    print(time.perf_counter() - started, cpu - cpu0, flush=True)
    await hooks.stop()
    await db.close()


async def main() -> None:
    if sys.argv[1:2] == ["--worker"]:
        url, pg_url, n, concurrency = sys.argv[2:6]
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - log lines are produced, not shown
        logs.configure("info", json=True)
        await worker(url, pg_url, int(n), int(concurrency))
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deliveries", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--max-rate", type=float, default=200.0)
    parser.add_argument("--pg-url", default="postgresql://uapi:sandbox-secret@127.0.0.1:15432/uapi")
    args = parser.parse_args()
    port = free_port()
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER, str(port)])
    url = f"http://127.0.0.1:{port}/hook"
    sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - log lines are produced, not shown
    logs.configure("info", json=True)
    try:
        for _ in range(50):
            try:
                await bare(url, 1, 1)
                break
            except aiohttp.ClientError:
                await asyncio.sleep(0.1)
        with tempfile.TemporaryDirectory() as tmp:
            await bare(url, 200, args.concurrency)  # warm up
            before = await received(port)
            b = await bare(url, args.deliveries, args.concurrency)
            middle = await received(port)
            rates = await runs(
                url, args.deliveries, args.concurrency, tmp, args.pg_url, args.max_rate
            )
            after = await received(port)
    finally:
        receiver.terminate()
        receiver.wait(5)
    print(
        f"{args.deliveries} deliveries, concurrency {args.concurrency}, receiver on loopback "
        "in its own process"
    )
    print(f"bare aiohttp client loop : {b:8.0f} deliveries/s ({middle - before} received)")
    ran = sum(r is not None for r in rates.values())  # shared rows: each delivered once
    print(
        f"durable outbox, all runs : {after - middle} received (expected {ran} x {args.deliveries})"
    )
    for label, rate in rates.items():
        if rate is None:
            print(f"{label:25}: skipped (PostgreSQL not reachable at --pg-url)")
        else:
            target = (
                "(two processes / one process: target >= 1.5)"
                if "processes" in label
                else "(never above the maxRate)"
                if "maxRate" in label
                else "(3 events per call, each after the previous)"
                if "ordered" in label
                else "(target >= 0.8)"
                if label == "sqlite, one bridge"
                else "(target >= 0.5)"
            )
            print(
                f"{label:25}: {rate:8.0f} deliveries/s, ratio to bare {rate / b:5.2f}, "
                f"to plain sqlite {rate / (rates['sqlite, one bridge'] or 1):5.2f}  {target}"
            )
    one, two = rates.get("postgresql, one process"), rates.get("postgresql, two processes")
    if one and two:
        print(f"scale-out: two processes / one process {two / one:5.2f} (target >= 1.5)")
        print(
            "bridge processes' CPU while they ran (share of one core): "
            + "; ".join(
                f"{k} process{'es' if k > 1 else ''}: " + ", ".join(f"{100 * c:.0f} %" for c in v)
                for k, v in BUSY.items()
            )
            + f" (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
        )


if __name__ == "__main__":
    asyncio.run(main())
