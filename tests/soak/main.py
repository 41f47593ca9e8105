"""`scripts/soak`: sets the world up, runs load and faults for the given minutes, drains, and
prints the ledger (exit 0 balanced, 1 a line does not balance, 3 void: the generator's own
counts do not add up). Holds /var/tmp/uapi-sandbox.lock for the whole run (unless
UAPI_SANDBOX_LOCK_HELD=1 says the caller holds it) and leaves both sandbox nodes and PostgreSQL
up."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import json
import logging
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
import structlog

from tests.conftest import CRM, HELPDESK
from tests.pg import schema_url
from tests.soak import cdr_csv, ledger
from tests.soak.faults import KINDS, Injector, schedule
from tests.soak.load import Channels, Generator
from tests.soak.observers import Receiver, StreamClient
from tests.soak.world import Api, Bridge, rss_kib, sandbox, start_bridges, wait_healthy

LOCK = "/var/tmp/uapi-sandbox.lock"
TYPES = {"DialIn": 0, "DialOut": 1, "Hangup": 2, "AnswerIn": 3, "AnswerOut": 4}
OWNER = {"210": "12", "410": "12", "024": "13", "411": "13", "025": "13", "412": "13"}
REGISTRATIONS = {  # receiver -> extension -> event types
    "good": {ext: list(TYPES) for ext in ("210", "024", "410", "411")},
    "flaky": {"210": ["DialIn", "DialOut", "Hangup"], "411": ["DialIn", "AnswerIn", "Hangup"]},
    "slow": {"025": ["Hangup"], "412": ["Hangup"]},
}


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--rate", type=float, default=5.0, help="calls per second")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--json", type=Path, default=None, help="also write the ledger here")
    parser.add_argument(
        "--faults",
        type=kinds,
        default=KINDS,
        help=f"the kinds of fault to inject, comma-separated, or none (default: {','.join(KINDS)})",
    )
    return parser.parse_args(argv)


def kinds(text: str) -> tuple[str, ...]:
    """`--faults`: kinds of fault (faults.KINDS), comma-separated; `none`: no fault at all (a
    bridge process then lives the whole run: its RSS over time)."""
    if text.strip() == "none":
        return ()
    chosen = tuple(k.strip() for k in text.split(",") if k.strip())
    unknown = sorted(set(chosen) - set(KINDS))
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"not a kind of fault: {', '.join(unknown) or text!r}")
    return chosen


def say(text: str) -> None:
    print(f"soak: {text}", file=sys.stderr, flush=True)


async def register(api: Api, bridge: Bridge, receivers: dict[str, Receiver]) -> list[str]:
    paths = []
    for name, extensions in REGISTRATIONS.items():
        for ext, kinds in extensions.items():
            for kind in kinds:
                path = f"/{name}/{ext}/{kind}"
                body = {
                    "type": str(TYPES[kind]),
                    "method": "1",
                    "status": "0",
                    "url": f"http://127.0.0.1:{receivers[name].port}{path}",
                }
                status, answer = await api.request(
                    bridge,
                    "POST",
                    f"/uapi/extensions/{OWNER[ext]}/{ext}/phoneCallEvents",
                    HELPDESK,
                    body,
                )
                if status != 201:
                    raise RuntimeError(f"registration {path}: {status} {answer}")
                paths.append(path)
    return paths


def outbox(pg_url: str) -> dict[str, int]:
    with psycopg.connect(pg_url, connect_timeout=3) as conn:
        rows = conn.execute("SELECT state, count(*) FROM outbox GROUP BY state").fetchall()
    return {str(state): int(n) for state, n in rows}


async def drained(pg_url: str, receivers: dict[str, Receiver], within: float) -> dict[str, int]:
    """Waits until nothing in the outbox is due or leased and no receiver got anything for 5 s."""
    deadline = time.monotonic() + within
    states: dict[str, int] = {}
    while time.monotonic() < deadline:
        with contextlib.suppress(psycopg.Error):
            states = await asyncio.to_thread(outbox, pg_url)
        last = max((h.at for r in receivers.values() for h in r.hits), default=0.0)
        if not states.get("pending") and not states.get("sending") and time.time() - last > 5:
            return states
        await asyncio.sleep(1)
    return states


def quiet(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """The AMI proxy's connections to a node that is down fail: expected, not shown."""
    if not isinstance(context.get("exception"), OSError):
        loop.default_exception_handler(context)


async def soak(args: argparse.Namespace) -> int:
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    faults_said = "" if args.faults == KINDS else f", faults: {','.join(args.faults) or 'none'}"
    say(f"seed {seed}, {args.minutes} min, {args.rate} calls/s{faults_said}")
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    asyncio.get_running_loop().set_exception_handler(quiet)
    for step in (("up", "--nodes", "2"), ("pg", "up")):
        proc = await asyncio.to_thread(sandbox, *step)
        if proc.returncode:
            raise RuntimeError(f"{step}: {proc.stderr}")
    since = cdr_csv.offsets()
    started_wall = time.time()
    async with schema_url() as pg_url, aiohttp.ClientSession() as session:
        tmp = Path(tempfile.mkdtemp(prefix="uapi-soak-"))
        bridges = await start_bridges(tmp, pg_url)
        by_name = {b.name: b for b in bridges}
        receivers = {m: Receiver(m, rng.randrange(1 << 30)) for m in ("good", "flaky", "slow")}
        channels = Channels()
        stop, stop_all = asyncio.Event(), asyncio.Event()
        background: list[asyncio.Task[None]] = []
        try:
            for bridge in bridges:
                if not await wait_healthy(bridge, 60):
                    raise RuntimeError(f"bridge {bridge.name} not healthy; log {bridge.daemon.log}")
            for receiver in receivers.values():
                await receiver.start()
            api = Api(session)
            registered = await register(api, bridges[0], receivers)
            await channels.start()
            streams = [
                StreamClient("john", "/uapi/phoneCalls/@me/@self", CRM, bridges),
                StreamClient("jane", "/uapi/phoneCalls/13/@self", HELPDESK, bridges),
            ]
            background += [asyncio.create_task(channels.poll(stop_all))]
            background += [asyncio.create_task(sample_rss(bridges, stop_all))]
            background += [asyncio.create_task(s.run(session, stop_all, rng)) for s in streams]
            await asyncio.sleep(2)
            for bridge in bridges:
                bridge.rss_start = rss_kib(bridge.daemon.proc.pid)
            gen = Generator(api, bridges, channels, rng, args.rate)
            faults = schedule(seed, args.minutes, args.faults)
            injector = Injector(by_name, receivers)
            t0, t0_wall = time.monotonic(), time.time()
            load = asyncio.create_task(gen.run(stop))
            hurt = asyncio.create_task(injector.run(faults, t0, stop))
            await asyncio.sleep(args.minutes * 60)
            stop.set()
            await load
            say(f"load stopped: {len(gen.placed)} calls placed; waiting for calls and faults")
            await gen.finish()
            await hurt
            say("drain")
            drain_t0 = time.monotonic()
            await settle(bridges, receivers, channels)
            states = await drained(pg_url, receivers, 180)
            await asyncio.sleep(3)  # the streams' last events
            drain_s = time.monotonic() - drain_t0
            lists = await final_lists(api, bridges[1], streams)
            records = await ledger.bridge_cdr(api, bridges[1], started_wall - 60)
            report = ledger.build(
                gen=gen,
                faults=injector.done,
                receivers=receivers,
                registered=registered,
                cdr_rows=cdr_csv.rows(since),
                records=records,
                outbox=states,
                streams=streams,
                lists=lists,
                bridges=bridges,
                seed=seed,
                args=vars(args),
                load_s=args.minutes * 60,
                drain_s=drain_s,
                t0_wall=t0_wall,
            )
        finally:
            stop.set()
            stop_all.set()
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            await channels.close()
            for bridge in bridges:
                if bridge.alive():
                    await asyncio.to_thread(bridge.daemon.stop)
                for proxy in bridge.proxies.values():
                    await proxy.cut()
            for receiver in receivers.values():
                await receiver.close()
    # the table last: a clipped log keeps its end; every record only in --json's file
    shown = {k: v for k, v in report.items() if k != "records"}
    print(json.dumps(shown, indent=1, default=str))
    print(ledger.table(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=str))
    return int(report["exit"])


async def sample_rss(bridges: list[Bridge], stop: asyncio.Event, every: float = 10.0) -> None:
    """Each bridge process's RSS every `every` seconds (the summary's growth per process)."""
    while not stop.is_set():
        for bridge in bridges:
            bridge.sample(time.monotonic())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)


async def settle(bridges: list[Bridge], receivers: dict[str, Receiver], channels: Channels) -> None:
    """Everything back up; calls nobody hung up (a request lost in a fault) hung up now."""
    for bridge in bridges:
        if not bridge.alive():
            bridge.restart()
        await wait_healthy(bridge, 60)
    for receiver in receivers.values():
        if receiver.site is None:
            await receiver.start()
    for node in channels.links:
        await channels.refresh(node)
        for linkedid in list(channels.now[node]):
            await channels.hang_up(node, linkedid)


async def final_lists(api: Api, bridge: Bridge, streams: list[StreamClient]) -> dict[str, Any]:
    """List of each stream client's `@self` (on a bridge) next to the client's final view."""
    lists: dict[str, Any] = {}
    for client in streams:
        status, answer = await api.request(bridge, "GET", client.path, client.token)
        lists[client.name] = (
            sorted(e["id"] for e in (answer or {}).get("entry", []))
            if status == 200
            else []
            if status == 204
            else f"status {status}"
        )
    return lists


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    with Path(LOCK).open("a") as lock:
        if os.environ.get("UAPI_SANDBOX_LOCK_HELD") != "1":  # else our caller holds it
            say(f"waiting for {LOCK}")
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return asyncio.run(soak(args))
        finally:  # leave the sandbox as found: both nodes and PostgreSQL up
            sandbox("up", "--nodes", "2")
            sandbox("pg", "up")
