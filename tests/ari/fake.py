"""A fake ARI on loopback (a real aiohttp server): stored recordings, basic auth, outages."""

from __future__ import annotations

import asyncio
import base64
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.test_utils import TestServer

from bridge.ari.settings import AriConfig

USER, PASSWORD = "uapi", "ari-secret"


def wav(frames: int) -> bytes:
    """A 8 kHz 16-bit mono RIFF/WAVE file of `frames` silent samples (44-byte header)."""
    data = b"\0\0" * frames
    header = (
        b"RIFF"
        + struct.pack("<I", 36 + len(data))
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16)
        + b"data"
        + struct.pack("<I", len(data))
    )
    return header + data


@dataclass
class FakeAri:
    """What the fake holds and how it misbehaves; `requests` logs (method, path)."""

    files: dict[str, bytes] = field(default_factory=dict)  # name -> contents (format wav)
    hang: bool = False  # accept, never answer
    gate: asyncio.Event | None = None  # set: a file's second half waits for it
    requests: list[tuple[str, str]] = field(default_factory=list)
    server: TestServer | None = None

    def config(self, password: str = PASSWORD, timeout: float = 0.5) -> AriConfig:
        assert self.server is not None
        return AriConfig(str(self.server.make_url("/ari")), USER, password, timeout)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth])
        app.router.add_get("/ari/asterisk/ping", self._ping)
        app.router.add_get("/ari/recordings/stored", self._list)
        app.router.add_get("/ari/recordings/stored/{name}/file", self._file)
        app.router.add_delete("/ari/recordings/stored/{name}", self._delete)
        return app

    @web.middleware
    async def _auth(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        if self.hang:
            await asyncio.sleep(3600)
        auth = request.headers.get("Authorization", "")
        if auth != "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode():
            return web.json_response({"message": "Authentication required"}, status=401)
        return await handler(request)

    async def _ping(self, request: web.Request) -> web.Response:
        return web.json_response({"ping": "pong"})

    async def _list(self, request: web.Request) -> web.Response:
        return web.json_response([{"name": n, "format": "wav"} for n in self.files])

    async def _file(self, request: web.Request) -> web.StreamResponse:
        body = self.files.get(request.match_info["name"])
        if body is None:
            return web.json_response({"message": "Recording not found"}, status=404)
        # ARI ignores Range: the whole file, always 200
        if self.gate is None:
            return web.Response(body=body, content_type="audio/wav")
        resp = web.StreamResponse()
        resp.content_type = "audio/wav"
        resp.content_length = len(body)
        await resp.prepare(request)
        await resp.write(body[: len(body) // 2])
        await self.gate.wait()
        await resp.write(body[len(body) // 2 :])
        return resp

    async def _delete(self, request: web.Request) -> web.Response:
        if self.files.pop(request.match_info["name"], None) is None:
            return web.json_response({"message": "Recording not found"}, status=404)
        return web.Response(status=204)


async def start(fake: FakeAri) -> FakeAri:
    fake.server = TestServer(fake.app(), host="127.0.0.1")
    await fake.server.start_server()
    return fake
