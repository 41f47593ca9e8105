"""Recording downloads through the bridge beside the same bytes straight from ARI: MB/s of a
`--mb` MB file (a fake ARI on loopback streams it in 64 KiB chunks, never holding it), whole
and as a `Range` from its middle, and how much the bridge's process grew meanwhile (max RSS):
the file is passed on as it comes, never held whole.

    .venv/bin/python bench/recordings.py [--mb 200]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from bridge import logs
from bridge.api.server import build_app
from bridge.app import Bridge
from bridge.ari.settings import AriConfig
from bridge.config import load
from bridge.domain.recordings import RecordingRecord

TOKEN = "demo-crm-token-0123456789"
NAME = "uapi-48bc0f26f2dceaaa2e5c-00-1796560271"
CHUNK = b"\0" * 65536


def fake_ari(size: int) -> web.Application:
    async def file(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        resp.content_type = "audio/wav"
        resp.content_length = size
        await resp.prepare(request)
        left = size
        while left > 0:
            await resp.write(CHUNK[: min(left, len(CHUNK))])
            left -= len(CHUNK)
        return resp

    app = web.Application()
    app.router.add_get("/ari/recordings/stored/{name}/file", file)
    return app


async def download(url: str, headers: dict[str, str]) -> tuple[float, int]:
    """Seconds and bytes of one GET, read in chunks and dropped."""
    got = 0
    started = time.perf_counter()
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as resp:
        assert resp.status in (200, 206), resp.status
        async for chunk in resp.content.iter_chunked(1 << 16):
            got += len(chunk)
    return time.perf_counter() - started, got


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def main(mb: int) -> None:
    size = mb * 1024 * 1024
    logs.configure("warning", json=False)
    ari = TestServer(fake_ari(size), host="127.0.0.1")
    await ari.start_server()
    config = load(Path(__file__).resolve().parents[1] / "config" / "demo.yaml")
    [one] = config.nodes
    node = dataclasses.replace(one, ari=AriConfig(str(ari.make_url("/ari")), "u", "p"))
    with tempfile.TemporaryDirectory() as tmp:
        storage = dataclasses.replace(config.storage, path=os.path.join(tmp, "b.sqlite3"))
        config = dataclasses.replace(config, nodes=(node,), storage=storage)
        bridge = Bridge.build(config)
        await bridge.db.open()
        await bridge.services.tokens.load()
        store = bridge.services.recordings.store
        store.add(
            RecordingRecord(
                NAME, NAME[5:25], "00", "0003*210", "wav", 1.0, 2.0, "default", ("0003*210",)
            )
        )
        await store.flush()
        server = TestServer(build_app(bridge.services, bridge.hub), host="127.0.0.1")
        await server.start_server()
        auth = {"Authorization": f"Bearer {TOKEN}"}
        via = str(server.make_url(f"/uapi/recordings/@me/210/{NAME}/file"))
        direct = str(ari.make_url(f"/ari/recordings/stored/{NAME}/file"))
        rss0 = max_rss_mb()
        half = {"Range": f"bytes={size // 2}-"}
        for label, url, extra in (
            ("ARI direct", direct, {}),
            ("bridge", via, auth),
            ("ARI direct", direct, {}),
            ("bridge", via, auth),
            ("bridge, Range from the middle", via, {**auth, **half}),
        ):
            seconds, got = await download(url, extra)
            print(
                f"{label:32s} {got / 1e6:8.1f} MB in {seconds:6.2f} s: "
                f"{got / 1e6 / seconds:7.1f} MB/s"
            )
        direct_s, _ = await download(direct, {})
        bridge_s, _ = await download(via, auth)
        print(f"bridge / direct throughput (same run): {direct_s / bridge_s:.2f}")
        print(
            f"max RSS of this process: {rss0:.0f} MB before, {max_rss_mb():.0f} MB after "
            f"{mb} MB files went through {5} times"
        )
        await server.close()
        node_ari = bridge.services.nodes.first.ari
        assert node_ari is not None
        await node_ari.close()
        await bridge.db.close()
    await ari.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=int, default=200)
    asyncio.run(main(parser.parse_args().mb))
