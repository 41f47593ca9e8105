"""Config reload (SIGHUP) with a large directory: how long a reload takes (read, check, decide:
in a worker thread; then apply) and how long the event loop is held by the apply step (no
request is served meanwhile), for N extensions (N/5 users, 50 apps), one added per reload.

    .venv/bin/python bench/reload.py [--extensions 10000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bridge import logs
from bridge.app import Bridge
from bridge.config import load
from bridge.reload_plan import decide

ROOT = Path(__file__).resolve().parents[1]


def directory(raw: dict[str, Any], extensions: int) -> dict[str, Any]:
    raw["users"] = [
        {"id": str(100 + i), "organization": "3", "name": f"User {i}"}
        for i in range(extensions // 5)
    ]
    raw["extensions"] = [
        {"number": f"0003*{1000 + i}", "user": str(100 + i // 5), "channel": f"PJSIP/{1000 + i}"}
        for i in range(extensions)
    ]
    raw["apps"] = [
        {"name": f"app{i}", "user": str(100 + i), "token": f"bench-token-{i:08d}-xx"}
        for i in range(50)
    ]
    return raw


async def measure(path: Path, raw: dict[str, Any], rounds: int) -> tuple[list[float], list[float]]:
    bridge = Bridge.build(load(path))
    reloader = bridge.reloads_from(path)
    whole, held = [], []
    for r in range(rounds):
        raw["extensions"].append(
            {"number": f"0003*{900000 + r}", "user": "100", "channel": f"PJSIP/b{r}"}
        )
        path.write_text(yaml.safe_dump(raw))
        started = time.perf_counter()
        assert await reloader.reload()
        whole.append(time.perf_counter() - started)
        plan = decide(bridge.services.config, load(path))
        started = time.perf_counter()
        reloader.apply(plan)
        held.append(time.perf_counter() - started)
    return whole, held


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--extensions", type=int, default=10_000)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    logs.configure("error")
    with tempfile.TemporaryDirectory() as tmp:
        raw = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
        raw["storage"]["path"] = str(Path(tmp) / "bench.sqlite3")
        raw = directory(raw, args.extensions)
        path = Path(tmp) / "bridge.yaml"
        path.write_text(yaml.safe_dump(raw))
        whole, held = asyncio.run(measure(path, raw, args.rounds))
    print(
        f"{args.extensions} extensions, {args.rounds} reloads: whole reload median "
        f"{statistics.median(whole) * 1000:.0f} ms (max {max(whole) * 1000:.0f}); loop held "
        f"by apply median {statistics.median(held) * 1000:.1f} ms (max "
        f"{max(held) * 1000:.1f}); apply/whole "
        f"{statistics.median(held) / statistics.median(whole):.3f}"
    )


if __name__ == "__main__":
    main()
