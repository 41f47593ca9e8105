"""The bridge at cluster scale, simulated: N fake Asterisk nodes (default 50) replaying generated
phone-to-phone calls (the recorded shape of tests/fixtures/ami/phone_to_phone.jsonl with fresh
channels and ids) until M calls are live (default 100,000), then C calls a second starting and as
many ending (default 500/s); one bridge process with the N nodes, 10,000 extensions in 200
organizations (one user of 50 extensions each), Hangup webhooks on 1,000 extensions to a loopback
receiver (own process) and 100 live-stream clients (own process) on `@self` of 100 users.

    .venv/bin/python bench/scale.py [--nodes 50] [--calls 100000] [--rate 500] [--steady 60]

It prints the AMI events/s the bridge kept up with, its CPU and RSS (and RSS per live call), List
p50/p99 (`count=20` on a busy extension, `@self` of a user with 50 extensions, the admin app's
`count=5000`), webhook deliveries/s and delay p99, stream delay p99, and the time the bridge takes
to resync all N nodes after a restart (SIGKILL, then a new process), beside the targets.

The fair-share limits (request and call rates, Originate pacing) are set out of the way in the
generated config: this measures the bridge, not its limiter (bench/limits.py measures that).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import multiprocessing as mp
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import yaml
from aiohttp import web

from bench.corpus import FIXTURES, free_port
from bridge.domain.callids import phone_call_id
from tests.ami.fake_ami import FakeAmi, frame

ROOT = Path(__file__).resolve().parents[1]
SECRET = "scale-secret"
ADMIN = "scale-admin-token-0123456789"
HOOK_SECRET = "whsec_c2NhbGUtYmVuY2gtd2ViaG9vay1zZWNyZXQtMDEyMw=="
PER_USER = 50  # extensions of each organization's one user
HOT = 0  # the busy extension's index: in 1 % of all calls
TARGETS = {"rss_per_call_kb": 20, "rss_mb": 2048, "list20_p99_ms": 10, "resync_s": 30}

# -- the directory --------------------------------------------------------------------------


def token(user: int) -> str:
    return f"scale-user-{user:04d}-0123456789"


def uid(user: int) -> str:
    return str(1000 + user)


def number(j: int) -> str:
    """Extension j's extended number: organization j // 50, short number 100..149."""
    return f"{j // PER_USER + 1:04d}*{100 + j % PER_USER}"


def config(ports: list[int], extensions: int, tmp: Path, http_port: int) -> dict[str, Any]:
    nodes = len(ports)
    orgs = extensions // PER_USER
    return {
        "http": {"host": "127.0.0.1", "port": http_port},
        "ami": [
            {"name": f"n{i}", "host": "127.0.0.1", "port": p, "username": "uapi", "secret": SECRET}
            for i, p in enumerate(ports)
        ],
        "storage": {"path": str(tmp / "scale.sqlite3")},
        "dialing": {"public": "PJSIP/{number}@trunk"},
        "webhooks": {"allow_networks": ["127.0.0.0/8"]},
        "stream": {"max_clients": 1000},
        "logging": {"level": os.environ.get("BENCH_LOG", "warning")},
        "organizations": [
            {"id": str(k + 1), "name": f"Org {k}", "prefix": f"{k + 1:04d}"} for k in range(orgs)
        ],
        "users": [
            {"id": uid(k), "organization": str(k + 1), "name": f"User {k}"} for k in range(orgs)
        ],
        "extensions": [
            {
                "number": number(j),
                "user": uid(j // PER_USER),
                "type": "phone_terminal",
                "channel": f"PJSIP/e{j}",
                "caller_id": f"Ext {j} <{100 + j % PER_USER}>",
                "node": f"n{j % nodes}",
            }
            for j in range(extensions)
        ],
        "apps": [
            {"name": "admin", "admin": True, "token": ADMIN, "webhook_secret": HOOK_SECRET},
            *({"name": f"app{k}", "user": uid(k), "token": token(k)} for k in range(orgs)),
        ],
    }


def without_limits(raw: dict[str, Any]) -> dict[str, Any]:
    """Fair share (issue 21's limits and Originate pacing) out of the way."""
    raw["limits"] = {
        "requests": {"rate": 1_000_000, "burst": 1_000_000},
        "calls": {"rate": 1_000_000, "burst": 1_000_000},
    }
    for node in raw["ami"]:
        node.update(originate_rate=100_000, originate_queue=100_000)
    return raw


# -- the generated calls --------------------------------------------------------------------


def _templates() -> tuple[str, str]:
    """The recorded phone-to-phone call as two wire-text templates (set-up up to both parties
    bridged; tear-down), every value naming a party, channel or id a format field."""
    lines = (FIXTURES / "phone_to_phone.jsonl").read_text().splitlines()
    header = json.loads(lines[0])
    events = [json.loads(line) for line in lines[1:]]
    a_uid = header["call_id"]
    b_uid = next(
        e["event"]["Uniqueid"]
        for e in events
        if e["event"].get("Channel", "").startswith("PJSIP/024")
    )
    a_chan = next(
        e["event"]["Channel"]
        for e in events
        if e["event"].get("Channel", "").startswith("PJSIP/210")
    )
    b_chan = next(
        e["event"]["Channel"]
        for e in events
        if e["event"].get("Channel", "").startswith("PJSIP/024")
    )
    bridge = next(e["event"]["BridgeUniqueid"] for e in events if "BridgeUniqueid" in e["event"])
    fields = {
        a_chan: "{ach}",
        b_chan: "{bch}",
        "Phone 210": "{aname}",
        "Phone 024": "{bname}",
        "210": "{anum}",
        "024": "{bnum}",
        a_uid: "{auid}",
        b_uid: "{b_uid}",
        bridge: "{bridge}",
    }
    setup, teardown = [], []
    for rec in events:
        event = rec["event"]
        if event["Event"] == "OriginateResponse" or "Channel" not in event:
            continue  # the Originate's own dial: a phone-to-phone call has none
        text = (
            "".join(
                f"{k}: {fields.get(v, v.replace('{', '{{').replace('}', '}}'))}\r\n"
                for k, v in event.items()
            )
            + "\r\n"
        )
        (setup if rec["t"] < 1.0 else teardown).append(text)
    return "".join(setup), "".join(teardown)


@dataclass
class Call:
    node: int
    a: int
    b: int
    seq: int
    call_id: str

    def values(self) -> dict[str, str]:
        return {
            "ach": f"PJSIP/e{self.a}-{self.seq:08x}",
            "bch": f"PJSIP/e{self.b}-{self.seq:08x}b",
            "aname": f"Ext {self.a}",
            "bname": f"Ext {self.b}",
            "anum": str(100 + self.a % PER_USER),
            "bnum": str(100 + self.b % PER_USER),
            "auid": f"1795000000.{2 * self.seq}",
            "b_uid": f"1795000000.{2 * self.seq + 1}",
            "bridge": f"b-{self.node}-{self.seq}",
        }

    def channels(self, now: float, started: float) -> list[dict[str, str]]:
        """Its two CoreShowChannel entries (the bridge's resync after a restart)."""
        v = self.values()
        secs = int(now - started)
        dur = f"{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}"
        common = {
            "ChannelState": "6",
            "ChannelStateDesc": "Up",
            "Linkedid": v["auid"],
            "BridgeId": v["bridge"],
            "Duration": dur,
            "Context": "uapi-phones",
            "Priority": "1",
            "AccountCode": "",
            "Language": "en",
        }
        return [
            {
                "Channel": v["ach"],
                "Uniqueid": v["auid"],
                "CallerIDNum": v["anum"],
                "CallerIDName": v["aname"],
                "ConnectedLineNum": v["bnum"],
                "ConnectedLineName": v["bname"],
                "Exten": v["bnum"],
                "Application": "Dial",
                "ApplicationData": f"PJSIP/{v['bnum']}",
                **common,
            },
            {
                "Channel": v["bch"],
                "Uniqueid": v["b_uid"],
                "CallerIDNum": v["bnum"],
                "CallerIDName": v["bname"],
                "ConnectedLineNum": v["anum"],
                "ConnectedLineName": v["aname"],
                "Exten": "s",
                "Application": "AppDial",
                "ApplicationData": "(Outgoing Line)",
                **common,
            },
        ]


class Node(FakeAmi):
    """A fake Asterisk whose CoreShowChannels lists the generator's live calls on it."""

    def __init__(self, gen: Generator, index: int) -> None:
        super().__init__(secret=SECRET)
        self.gen = gen
        self.index = index

    def _channels(self, aid: str) -> bytes:
        now = time.monotonic()
        entries = [
            ch
            for call, started in self.gen.live_on(self.index)
            for ch in call.channels(now, started)
        ]
        out = [
            frame(
                ("Response", "Success"),
                ("ActionID", aid),
                ("EventList", "start"),
                ("Message", "Channels will follow"),
            )
        ]
        out += [frame(("Event", "CoreShowChannel"), ("ActionID", aid), *e.items()) for e in entries]
        out.append(
            frame(
                ("Event", "CoreShowChannelsComplete"),
                ("ActionID", aid),
                ("EventList", "Complete"),
                ("ListItems", str(len(entries))),
            )
        )
        return b"".join(out)

    def _on_action(self, conn: Any, action: Any) -> None:
        self.received.clear()  # 50 nodes x hours of Pings: keep nothing
        conn.actions.clear()
        super()._on_action(conn, action)


@dataclass
class Generator:
    """Starts and ends calls on the fake nodes; remembers when each was sent (monotonic)."""

    nodes: int
    extensions: int
    rng: random.Random
    setup: str
    teardown: str
    fakes: list[Node] = field(default_factory=list)
    live: deque[tuple[Call, float]] = field(default_factory=deque)
    seq: int = 0
    events: int = 0
    setup_n: int = 0
    teardown_n: int = 0
    shown: dict[str, float] = field(default_factory=dict)  # call id -> set-up sent
    gone: dict[str, float] = field(default_factory=dict)  # call id -> tear-down sent
    record: bool = False

    def live_on(self, node: int) -> list[tuple[Call, float]]:
        return [(c, t) for c, t in self.live if c.node == node]

    def _pick(self) -> Call:
        node = self.rng.randrange(self.nodes)
        per_node = self.extensions // self.nodes
        if node == HOT % self.nodes and self.rng.random() < 0.01 * self.nodes:
            a = HOT
        else:
            a = node + self.nodes * self.rng.randrange(per_node)
        b = a
        while b == a:
            b = node + self.nodes * self.rng.randrange(per_node)
        self.seq += 1
        cid = phone_call_id(f"1795000000.{2 * self.seq}", "" if node == 0 else f"n{node}")
        return Call(node, a, b, self.seq, cid)

    def step(self, start: int, end: int) -> None:
        """Starts `start` calls and ends the `end` oldest, one write per node."""
        out: dict[int, list[str]] = {}
        now = time.monotonic()
        for _ in range(min(end, len(self.live))):
            call, _t = self.live.popleft()
            out.setdefault(call.node, []).append(self.teardown.format(**call.values()))
            self.events += self.teardown_n
            if self.record:
                self.gone[call.call_id] = now
        for _ in range(start):
            call = self._pick()
            out.setdefault(call.node, []).append(self.setup.format(**call.values()))
            self.events += self.setup_n
            self.live.append((call, now))
            if self.record:
                self.shown[call.call_id] = now
        for node, texts in out.items():
            conn = self.fakes[node].conns[-1] if self.fakes[node].conns else None
            if conn is not None and not conn.writer.is_closing():
                conn.writer.write("".join(texts).encode())

    async def run(self, rate: float, seconds: float, *, ending: bool) -> float:
        """`rate` calls a second for `seconds` (and as many ending when `ending`); returns the
        seconds it really took."""
        t0 = time.monotonic()
        done = 0
        while (elapsed := time.monotonic() - t0) < seconds:
            due = int(rate * elapsed) - done
            if due > 0:
                self.step(due, due if ending else 0)
                done += due
                await asyncio.gather(
                    *(
                        f.conns[-1].writer.drain()
                        for f in self.fakes
                        if f.conns and not f.conns[-1].writer.is_closing()
                    )
                )
            await asyncio.sleep(0.005)
        return time.monotonic() - t0


# -- the daemon ------------------------------------------------------------------------------


def start_daemon(cfg: Path, log: Path) -> subprocess.Popen[bytes]:
    profile = os.environ.get("BENCH_PROFILE")
    cmd = [str(ROOT / ".venv" / "bin" / "uapi-bridge")]
    if profile:
        cmd = [sys.executable, "-m", "cProfile", "-o", profile, "-m", "bridge"]
    return subprocess.Popen(
        [*cmd, "--config", str(cfg)], stdout=subprocess.DEVNULL, stderr=log.open("a")
    )


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def get(port: int, path: str, tok: str, timeout: float = 30) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {tok}"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def total(port: int) -> int:
    """The live calls the bridge follows on all nodes (`uapi_calls_live` in /metrics)."""
    status, body = get(port, "/metrics", ADMIN)
    if status != 200:
        return -1
    return int(
        sum(
            float(line.rsplit(" ", 1)[1])
            for line in body.decode().splitlines()
            if line.startswith("uapi_calls_live{")
        )
    )


async def healthy(port: int, nodes: int, deadline: float) -> bool:
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, http.client.HTTPException):
            status, body = await asyncio.to_thread(get, port, "/healthz", ADMIN, 5)
            if status == 200:
                info = json.loads(body)
                up = [n for n, v in info.get("nodes", {}).items() if v.get("ami") == "connected"]
                if len(up) == nodes:
                    return True
        await asyncio.sleep(0.2)
    return False


# -- the measuring processes -------------------------------------------------------------------


def receiver_proc(port: int, stop: Any, count: Any, out: Any) -> None:
    seen: list[tuple[str, float]] = []

    async def hook(request: web.Request) -> web.Response:
        data = await request.post() if request.method == "POST" else request.query
        seen.append((str(data.get("CallID", "")), time.monotonic()))
        count.value += 1
        return web.Response(text="ok")

    async def serve() -> None:
        app = web.Application()
        app.router.add_route("*", "/hook", hook)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        while not stop.is_set():
            await asyncio.sleep(0.1)
        await runner.cleanup()

    asyncio.run(serve())
    out.send(seen)


class _Stream(asyncio.Protocol):
    def __init__(self, sink: dict[str, Any]) -> None:
        self.sink = sink
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        *frames, self.buf = (self.buf + data).split(b"\r\n\r\n")
        for fr in frames:
            kind = fr.partition(b"event: ")[2][:5]
            if kind == b"ready":
                self.sink["ready"] += 1
            elif kind in (b"call\r", b"ended"):
                at = fr.find(b'"id":"')
                if at >= 0:
                    cid = fr[at + 6 : at + 26].decode()
                    key = "first" if kind == b"call\r" else "ended"
                    self.sink[key].setdefault(cid, now)
                self.sink["events"] += 1


def clients_proc(port: int, users: list[int], ready: Any, stop: Any, out: Any) -> None:
    async def run() -> dict[str, Any]:
        sink: dict[str, Any] = {"ready": 0, "events": 0, "first": {}, "ended": {}}
        loop = asyncio.get_running_loop()
        transports = []
        for u in users:
            tr, _ = await loop.create_connection(lambda: _Stream(sink), "127.0.0.1", port)
            tr.write(
                (
                    f"GET /uapi/phoneCalls/@me/@self/stream HTTP/1.1\r\nHost: x\r\n"
                    f"Accept: text/event-stream\r\nAuthorization: Bearer {token(u)}\r\n\r\n"
                ).encode()
            )
            transports.append(tr)
        while sink["ready"] < len(users):
            await asyncio.sleep(0.05)
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.05)
        for tr in transports:
            tr.close()
        return sink

    out.send(asyncio.run(run()))


def lister_proc(port: int, queries: list[tuple[str, str, str]], stop: Any, out: Any) -> None:
    """Sends the List queries in turn until told to stop; their latencies by name."""
    times: dict[str, list[float]] = {name: [] for name, _, _ in queries}
    sizes: dict[str, int] = {}
    while not stop.is_set():
        for name, path, tok in queries:
            t0 = time.perf_counter()
            status, body = get(port, path, tok)
            times[name].append(time.perf_counter() - t0)
            sizes[name] = len(json.loads(body).get("entry", [])) if status == 200 else -status
        time.sleep(0.02)
    out.send((times, sizes))


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


# -- the run ----------------------------------------------------------------------------------


async def register_hooks(port: int, hooks: int, extensions: int, hook_url: str) -> int:
    """Hangup webhooks on `hooks` extensions, spread over the directory (HOT included)."""
    step = max(1, extensions // hooks)

    def one(j: int) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            body = json.dumps({"type": "2", "method": "1", "url": hook_url})
            path = f"/uapi/extensions/{uid(j // PER_USER)}/{number(j)}/phoneCallEvents"
            conn.request(
                "POST",
                path,
                body,
                {"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"},
            )
            return conn.getresponse().status
        finally:
            conn.close()

    statuses = [await asyncio.to_thread(one, j) for j in range(0, step * hooks, step)]
    return sum(1 for s in statuses if s == 201)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", type=int, default=50)
    parser.add_argument("--calls", type=int, default=100_000, help="live calls to reach")
    parser.add_argument("--rate", type=float, default=500, help="calls/s starting and ending")
    parser.add_argument("--ramp", type=float, default=1000, help="calls/s started to fill up")
    parser.add_argument("--steady", type=float, default=60, help="seconds at steady state")
    parser.add_argument("--extensions", type=int, default=10_000)
    parser.add_argument("--hooks", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    t_begin = time.monotonic()
    setup, teardown = _templates()
    gen = Generator(
        args.nodes,
        args.extensions,
        random.Random(args.seed),
        setup,
        teardown,
        setup_n=setup.count("\r\n\r\n"),
        teardown_n=teardown.count("\r\n\r\n"),
    )
    gen.fakes = [Node(gen, i) for i in range(args.nodes)]
    for fake in gen.fakes:
        await fake.start()
    asyncio.get_running_loop().set_exception_handler(lambda loop, ctx: None)
    keep = os.environ.get("BENCH_KEEP")  # a directory: the config, database and log stay there
    with contextlib.nullcontext(keep) if keep else tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        tmp.mkdir(parents=True, exist_ok=True)
        port = free_port()
        raw = without_limits(config([f.port for f in gen.fakes], args.extensions, tmp, port))
        cfg = tmp / "scale.yaml"
        cfg.write_text(yaml.safe_dump(raw, sort_keys=False))
        log = tmp / "daemon.log"
        t0 = time.monotonic()
        proc = start_daemon(cfg, log)
        try:
            if not await healthy(port, args.nodes, time.monotonic() + 120):
                raise SystemExit(
                    f"the bridge did not connect to {args.nodes} nodes:\n" + log.read_text()[-3000:]
                )
            print(
                f"bridge up with {args.nodes} nodes, {args.extensions} extensions in "
                f"{args.extensions // PER_USER} organizations: {time.monotonic() - t0:.1f} s, "
                f"RSS {rss_mb(proc.pid):.0f} MB"
            )
            await measure(args, gen, proc, port, cfg, log)
        finally:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(30)
            for fake in gen.fakes:
                await fake.close()
    print(f"bench/scale.py took {time.monotonic() - t_begin:.0f} s")


async def quiet(count: Any, deadline: float, still: float = 3.0) -> None:
    """Returns once `count()` has not changed for `still` seconds (or at the deadline)."""
    last, since = count(), time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - since < still:
        await asyncio.sleep(0.2)
        if (now := count()) != last:
            last, since = now, time.monotonic()


async def settle(port: int, want: int, deadline: float) -> float:
    """Seconds until the bridge tracks `want` live calls (the backlog drained)."""
    t0 = time.monotonic()
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, http.client.HTTPException):  # busy: ask again
            if await asyncio.to_thread(total, port) == want:
                break
        await asyncio.sleep(0.2)
    return time.monotonic() - t0


async def measure(args: Any, gen: Generator, proc: Any, port: int, cfg: Path, log: Path) -> None:
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    hook_port = free_port()
    hook_out, hook_in = ctx.Pipe()
    delivered = ctx.Value("i", 0, lock=False)
    receiver = ctx.Process(target=receiver_proc, args=(hook_port, stop, delivered, hook_in))
    receiver.start()
    await asyncio.sleep(1.0)
    registered = await register_hooks(
        port, args.hooks, args.extensions, f"http://127.0.0.1:{hook_port}/hook"
    )
    orgs = args.extensions // PER_USER
    users = [orgs - 1 - k for k in range(min(args.clients, orgs - 2))]
    ready = ctx.Event()
    cl_out, cl_in = ctx.Pipe()
    clients = ctx.Process(target=clients_proc, args=(port, users, ready, stop, cl_in))
    clients.start()
    while not ready.is_set():
        await asyncio.sleep(0.05)
    print(f"{registered} Hangup webhooks registered; {len(users)} stream clients ready")

    # fill up
    rss0 = rss_mb(proc.pid)
    cpu0, wall0 = cpu_seconds(proc.pid), time.monotonic()
    took = await gen.run(args.ramp, args.calls / args.ramp, ending=False)
    lag = await settle(port, len(gen.live), time.monotonic() + 600)
    cpu = cpu_seconds(proc.pid) - cpu0
    live = len(gen.live)
    rss = rss_mb(proc.pid)
    print(
        f"fill: {live} calls started in {took:.0f} s ({gen.events} events, "
        f"{gen.events / (took + lag):.0f} events/s kept up with); tracked {lag:.1f} s after the "
        f"last was sent; bridge CPU {100 * cpu / (time.monotonic() - wall0):.0f}% of a core"
    )
    per_call = (rss - rss0) * 1024 / max(1, live)
    print(
        f"RSS {rss:.0f} MB at {live} live calls (before {rss0:.0f} MB): "
        f"{per_call:.1f} KB per call  (targets: < {TARGETS['rss_mb']} MB, "
        f"< {TARGETS['rss_per_call_kb']} KB per call)"
    )

    # steady state, measured
    hot_user = HOT // PER_USER
    busy_user = 1
    queries = [
        (
            "count=20 on the busy extension",
            f"/uapi/phoneCalls/{uid(hot_user)}/{number(HOT)}?count=20",
            token(hot_user),
        ),
        (
            "@self of a user with 50 extensions, count=20",
            f"/uapi/phoneCalls/{uid(busy_user)}/@self?count=20",
            token(busy_user),
        ),
        ("admin count=5000", f"/uapi/phoneCalls/{uid(hot_user)}/@self?count=5000", ADMIN),
    ]
    l_stop = ctx.Event()
    ls_out, ls_in = ctx.Pipe()
    lister = ctx.Process(target=lister_proc, args=(port, queries, l_stop, ls_in))
    lister.start()
    gen.record = True
    ev0, cpu0, wall0 = gen.events, cpu_seconds(proc.pid), time.monotonic()
    took = await gen.run(args.rate, args.steady, ending=True)
    sent = gen.events - ev0
    gen.record = False
    l_stop.set()
    lag = await settle(port, len(gen.live), time.monotonic() + 300)
    cpu = cpu_seconds(proc.pid) - cpu0
    wall = time.monotonic() - wall0
    times, sizes = await asyncio.to_thread(ls_out.recv)
    lister.join(10)
    await quiet(lambda: int(delivered.value), time.monotonic() + 120)  # the last webhooks
    stop.set()
    hooks_seen = await asyncio.to_thread(hook_out.recv)
    sink = await asyncio.to_thread(cl_out.recv)
    receiver.join(10)
    clients.join(10)
    print(
        f"steady: {args.rate:.0f} calls/s starting and ending for {took:.0f} s: {sent} events "
        f"({sent / took:.0f}/s sent); backlog drained {lag:.1f} s after the last "
        f"(target: no backlog); bridge CPU {100 * cpu / wall:.0f}% of a core; "
        f"RSS {rss_mb(proc.pid):.0f} MB"
    )
    for name, values in times.items():
        print(
            f"  List {name}: p50 {pct(values, 0.5):.1f} ms, p99 {pct(values, 0.99):.1f} ms "
            f"({len(values)} requests, {sizes.get(name)} entries)"
        )
    delays = [t - gen.gone[c] for c, t in hooks_seen if c in gen.gone]
    in_window = [t for c, t in hooks_seen if c in gen.gone]
    span = (max(in_window) - min(in_window)) if len(in_window) > 1 else 0
    print(
        f"  webhooks: {len(delays)} Hangup deliveries of steady-state calls "
        f"({len(delays) / span if span else 0:.0f}/s), delay p50 {pct(delays, 0.5):.0f} ms, "
        f"p99 {pct(delays, 0.99):.0f} ms"
    )
    s_delays = [t - gen.shown[c] for c, t in sink["first"].items() if c in gen.shown]
    s_delays += [t - gen.gone[c] for c, t in sink["ended"].items() if c in gen.gone]
    print(
        f"  stream: {sink['events']} events at {len(users)} clients, delay p50 "
        f"{pct(s_delays, 0.5):.0f} ms, p99 {pct(s_delays, 0.99):.0f} ms ({len(s_delays)} samples)"
    )

    # resync after a restart
    live = len(gen.live)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    t0 = time.monotonic()
    proc2 = start_daemon(cfg, log)
    try:
        up = await healthy(port, args.nodes, time.monotonic() + 300)
        took_up = time.monotonic() - t0
        lag = await settle(port, live, time.monotonic() + 300)
        tracked = await asyncio.to_thread(total, port)
        print(
            f"resync after SIGKILL + restart: all {args.nodes} nodes connected "
            f"{'in' if up else 'NOT within'} {took_up:.1f} s, {tracked}/{live} calls tracked "
            f"{took_up + lag:.1f} s after the restart (target < {TARGETS['resync_s']} s); "
            f"RSS {rss_mb(proc2.pid):.0f} MB"
        )
    finally:
        proc2.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc2.wait(30)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    asyncio.run(main())
