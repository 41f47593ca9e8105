"""The dispatcher against a real aiohttp receiver on loopback: delivery, retries, 410, no
redirects, signatures, and the outbox surviving a restart."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from standardwebhooks import Webhook

from bridge.store.db import Database, StoreError
from bridge.store.hooks import DISABLED, Outbox, Registration, Registrations
from bridge.webhooks import signing
from bridge.webhooks.dispatcher import Dispatcher
from bridge.webhooks.settings import WebhooksConfig
from tests.domain.replay import load, run
from tests.polling import until

SECRET = signing.new_secret()
CONFIG = WebhooksConfig(
    allow_networks=(ipaddress.ip_network("127.0.0.0/8"),),
    timeout=2.0,
    backoff_min=0.05,
    backoff_max=0.2,
    max_attempts=5,
    shutdown_grace=1.0,
)


class Receiver:
    """Answers with the next queued status (200 when none are left) and keeps every request."""

    def __init__(self) -> None:
        self.answers: list[int] = []
        self.seen: list[dict[str, Any]] = []

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.text()
        self.seen.append(
            {
                "method": request.method,
                "path": request.path,
                "query": request.query_string,
                "raw_query": request.rel_url.raw_query_string,
                "body": body,
                "headers": dict(request.headers),
            }
        )
        status = self.answers.pop(0) if self.answers else 200
        if status in (301, 302):
            return web.Response(status=status, headers={"Location": "/elsewhere"})
        return web.Response(status=status)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    rec = Receiver()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", rec.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield rec, f"http://127.0.0.1:{server.port}/hook"
    await server.close()


async def dispatcher(
    db: Database,
    url: str,
    method: int = 1,
    types: range | tuple[int, ...] = (range(5)),
    config: WebhooksConfig = CONFIG,
) -> tuple[Dispatcher, Registrations]:
    """A started dispatcher with 210's registrations of `types` pointing at `url`."""
    regs = Registrations(db)
    await regs.load()
    for type_ in types:
        await regs.save(
            Registration(
                f"reg{type_}{method}",
                "crm",
                "0003*210",
                type_,
                method,
                url,
                "",
                0,
                "2027-01-15T08:00:00Z",
                SECRET,
            )
        )
    hooks = Dispatcher(config, regs, Outbox(db))
    await hooks.start()
    return hooks, regs


def fire(hooks: Dispatcher, name: str = "two_party") -> None:
    _, effects = run(load(name))
    hooks.sink(effects)


async def test_a_call_delivers_dialout_answerout_hangup_signed(
    db: Database,
    receiver: tuple[Receiver, str],
) -> None:
    """POST registrations get form bodies with the parameters, a verifiable signature."""
    rec, url = receiver
    hooks, _ = await dispatcher(db, url)
    fire(hooks)
    await until(lambda: len(rec.seen) == 3)
    await hooks.stop()
    bodies = [dict(parse_qsl(r["body"])) for r in rec.seen]
    assert sorted(b["CallStatus"] for b in bodies) == ["ANSWER", "ANSWER", "CALLING"]
    for req in rec.seen:
        h = req["headers"]
        assert req["method"] == "POST"
        Webhook(SECRET).verify(req["body"], h, json_parse=False)  # raises if it does not
    assert len({r["headers"]["webhook-id"] for r in rec.seen}) == 3


async def test_get_registrations_use_the_query_string(
    db: Database, receiver: tuple[Receiver, str]
) -> None:
    """A GET registration gets the parameters in the query, an empty body; the signed
    payload is the raw query string, as received."""
    rec, url = receiver
    hooks, _ = await dispatcher(db, url, method=0)
    fire(hooks)
    await until(lambda: len(rec.seen) == 3)
    await hooks.stop()
    assert all(r["method"] == "GET" and "CallID=" in r["query"] and not r["body"] for r in rec.seen)
    for req in rec.seen:
        Webhook(SECRET).verify(req["raw_query"], req["headers"], json_parse=False)


async def test_the_same_effects_twice_deliver_once(
    db: Database, receiver: tuple[Receiver, str]
) -> None:
    """Effects repeated (a resync, a restart) are deduplicated by call, extension and type."""
    rec, url = receiver
    hooks, _ = await dispatcher(db, url)
    fire(hooks)
    fire(hooks)
    await until(lambda: len(rec.seen) >= 3)
    await asyncio.sleep(0.3)
    await hooks.stop()
    assert len(rec.seen) == 3


async def test_retries_5xx_and_429_then_delivers(
    db: Database, receiver: tuple[Receiver, str]
) -> None:
    """503, 429, then 200: three attempts of the same delivery id, logged."""
    rec, url = receiver
    rec.answers = [503, 429]
    hooks, _ = await dispatcher(db, url, types=(2,))  # Hangup only: one delivery
    fire(hooks)
    await until(lambda: len(rec.seen) == 3)
    await asyncio.sleep(0.3)
    await hooks.stop()
    assert len({r["headers"]["webhook-id"] for r in rec.seen}) == 1
    attempts = await Outbox(db).attempts("reg21")
    assert [(a["status"], a["outcome"]) for a in reversed(attempts)] == [
        (503, "retry"),
        (429, "retry"),
        (200, "delivered"),
    ]


async def test_410_disables_and_404_is_not_retried(
    db: Database, receiver: tuple[Receiver, str]
) -> None:
    """410 Gone disables the registration; 404 fails the delivery without a retry."""
    rec, url = receiver
    rec.answers = [410]
    hooks, regs = await dispatcher(db, url, types=(2,))
    fire(hooks)
    await until(lambda: len(rec.seen) == 1)
    await asyncio.sleep(0.3)
    await hooks.stop()
    assert regs.by_id["reg21"].status == DISABLED
    rec.answers = [404]
    hooks, _ = await dispatcher(db, url, types=(2,))
    fire(hooks, "hangup_by_source")
    await until(lambda: len(rec.seen) == 2)
    await asyncio.sleep(0.3)
    await hooks.stop()
    assert len(rec.seen) == 2
    assert (await Outbox(db).attempts("reg21"))[0]["outcome"] == "failed"


async def test_redirects_are_not_followed(db: Database, receiver: tuple[Receiver, str]) -> None:
    """A 302 ends the attempt as failed; the Location is never requested."""
    rec, url = receiver
    rec.answers = [302, 302, 302]
    hooks, _ = await dispatcher(db, url)
    fire(hooks)
    await until(lambda: len(rec.seen) == 3)
    await asyncio.sleep(0.2)
    await hooks.stop()
    assert all(not r["query"] and r["body"] for r in rec.seen)
    assert len(rec.seen) == 3


async def test_receiver_down_then_up_gets_the_delivery_once(db: Database) -> None:
    """Nothing listens when the call happens; the receiver comes up a second later on that
    port: each delivery arrives once."""
    port = free_port()
    rec = Receiver()
    patient = WebhooksConfig(
        allow_networks=CONFIG.allow_networks, backoff_min=0.1, backoff_max=0.3, max_attempts=50
    )
    hooks, _ = await dispatcher(db, f"http://127.0.0.1:{port}/hook", config=patient)
    fire(hooks)
    await asyncio.sleep(1.0)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", rec.handle)
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    try:
        await until(lambda: len(rec.seen) == 3, within=5)
        await asyncio.sleep(0.5)
    finally:
        await hooks.stop()
        await server.close()
    assert len(rec.seen) == 3
    attempts = await Outbox(db).attempts("reg21")
    assert len(attempts) > 1
    assert attempts[0]["outcome"] == "delivered"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_pending_deliveries_survive_a_restart(
    db: Database, receiver: tuple[Receiver, str]
) -> None:
    """Stopped before it could send (receiver failing), a new dispatcher delivers the rest."""
    rec, url = receiver
    rec.answers = [500] * 3
    hooks, _ = await dispatcher(db, url)
    fire(hooks)
    await until(lambda: len(rec.seen) == 3)
    await hooks.stop()
    again, _ = await dispatcher(db, url)
    await until(lambda: len(rec.seen) == 6, within=5)
    await asyncio.sleep(0.3)
    await again.stop()
    assert len(rec.seen) == 6
    assert len({r["headers"]["webhook-id"] for r in rec.seen}) == 3  # the same deliveries


async def test_blocked_address_is_never_requested(
    db: Database, receiver: tuple[Receiver, str]
) -> None:
    """Without the allow-list, a loopback receiver is refused at send time, not retried."""
    rec, url = receiver
    regs = Registrations(db)
    await regs.save(Registration("r", "crm", "0003*210", 2, 1, url, "", 0, "x", SECRET))
    strict = WebhooksConfig(timeout=1.0, backoff_min=0.05)
    hooks = Dispatcher(strict, regs, Outbox(db))
    await hooks.start()
    fire(hooks)
    await asyncio.sleep(0.5)
    await hooks.stop()
    assert rec.seen == []
    [attempt] = await Outbox(db).attempts("r")
    assert attempt["outcome"] == "failed"
    assert attempt["error"].startswith("refused:")


class SlowReceiver(Receiver):
    """Takes `delay` seconds per request and records how many were in progress at once."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self.now = 0
        self.most = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.now += 1
        self.most = max(self.most, self.now)
        try:
            await asyncio.sleep(self.delay)
            return await super().handle(request)
        finally:
            self.now -= 1


async def slow_server(rec: SlowReceiver) -> tuple[TestServer, str]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", rec.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server, f"http://127.0.0.1:{server.port}/hook"


async def test_at_most_per_receiver_requests_at_once(db: Database) -> None:
    """Six deliveries to one receiver with per_receiver=2: never more than two in progress."""
    rec = SlowReceiver(0.2)
    server, url = await slow_server(rec)
    config = WebhooksConfig(allow_networks=CONFIG.allow_networks, per_receiver=2)
    hooks, _ = await dispatcher(db, url, types=(2,), config=config)
    try:
        for name in (
            "two_party",
            "hangup_by_source",
            "call_duration",
            "phone_to_phone",
            "destination_busy",
            "parallel_sources",
        ):
            fire(hooks, name)
        await until(lambda: len(rec.seen) == 5, within=5)  # parallel_sources: 210 not in it
    finally:
        await hooks.stop()
        await server.close()
    assert rec.most == 2


async def test_sigterm_lets_attempts_finish_and_keeps_the_rest(db: Database) -> None:
    """stop(): an attempt that finishes within shutdown_grace is delivered; one that does not
    is cancelled and sent again by the next dispatcher."""
    rec = SlowReceiver(0.3)
    server, url = await slow_server(rec)
    quick = WebhooksConfig(allow_networks=CONFIG.allow_networks, shutdown_grace=1.0)
    hooks, _ = await dispatcher(db, url, types=(2,), config=quick)
    fire(hooks)
    await until(lambda: rec.now == 1)
    await hooks.stop()  # the 0.3 s request finishes inside the 1 s grace
    assert len(rec.seen) == 1
    rec.delay = 3.0
    short = WebhooksConfig(allow_networks=CONFIG.allow_networks, shutdown_grace=0.2)
    hooks, _ = await dispatcher(db, url, types=(2,), config=short)
    fire(hooks, "hangup_by_source")
    await until(lambda: rec.now == 1)
    await hooks.stop()  # 3 s > 0.2 s: cancelled, the row stays for the next start
    rec.delay = 0.0
    again, _ = await dispatcher(db, url, types=(2,), config=quick)
    try:
        await until(lambda: len(rec.seen) == 2, within=5)
    finally:
        await again.stop()
        await server.close()
    assert load("hangup_by_source").call_id in rec.seen[1]["body"]  # the one cut short


async def test_a_failed_outbox_write_is_retried(
    db: Database, receiver: tuple[Receiver, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database refuses the first write: the events stay in memory and go out after."""
    rec, url = receiver
    original = Outbox.add
    calls = {"n": 0}

    async def flaky(self: Outbox, rows: Any, now: float) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            raise StoreError("disk full")
        return await original(self, rows, now)

    monkeypatch.setattr(Outbox, "add", flaky)
    hooks, _ = await dispatcher(db, url, types=(2,))
    fire(hooks)
    try:
        await until(lambda: len(rec.seen) == 1, within=5)
    finally:
        await hooks.stop()
    assert calls["n"] >= 2


async def test_a_batch_being_recorded_at_stop_is_not_lost(
    db: Database,
    receiver: tuple[Receiver, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """stop() while the result recorder is writing a batch: the batch still lands (the rows
    are delivered, not pending again, so a restart does not send them twice)."""
    rec, url = receiver
    hooks, _ = await dispatcher(db, url, types=(1,))
    writing = asyncio.Event()
    record = hooks.outbox.record

    async def slow(results: list[Any]) -> None:
        writing.set()
        await asyncio.sleep(0.3)
        await record(results)

    monkeypatch.setattr(hooks.outbox, "record", slow)
    fire(hooks)
    await until(lambda: len(rec.seen) == 1)
    await asyncio.wait_for(writing.wait(), 5)
    await hooks.stop()
    states = [r[0] for r in await db.fetchall("SELECT state FROM outbox")]
    assert states == ["delivered"]
