"""The HTTP edge below the routes: requests aiohttp's own parser refuses, and slow clients.

aiohttp answers a request it cannot parse (a bad request line, a header over its limit, bad
chunking) with `text/plain` before any middleware runs. The runner here swaps in a protocol
handler that answers those with the UAPI error envelope instead, and closes connections that do
not deliver a whole request within `http.request_timeout` (aiohttp's keep-alive timer runs from
the moment a connection opens or finishes an answer, and data trickling in does not reset it).
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from bridge.errors import ApiError

log = structlog.get_logger("bridge.http")
CODES = {400: "request_invalid", 413: "request_too_large", 431: "request_too_large"}


def envelope(status: int, code: str, message: str) -> web.Response:
    """The UAPI error shape, for answers built outside the middleware."""
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


class _JsonErrorHandler(RequestHandler):
    """aiohttp's protocol handler, answering unparsable requests with the UAPI envelope."""

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,  # noqa: ARG002 - aiohttp's signature
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:
            raise ConnectionError("an answer was already sent on this connection")
        code = CODES.get(status, "internal_server_error" if status >= 500 else "request_invalid")
        text = (
            "The HTTP request could not be parsed."
            if status < 500
            else ("Internal error; see the bridge's log.")
        )
        # The parser's message names the problem (never a secret: it is about framing).
        detail = (message or "").splitlines()[0][:200] if message else ""
        log.info("http.request.refused", status=status, error=code, detail=detail)
        response = envelope(status, code, f"{text} {detail}".strip())
        response.force_close()
        return response


class _JsonErrorServer(web.Server):
    def __call__(self) -> RequestHandler:
        return _JsonErrorHandler(self, loop=self._loop, **self._kwargs)


class Runner(web.AppRunner):
    """`web.AppRunner` with the edge rules above; `request_timeout` in seconds."""

    def __init__(self, app: web.Application, *, request_timeout: float, **kwargs: Any) -> None:
        # lingering_time: how long an unread body is drained before the connection closes.
        super().__init__(
            app,
            keepalive_timeout=request_timeout,
            lingering_time=min(request_timeout, 2.0),
            **kwargs,
        )

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _JsonErrorServer  # same object and state, our handler class
        return server


async def read_body(request: web.Request, timeout: float) -> bytes:  # noqa: ASYNC109
    """The whole body, or 408 `request_timeout` when the client sends it too slowly."""
    try:
        async with asyncio.timeout(timeout):
            return await request.read()
    except TimeoutError as exc:
        raise ApiError(408, "request_timeout", "The request body was not sent in time.") from exc
