"""AMI events per second through the bridge's whole pipeline (framing and parsing, call
tracker, effects to the webhook triggers with every event type registered for every
extension, log lines) beside panoramisk's parse-only rate on
the same bytes, and their ratio.

    .venv/bin/python bench/pipeline.py [--replicas 400] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from panoramisk import utils as pk_utils
from panoramisk.message import Message

from bench.corpus import BANNER, chunks, corpus
from bridge import logs
from bridge.ami.framing import Framer
from bridge.app import Bridge
from bridge.config import load
from bridge.runtime import tune_gc
from bridge.store.hooks import Registration
from bridge.webhooks.signing import new_secret


def panoramisk_parse(reads: list[bytes]) -> int:
    """What panoramisk's AMIProtocol.data_received does with each read: decode, split on the
    blank line, Message.from_line (no dispatch)."""
    buf = ""
    n = 0
    eol2 = pk_utils.EOL + pk_utils.EOL
    for data in reads:
        buf += data.decode("utf-8", "ignore")
        frames = buf.split(eol2)
        buf = frames.pop()
        for frame in frames:
            if Message.from_line(frame) is not None:
                n += 1
    return n


def built(config_path: Path) -> Bridge:
    """A bridge (not started) whose webhook triggers want every event of every extension."""
    bridge = Bridge.build(load(config_path))
    regs = bridge.services.registrations
    for ext in bridge.services.directory.extensions.values():
        for kind in range(5):
            reg = Registration(
                f"{ext.number}-{kind}",
                "crm",
                ext.number,
                kind,
                1,
                "https://crm.example.com/hook",
                "",
                0,
                "x",
                new_secret(),
            )
            regs._index(reg)  # in memory only: the benchmark writes nothing
    return bridge


def bridge_pipeline(reads: list[bytes], config_path: Path) -> int:
    """The bridge's path for each read: Framer -> CallsFeed.on_event (tracker, effects)."""
    bridge = built(config_path)
    framer = Framer()
    framer.feed(BANNER)
    (feed,) = bridge.feeds  # the config's one node
    on_event = feed.on_event
    n = 0
    for data in reads:
        for msg in framer.feed(data):
            on_event(msg)
            n += 1
    assert not bridge.services.nodes.first.tracker.calls, "every replayed call should have ended"
    assert bridge.webhooks._fired.qsize() > 0, "the webhook triggers ran"
    return n


def best_rate(fn: object, rounds: int, events: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        got = fn()  # type: ignore[operator]
        best = min(best, time.perf_counter() - started)
        assert got == events, (got, events)
    return events / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replicas", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--config", type=Path, default=Path("config/demo.yaml"))
    args = parser.parse_args()
    data, events = corpus(args.replicas)
    reads = chunks(data)
    sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - log lines are produced, not shown
    logs.configure("info", json=True)
    tune_gc()  # the collector paced as the daemon paces it (bridge.runtime)
    pk = best_rate(lambda: panoramisk_parse(reads), args.rounds, events)
    ours = best_rate(lambda: bridge_pipeline(reads, args.config), args.rounds, events)
    print(
        f"corpus: {events} events ({args.replicas} copies of the recorded calls), "
        f"{len(data) / 1e6:.1f} MB, best of {args.rounds}"
    )
    print(f"panoramisk parse only : {pk:10.0f} events/s")
    print(f"bridge whole pipeline : {ours:10.0f} events/s")
    print(f"ratio pipeline/parse  : {ours / pk:10.2f}  (target >= 1.0, issue 28)")


if __name__ == "__main__":
    main()
