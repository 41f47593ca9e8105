"""`GET /uapi/phoneCalls/{userId}/{extension}/stream`: the live calls as Server-Sent Events.

Auth, scope and `fields` are List's. aiohttp-sse gives the response (headers, the comment
heartbeat, TCP_USER_TIMEOUT on the socket). Frames come pre-encoded from the hub, which writes
each batch straight to the socket while the client's writer task is idle; the task writes
snapshots and whatever piled up while the socket was congested, and waits for it to drain.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import structlog
from aiohttp import HttpVersion11, web
from aiohttp_sse import EventSourceResponse, sse_response

from bridge.api.callviews import DATES, FIELDS, FILTERABLE, render_call
from bridge.api.context import (
    Services,
    api_prefix,
    base_url,
    call_scope,
    current_app,
    services,
)
from bridge.api.listing import parse_list_query
from bridge.directory import SELF
from bridge.domain.model import Call
from bridge.errors import ApiError
from bridge.live.client import Client, Snapshot, View
from bridge.live.hub import Hub, Item
from bridge.tenants import App, User

log = structlog.get_logger("bridge.live")
HUB = web.AppKey("live.hub", Hub)
SEND_TIMEOUT = 30.0  # a write that long is a dead peer: the connection is aborted
DIRECT_LIMIT = 64 * 1024  # bytes waiting in a transport beyond which the writer task waits


def hub_for(svc: Services) -> Hub:
    """The hub of a bridge: renders calls as List does; its figures go to /metrics."""

    def render(call: Call) -> Item:
        return render_call(svc, call, "")

    hub = Hub(svc.nodes.cluster, render, svc.config.stream)
    svc.metrics.add_live(lambda: hub.stats)
    return hub


async def stream_calls(request: web.Request) -> web.StreamResponse:
    """200 text/event-stream: a snapshot, `ready`, then every change until the client leaves."""
    svc = services(request)
    hub = request.app[HUB]
    scope = call_scope(request)
    fields = {"fields": request.query["fields"]} if "fields" in request.query else {}
    q = parse_list_query(fields, fields=FIELDS, filterable=FILTERABLE, date_fields=DATES)
    svc.nodes.live_for(scope.extensions, "not connected: the live calls are not known")
    if hub.full():
        hub.stats.refused += 1
        raise ApiError(503, "stream_limit", "Too many streams are open; try again later.")
    view = View(f"{base_url(request)}{api_prefix(request)}/phoneCalls/{scope.user_ref}", q.fields)
    client = hub.join(
        (e.number for e in scope.extensions), view, request.headers.get("Last-Event-ID")
    )
    if request.match_info["extension"] == SELF:  # follows the directory across reloads
        client.rescope = _self_scope(svc, current_app(request), scope.user)
    started = time.monotonic()
    log.info(
        "live.stream.opened",
        user=scope.user_ref,
        clients=hub.stats.clients,
        resumed=request.headers.get("Last-Event-ID") is not None,
    )
    try:
        async with sse_response(
            request, ping_interval=hub.config.heartbeat, send_timeout=SEND_TIMEOUT
        ) as resp:
            client.abort = _aborter(request)
            await _pump(hub, client, resp, request)
            if client.closing:
                resp.force_close()  # an overflowed client does not keep its connection
    finally:
        # Also when aiohttp cancels the handler because the client went away.
        if not client.closing:
            client.abort = None  # else it is aborted soon if it cannot take `overflow`
        hub.leave(client)
        log.info(
            "live.stream.closed",
            user=scope.user_ref,
            events=client.sent,
            seconds=round(time.monotonic() - started, 1),
            reason="overflow" if client.closing else "ended",
        )
    return resp


def _self_scope(svc: Services, app: App, user: User | None) -> Callable[[], frozenset[str]]:
    def scope() -> frozenset[str]:
        return frozenset(e.number for e in svc.directory.scope_extensions(app, user, SELF))

    return scope


def _aborter(request: web.Request) -> Callable[[], None]:
    def abort() -> None:
        if request.transport is not None:
            request.transport.abort()

    return abort


async def _pump(hub: Hub, client: Client, resp: EventSourceResponse, request: web.Request) -> None:
    """Writes what the hub could not write at once (snapshots, a backlog) until the client
    closes, is closed, or stops reading."""
    alive = asyncio.ensure_future(resp.wait())  # ends when a heartbeat cannot be written
    alive.add_done_callback(lambda _: client.wake())
    writer = await resp.prepare(request)  # prepared already: this is its payload writer
    try:
        while True:
            await client.wait()
            if alive.done():
                return
            frames, done = _frames(hub, client, client.take())
            if frames:
                # No timer per write: a peer that stops reading fills its queue (overflow) or
                # trips TCP_USER_TIMEOUT, which aiohttp-sse sets to SEND_TIMEOUT.
                await resp.write(b"".join(frames))
                hub.stats.events_sent += len(frames)
                client.sent += len(frames)
                client.direct = client.direct or _direct(request)  # the headers are out
            if _congested(request) and writer is not None:
                await writer.drain()  # the hub's direct writes do not go through its counter
            if done:
                return
    except ConnectionResetError:
        return
    finally:
        alive.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await alive


def _direct(request: web.Request) -> Callable[[bytes], bool] | None:
    """Writes one chunk of the (chunked, HTTP/1.1) body straight to the transport."""
    if request.version < HttpVersion11:
        return None

    transport = request.transport  # the connection's, for its life (read once: issue 28)
    if transport is None:
        return None

    def write(data: bytes) -> bool:
        if transport.is_closing() or transport.get_write_buffer_size() > DIRECT_LIMIT:
            return False  # what _congested says, without looking the transport up again
        transport.write(b"%x\r\n%b\r\n" % (len(data), data))
        return True

    return write


def _congested(request: web.Request) -> bool:
    transport = request.transport
    return (
        transport is None
        or transport.is_closing()
        or transport.get_write_buffer_size() > DIRECT_LIMIT
    )


def _frames(
    hub: Hub, client: Client, items: list[bytes | Snapshot | None]
) -> tuple[list[bytes], bool]:
    """What to write for these queued items; True when the last one closes the stream.

    A snapshot is taken now, so every frame queued with it is older and is left out.
    """
    done = None in items
    snaps = [i for i in items if isinstance(i, Snapshot)]
    if snaps and not client.closing:
        return hub.snapshot(client, reset=any(s.reset for s in snaps)), done
    return [i for i in items if isinstance(i, bytes)], done


async def end_streams(app: web.Application) -> None:
    """on_shutdown: the open streams end now, so a stop does not wait the HTTP server's
    shutdown timeout (5 s) for them."""
    ended = app[HUB].end_all()
    if ended:
        log.info("live.streams.ended", clients=ended, reason="stopping")


def add_routes(app: web.Application, prefix: str) -> None:
    """Registers the stream; call before List's `.../{extension}/{phoneCallId}` route."""
    app.router.add_get(
        f"{prefix}/phoneCalls/{{userId}}/{{extension}}/stream", stream_calls, allow_head=False
    )  # an event stream has no HEAD
