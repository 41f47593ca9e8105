"""AMI events per second through the bridge's pipeline with two Asterisk nodes' transcripts
interleaved (config/demo-cluster.yaml: each node's reads go to its own framer, call feed and
tracker, the webhooks, history and live hub are shared) beside the same number of events
from one node (config/demo.yaml), and their ratio.

    .venv/bin/python bench/nodes.py [--replicas 400] [--rounds 5]

Node2's corpus is node1's recorded calls with node2's phones (410, 411, 412, 413 instead of
210, 024, 025, 026) and ids no node1 copy uses.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.corpus import BANNER, chunks, corpus
from bench.pipeline import best_rate, built
from bridge import logs
from bridge.ami.framing import Framer
from bridge.feeds.calls import CallsFeed

ROOT = Path(__file__).resolve().parents[1]
NODE2_PHONES = {
    "PJSIP/210": "PJSIP/410",
    "PJSIP/024": "PJSIP/411",
    "PJSIP/025": "PJSIP/412",
    "PJSIP/026": "PJSIP/413",
}


def on_node2(data: bytes) -> bytes:
    text = data.decode()
    for old, new in NODE2_PHONES.items():
        text = text.replace(old, new)
    return text.encode()


def run(config: Path, streams: list[list[bytes]]) -> int:
    """Feeds stream i to node i's pipeline, one read of each in turn; returns events."""
    bridge = built(config)
    feeds: tuple[CallsFeed, ...] = bridge.feeds
    framers = []
    for _ in streams:
        framer = Framer()
        framer.feed(BANNER)
        framers.append(framer)
    n = 0
    longest = max(len(s) for s in streams)
    for i in range(longest):
        for stream, framer, feed in zip(streams, framers, feeds, strict=False):
            if i < len(stream):
                for msg in framer.feed(stream[i]):
                    feed.on_event(msg)
                    n += 1
    for node in bridge.services.nodes.all:
        assert not node.tracker.calls, f"every replayed call should have ended on {node.name}"
    assert bridge.webhooks._fired.qsize() > 0, "the webhook triggers ran"
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replicas", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    half = args.replicas // 2
    one_data, one_events = corpus(2 * half)
    a_data, a_events = corpus(half)
    b_data, b_events = corpus(half, start=half)
    assert a_events + b_events == one_events
    single = [chunks(one_data)]
    pair = [chunks(a_data), chunks(on_node2(b_data))]
    sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - log lines are produced, not shown
    logs.configure("info", json=True)
    one = two = 0.0
    for _ in range(args.rounds):  # alternated, so that a slow spell of the machine hits both
        one = max(one, best_rate(lambda: run(ROOT / "config" / "demo.yaml", single), 1, one_events))
        two = max(
            two, best_rate(lambda: run(ROOT / "config" / "demo-cluster.yaml", pair), 1, one_events)
        )
    print(
        f"corpus: {one_events} events ({2 * half} copies of the recorded calls), "
        f"{len(one_data) / 1e6:.1f} MB, best of {args.rounds}"
    )
    print(f"one node               : {one:10.0f} events/s")
    print(f"two nodes, interleaved : {two:10.0f} events/s")
    print(f"ratio two/one          : {two / one:10.2f}  (target >= 0.8)")


if __name__ == "__main__":
    main()
