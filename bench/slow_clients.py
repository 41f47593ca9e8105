"""Slow clients against the daemon: N connections each sending one header byte every 2 s.

Before http.request_timeout every one of them stayed connected for as long as it kept
trickling; now each is closed once it has not sent a whole request within the timeout, while
a normal client is still served. Prints how many were closed, and when.

    .venv/bin/python bench/slow_clients.py [--clients 500] [--timeout 5]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml

from bench.corpus import free_port

ROOT = Path(__file__).resolve().parent.parent


async def _trickle(port: int, started: float, every: float, limit: float) -> float | None:
    """Sends one byte every `every` s; returns when the server closed the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 10_000
    try:
        for byte in request:
            writer.write(bytes([byte]))
            await writer.drain()
            try:
                if await asyncio.wait_for(reader.read(1), every) == b"":
                    return time.monotonic() - started
            except TimeoutError:
                pass
            if time.monotonic() - started > limit:
                return None
    except ConnectionError:
        return time.monotonic() - started
    finally:
        writer.close()
    return None


async def main(clients: int, timeout: float) -> None:
    port = free_port()
    raw = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    raw["http"].update(port=port, request_timeout=timeout)
    raw["ami"]["port"] = free_port()  # no Asterisk needed: /healthz answers 503, that is fine
    with tempfile.TemporaryDirectory() as tmp:
        raw["storage"]["path"] = f"{tmp}/b.sqlite3"
        cfg = Path(tmp) / "bridge.yaml"
        cfg.write_text(yaml.safe_dump(raw))
        proc = subprocess.Popen(
            [str(ROOT / ".venv/bin/uapi-bridge"), "--config", str(cfg)],
            stderr=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
        try:
            for _ in range(100):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1)
                    break
                except OSError:
                    await asyncio.sleep(0.1)
            started = time.monotonic()
            limit = timeout * 3 + 5
            tasks = [
                asyncio.create_task(_trickle(port, started, 2.0, limit)) for _ in range(clients)
            ]
            await asyncio.sleep(1)
            ok = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).status
            closed = [t for t in await asyncio.gather(*tasks) if t is not None]
        finally:
            proc.terminate()
            proc.wait(10)
    print(
        f"{clients} slow clients, request_timeout {timeout:g} s: {len(closed)} closed by the "
        f"bridge (first after {min(closed, default=0):.1f} s, last after "
        f"{max(closed, default=0):.1f} s); a normal request meanwhile answered {ok}"
    )


if __name__ == "__main__":
    args = argparse.ArgumentParser()
    args.add_argument("--clients", type=int, default=500)
    args.add_argument("--timeout", type=float, default=5.0)
    ns = args.parse_args()
    sys.exit(asyncio.run(main(ns.clients, ns.timeout)))
