"""Two bridges on one PostgreSQL in front of the sandbox Asterisk: a webhook fires once, a
killed bridge's deliveries go out from the other, a nonce raced on both places one call,
tokens and registrations made on one work on the other, and a PostgreSQL restart loses
nothing. Needs scripts/postgres-sandbox (skips without it unless UAPI_PG_REQUIRED=1)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from aiohttp import web

from bridge.ami.client import AmiClient
from tests.conftest import ROOT
from tests.pg import schema_url
from tests.polling import wait_for
from tests.system.daemon import RunningBridge, free_port
from tests.system.test_list_calls import poll_views
from tests.system.test_make_call import hang_up, legs, make_call, view
from tests.system.test_webhooks import Receiver, register, soon

pytestmark = pytest.mark.system
LEASE = 3.0


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    async with schema_url() as url:
        yield url


def start(tmp: Path, sandbox: Any, url: str, name: str) -> RunningBridge:
    (tmp / name).mkdir()
    return RunningBridge(
        tmp / name,
        sandbox,
        {
            "storage": {"url": url, "lease": LEASE},
            "webhooks": {
                "allow_networks": ["127.0.0.0/8"],
                "backoff_min": 1,
                "backoff_max": 2,
                "timeout": 2,
            },
        },
    )


@pytest.fixture
def two(tmp_path: Path, sandbox: Any, pg_url: str) -> Iterator[tuple[RunningBridge, RunningBridge]]:
    """Bridges A and B, both healthy, on one PostgreSQL schema."""
    a = start(tmp_path, sandbox, pg_url, "a")
    b = start(tmp_path, sandbox, pg_url, "b")
    try:
        for bridge in (a, b):
            wait_for(lambda bridge=bridge: bridge.health()[0] == 200, 30)  # type: ignore[misc]
        yield a, b
    finally:
        for bridge in (a, b):
            if bridge.proc.poll() is None:
                bridge.stop()


async def a_call(bridge: RunningBridge, ami: AmiClient, **params: str) -> str:
    """210 calls 024 through `bridge`, answered, then hung up: returns its id."""
    _, body = await asyncio.to_thread(make_call, bridge, view(["210"], "024"), **params)
    call_id = str(body[0]["id"])
    try:
        await poll_views(bridge, f"@me/210/{call_id}", {"0003*210": "5"})
    finally:
        await hang_up(ami, call_id)
    return call_id


async def test_a_call_fires_each_webhook_once_and_a_registration_on_b_fires_from_a(
    two: tuple[RunningBridge, RunningBridge], ami: AmiClient
) -> None:
    """Registrations made on B; both bridges see the call: one delivery each. Then B stops:
    a second call still fires, from A."""
    a, b = two
    rec = Receiver(free_port())
    await rec.start()
    try:
        base = f"http://127.0.0.1:{rec.port}"
        for kind in ("DialOut", "AnswerOut", "Hangup"):
            await register(b, "@me/210", kind, f"{base}/{kind}")
        first = await a_call(a, ami)
        await soon(lambda: len(rec.got) >= 3)
        await asyncio.sleep(2)  # a duplicate would have arrived by now
        assert sorted(g["path"] for g in rec.got) == ["/AnswerOut", "/DialOut", "/Hangup"]
        assert {g["params"]["CallID"] for g in rec.got} == {first}
        await asyncio.to_thread(b.stop)
        second = await a_call(a, ami)
        await soon(lambda: len(rec.got) >= 6)
        assert {g["params"]["CallID"] for g in rec.got[3:]} == {second}
    finally:
        await rec.stop()


class Stalling(Receiver):
    """Answers nothing to the first request (its sender is killed meanwhile), then 200."""

    def __init__(self, port: int) -> None:
        super().__init__(port)
        self.stalled = 0
        self.released = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        if not self.stalled:
            self.stalled += 1
            # aiohttp does not cancel a handler whose client went away: the stalled request
            # waits for stop() (it slept 60 s, and stop() waited for it: a minute of CI).
            await self.released.wait()
        return await super().handle(request)

    async def stop(self) -> None:
        self.released.set()
        await super().stop()


def owner_pid(url: str) -> int | None:
    """The pid of the bridge holding a lease on a row being sent (owner: host:pid:rand)."""
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT owner FROM outbox WHERE state = 'sending'").fetchone()
    return int(row[0].split(":")[1]) if row else None


async def test_sigkill_with_a_delivery_in_flight_the_other_bridge_delivers_it_once(
    two: tuple[RunningBridge, RunningBridge], ami: AmiClient, pg_url: str
) -> None:
    """The bridge sending the Hangup is SIGKILLed mid-request; once its lease ran out the
    other sends it: the receiver gets it exactly once."""
    a, b = two
    rec = Stalling(free_port())
    await rec.start()
    try:
        await register(a, "@me/210", "Hangup", f"http://127.0.0.1:{rec.port}/hangup")
        call_id = await a_call(a, ami)
        pid = await asyncio.to_thread(wait_for, lambda: owner_pid(pg_url), 10)
        victim, survivor = (a, b) if a.proc.pid == pid else (b, a)
        assert victim.proc.pid == pid
        victim.proc.kill()
        victim.proc.wait(5)
        await soon(lambda: len(rec.got) == 1, within=LEASE + 10)
        await asyncio.sleep(LEASE + 1)
        assert [g["params"]["CallID"] for g in rec.got] == [call_id]
        assert survivor.health()[0] == 200
    finally:
        await rec.stop()


async def test_a_nonce_raced_on_both_bridges_places_one_call(
    two: tuple[RunningBridge, RunningBridge], ami: AmiClient
) -> None:
    """The same nonce sent to A and B at once: both answer with one id; Asterisk has one."""
    a, b = two
    body = dict(view(["210"], "5551234"), nonce="race-1")
    answers = await asyncio.gather(
        asyncio.to_thread(make_call, a, body), asyncio.to_thread(make_call, b, body)
    )
    ids = {answer[1][0]["id"] for answer in answers}
    assert len(ids) == 1
    [call_id] = ids
    try:
        await asyncio.sleep(2)
        chans = await ami.send_list({"Action": "CoreShowChannels"})
        ours = {c["Linkedid"] for c in chans if c["Channel"].startswith("PJSIP/210-")}
        assert ours == {call_id}
        assert await legs(ami, call_id)
    finally:
        await hang_up(ami, call_id)


def issue(bridge: RunningBridge) -> str:
    form = urllib.parse.urlencode(
        {
            "client_id": "crm-demo",
            "grant_type": "client_credentials",
            "client_secret": "crm-demo-secret-0123456789",
        }
    ).encode()
    req = urllib.request.Request(f"{bridge.url}/oauth/token.php", data=form, method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return str(json.loads(resp.read())["access_token"])


async def test_a_token_issued_on_a_works_on_b(two: tuple[RunningBridge, RunningBridge]) -> None:
    """B never saw A's token in memory: it finds it in PostgreSQL."""
    a, b = two
    token = await asyncio.to_thread(issue, a)
    code, _ = await asyncio.to_thread(b.request, "GET", "/uapi/phoneCalls/@me/@self", None, token)
    assert code in (200, 204)  # no call up: 204 (an unknown token is 401)
    code, _ = await asyncio.to_thread(
        b.request, "GET", "/uapi/phoneCalls/@me/@self", None, token + "x"
    )
    assert code == 401


def postgres(action: str) -> None:
    if os.environ.get("UAPI_TEST_PG_URL"):
        pytest.skip("PostgreSQL restart needs the sandbox PostgreSQL")
    subprocess.run(
        [str(ROOT / "scripts" / "postgres-sandbox"), action],
        check=True,
        timeout=120,
        capture_output=True,
    )


async def test_postgresql_restarted_mid_run_both_recover_nothing_lost(
    two: tuple[RunningBridge, RunningBridge], ami: AmiClient
) -> None:
    """PostgreSQL goes down with a Hangup waiting for a receiver that is down: both bridges
    answer 503 (healthz and API) meanwhile, 200 after; the Hangup arrives once."""
    a, b = two
    rec = Receiver(free_port())
    await register(a, "@me/210", "Hangup", f"http://127.0.0.1:{rec.port}/late")
    call_id = await a_call(b, ami)
    await asyncio.sleep(1)  # queued, first attempt failed (nobody listens)
    await asyncio.to_thread(postgres, "down")
    try:
        for bridge in (a, b):
            assert bridge.health()[1]["store"] == "unavailable"
        code, answer = await asyncio.to_thread(
            a.request, "GET", "/uapi/phoneCalls/@me/@self", None, "not-a-known-token"
        )
        assert (code, answer["error"]["code"]) == (503, "store_unavailable")
    finally:
        await asyncio.to_thread(postgres, "up")
    for bridge in (a, b):
        await asyncio.to_thread(wait_for, lambda bridge=bridge: bridge.health()[0] == 200, 30)
    await rec.start()
    try:
        await soon(lambda: len(rec.got) == 1, within=20)
        await asyncio.sleep(3)
        assert [g["params"]["CallID"] for g in rec.got] == [call_id]
    finally:
        await rec.stop()


def keyed_call(bridge: RunningBridge, body: dict[str, Any], key: str) -> tuple[int, Any]:
    req = urllib.request.Request(
        f"{bridge.url}/uapi/phoneCalls/@me/simple",
        data=json.dumps(body).encode(),
        headers={
            "Authorization": "Bearer demo-crm-token-0123456789",
            "Idempotency-Key": key,
            "Content-Type": "application/json",
        },
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=20) as resp:
        return resp.status, json.loads(resp.read())


async def test_an_idempotency_key_raced_on_both_bridges_places_one_call(
    two: tuple[RunningBridge, RunningBridge], ami: AmiClient
) -> None:
    """The same Idempotency-Key (no nonce) sent to A and B at once: one call, one answer."""
    a, b = two
    body = view(["210"], "5551234")
    answers = await asyncio.gather(
        asyncio.to_thread(keyed_call, a, body, "race-key-1"),
        asyncio.to_thread(keyed_call, b, body, "race-key-1"),
    )
    assert answers[0] == answers[1]
    call_id = answers[0][1][0]["id"]
    try:
        await asyncio.sleep(2)
        chans = await ami.send_list({"Action": "CoreShowChannels"})
        assert {c["Linkedid"] for c in chans if c["Channel"].startswith("PJSIP/210-")} == {call_id}
    finally:
        await hang_up(ami, call_id)
