"""One node's ARI link over aiohttp's client: stored recordings (list, file, delete) and a ping.

Foreign errors end here: a connection that fails, an answer that does not come within
`timeout` (to connect, or between two reads) and credentials ARI refuses are `PbxUnavailable`
(503 `pbx_unavailable`). A recording ARI does not have is None / False, not an error. Names
are checked before they go into a URL (no CR/LF, no path), so nothing odd reaches Asterisk.
"""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
import structlog

from bridge.ari.settings import AriConfig
from bridge.errors import PbxUnavailable

log = structlog.get_logger("bridge.ari")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
CHUNK = 64 * 1024  # bytes read from ARI at a time when a file is streamed
_REFUSED = (401, 403)


@dataclass(frozen=True)
class StoredFile:
    """A stored recording's audio as ARI answers it: its length (if ARI says) and its bytes,
    read as they come."""

    length: int | None
    content_type: str
    chunks: AsyncIterator[bytes]


class AriClient:
    """The ARI of node `node`; one aiohttp session, opened on first use."""

    def __init__(self, config: AriConfig, node: str) -> None:
        self.config = config
        self.node = node
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            t = self.config.timeout
            self._session = aiohttp.ClientSession(
                headers={"Authorization": _basic(self.config.username, self.config.password)},
                timeout=aiohttp.ClientTimeout(total=None, connect=t, sock_connect=t, sock_read=t),
                raise_for_status=False,
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _url(self, path: str) -> str:
        return f"{self.config.url}{path}"

    def _stored(self, name: str, tail: str = "") -> str:
        if not NAME.fullmatch(name):
            raise ValueError(f"not a stored recording name: {name!r}")
        return self._url(f"/recordings/stored/{quote(name, safe='')}{tail}")

    @asynccontextmanager
    async def _request(self, method: str, url: str) -> AsyncIterator[aiohttp.ClientResponse]:
        """One request; every failure to get an answer is PbxUnavailable naming the node."""
        try:
            async with self._open().request(method, url) as resp:
                if resp.status in _REFUSED:
                    log.error("ari.refused", node=self.node, status=resp.status)
                    raise PbxUnavailable(
                        f"ARI of node {self.node!r} refused the bridge's credentials"
                    )
                yield resp
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning(
                "ari.request.failed", node=self.node, method=method, error=type(exc).__name__
            )
            raise PbxUnavailable(f"ARI of node {self.node!r} does not answer") from exc

    async def ping(self) -> bool:
        """ARI answers (and takes the credentials)."""
        try:
            async with self._request("GET", self._url("/asterisk/ping")) as resp:
                return resp.status == 200
        except PbxUnavailable:
            return False

    async def stored(self) -> list[dict[str, Any]]:
        """Every stored recording: [{"name", "format"}, ...]."""
        async with self._request("GET", self._url("/recordings/stored")) as resp:
            if resp.status != 200:
                raise PbxUnavailable(f"ARI of node {self.node!r} answered {resp.status}")
            body = await resp.json()
            return [r for r in body if isinstance(r, dict)] if isinstance(body, list) else []

    @asynccontextmanager
    async def file(self, name: str) -> AsyncIterator[StoredFile | None]:
        """The audio of stored recording `name`, streamed (None: ARI does not have it)."""
        async with self._request("GET", self._stored(name, "/file")) as resp:
            if resp.status == 404:
                yield None
                return
            if resp.status != 200:
                raise PbxUnavailable(f"ARI of node {self.node!r} answered {resp.status}")
            yield StoredFile(resp.content_length, resp.content_type, _chunks(resp, self.node))

    async def size(self, name: str) -> int | None:
        """The length of stored recording `name` in bytes, without reading it."""
        async with self.file(name) as found:
            return found.length if found is not None else None

    async def delete(self, name: str) -> bool:
        """Deletes stored recording `name`; False when ARI did not have it."""
        async with self._request("DELETE", self._stored(name)) as resp:
            if resp.status == 404:
                return False
            if resp.status not in (200, 204):
                raise PbxUnavailable(f"ARI of node {self.node!r} answered {resp.status}")
            return True


def _basic(username: str, password: str) -> str:
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


async def _chunks(resp: aiohttp.ClientResponse, node: str) -> AsyncIterator[bytes]:
    try:
        async for chunk in resp.content.iter_chunked(CHUNK):
            yield chunk
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise PbxUnavailable(f"ARI of node {node!r} stopped sending the file") from exc
