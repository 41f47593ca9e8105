"""The dispatcher's bounds and failure paths against real loopback receivers: capped
response reads, idle receiver pools reclaimed, per-registration signatures, and a URL or a
bug that fails at send time ending as a failed attempt (never a row left `sending`), and a
connection reset halfway through an answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from bridge.store.db import Database
from bridge.store.hooks import Outbox, Registration, Registrations
from bridge.webhooks import signing
from bridge.webhooks.dispatcher import CACHED_URLS, Dispatcher, _receiver, _url_problem
from tests.polling import until
from tests.webhooks.test_dispatcher import CONFIG, Receiver, dispatcher, fire


async def serve(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> tuple[TestServer, str]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server, f"http://127.0.0.1:{server.port}/hook"


class Endless:
    """Answers 200 with a body that never ends (1 KiB chunks); counts what it wrote."""

    def __init__(self) -> None:
        self.written = 0
        self.requests = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        resp = web.StreamResponse(status=200)
        await resp.prepare(request)
        try:
            while True:
                await resp.write(b"x" * 1024)
                self.written += 1024
                await asyncio.sleep(0)
        except (ConnectionResetError, ConnectionError):
            return resp


@pytest.fixture
async def endless() -> AsyncIterator[tuple[Endless, str]]:
    rec = Endless()
    server, url = await serve(rec.handle)
    yield rec, url
    await server.close()


async def outbox_states(db: Database) -> list[str]:
    return [r[0] for r in await db.fetchall("SELECT state FROM outbox")]


async def test_a_response_is_read_up_to_max_response_bytes_then_dropped(
    db: Database,
    endless: tuple[Endless, str],
) -> None:
    """A receiver that answers 200 with an endless body: the attempt is delivered at once
    (not cut by the 2 s timeout and retried), and the connection is closed."""
    rec, url = endless
    config = replace(CONFIG, max_response_bytes=4096)
    hooks, _ = await dispatcher(db, url, types=(2,), config=config)
    try:
        fire(hooks)
        loop = asyncio.get_running_loop()
        started = loop.time()
        [attempt] = await poll_attempts(db, "reg21")
        assert loop.time() - started < 1.5
    finally:
        await hooks.stop()
    assert (attempt["outcome"], attempt["status"]) == ("delivered", 200)
    assert rec.requests == 1
    written = rec.written
    await asyncio.sleep(0.2)
    assert rec.written == written  # the connection is gone: the receiver cannot write on


async def poll_attempts(db: Database, event_id: str, count: int = 1) -> list[dict[str, object]]:
    outbox = Outbox(db)
    found: list[dict[str, object]] = []

    async def enough() -> bool:
        nonlocal found
        found = await outbox.attempts(event_id)
        return len(found) >= count

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while not await enough():
        assert loop.time() < deadline, "no attempt recorded"
        await asyncio.sleep(0.02)
    return found


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    rec = Receiver()
    server, url = await serve(rec.handle)
    yield rec, url
    await server.close()


async def test_idle_receiver_pools_are_reclaimed_and_come_back(
    db: Database,
    receiver: tuple[Receiver, str],
) -> None:
    """After `idle` seconds without work a receiver's queue and workers are gone; the next
    delivery to it starts a new pool."""
    rec, url = receiver
    hooks, _ = await dispatcher(db, url, types=(2,))
    hooks.idle = 0.1
    try:
        fire(hooks)
        await until(lambda: len(rec.seen) == 1)
        assert len(hooks._pools) == 1
        await until(lambda: not hooks._pools)
        fire(hooks, "hangup_by_source")
        await until(lambda: len(rec.seen) == 2)
        assert len(hooks._pools) == 1
        await until(lambda: not hooks._pools)
    finally:
        await hooks.stop()


async def test_each_delivery_is_signed_with_its_registrations_secret(
    db: Database,
    receiver: tuple[Receiver, str],
) -> None:
    """Two registrations with their own secrets: each delivery verifies with the reference
    library and its own secret only."""
    rec, url = receiver
    regs = Registrations(db)
    secrets = {"one": signing.new_secret(), "two": signing.new_secret()}
    for rid, secret in secrets.items():
        await regs.save(
            Registration(
                rid, "crm", "0003*210", 2, 1, f"{url}/{rid}", "", 0, "2027-01-15T08:00:00Z", secret
            )
        )
    hooks = Dispatcher(CONFIG, regs, Outbox(db))
    await hooks.start()
    try:
        fire(hooks)
        await until(lambda: len(rec.seen) == 2)
    finally:
        await hooks.stop()
    by_path: dict[str, set[str]] = {}
    for req in rec.seen:
        verified = by_path.setdefault(req["path"], set())
        for rid, secret in secrets.items():
            try:
                Webhook(secret).verify(req["body"], req["headers"], json_parse=False)
                verified.add(rid)
            except WebhookVerificationError:
                pass
    assert by_path == {"/hook/one": {"one"}, "/hook/two": {"two"}}


async def test_a_url_refused_at_send_time_is_a_failed_attempt(
    db: Database,
    receiver: tuple[Receiver, str],
) -> None:
    """A stored URL that the guard now refuses (a numeric host from an older bridge) is
    recorded as a failed attempt; its row ends `failed`, not `sending`."""
    rec, _ = receiver
    regs = Registrations(db)
    await regs.save(
        Registration(
            "r", "crm", "0003*210", 2, 1, "http://2130706433/hook", "", 0, "x", signing.new_secret()
        )
    )
    hooks = Dispatcher(CONFIG, regs, Outbox(db))
    await hooks.start()
    try:
        fire(hooks)
        [attempt] = await poll_attempts(db, "r")
    finally:
        await hooks.stop()
    assert attempt["outcome"] == "failed"
    assert str(attempt["error"]).startswith("refused: host '2130706433' is a numeric")
    assert await outbox_states(db) == ["failed"]
    assert rec.seen == []


async def test_a_crash_in_an_attempt_is_a_failed_attempt(
    db: Database,
    receiver: tuple[Receiver, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An unexpected exception while sending is logged and recorded as failed; the worker
    goes on with the next delivery."""
    rec, url = receiver
    hooks, _ = await dispatcher(db, url, types=(2,))
    original = Dispatcher._send
    crashes = {"n": 0}

    async def faulty(self: Dispatcher, *args: object) -> object:
        if crashes["n"] == 0:
            crashes["n"] += 1
            raise RuntimeError("injected")
        return await original(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(Dispatcher, "_send", faulty)
    try:
        fire(hooks)
        [attempt] = await poll_attempts(db, "reg21")
        fire(hooks, "hangup_by_source")
        await until(lambda: len(rec.seen) == 1)
    finally:
        await hooks.stop()
    assert (attempt["outcome"], attempt["error"]) == ("failed", "crashed: RuntimeError")
    assert sorted(await outbox_states(db)) == ["delivered", "failed"]


def test_the_url_caches_are_bounded() -> None:
    """More distinct URLs than CACHED_URLS leave at most CACHED_URLS entries in each cache."""
    for i in range(CACHED_URLS + 50):
        url = f"https://h{i}.example.com/hook"
        assert _receiver(url) == f"h{i}.example.com:443"
        assert _url_problem(url, ()) is None
    assert _receiver.cache_info().currsize <= CACHED_URLS
    assert _url_problem.cache_info().currsize <= CACHED_URLS


async def test_a_connection_reset_mid_response_is_retried(db: Database) -> None:
    """The receiver resets the connection halfway through its 200: a failed attempt, retried;
    the next attempt is delivered (a real socket, not a mocked client session)."""
    requests: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(
            next(
                (
                    line.split(b":")[1]
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ),
                b"0",
            )
        )
        await reader.readexactly(length)
        requests.append(head)
        if len(requests) == 1:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhalf an answ")
            await writer.drain()
            writer.transport.abort()
            return
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    hooks, _ = await dispatcher(db, f"http://127.0.0.1:{port}/hook", types=(2,))
    try:
        fire(hooks)
        attempts: list[dict[str, object]] = []

        async def delivered() -> bool:
            attempts[:] = await Outbox(db).attempts("reg21")
            return any(a["outcome"] == "delivered" for a in attempts)

        await until(delivered, within=5)
    finally:
        await hooks.stop()
        server.close()
        await server.wait_closed()
    assert len(requests) == 2
    assert [a["outcome"] for a in reversed(attempts)] == ["retry", "delivered"]
