"""Several bridges on one PostgreSQL: each store object here stands for one bridge (its own
connection pool and memory) on a schema the test owns."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bridge.auth import TokenStore
from bridge.config import Config
from bridge.directory import Directory
from bridge.store.hooks import (
    CHANGED_CHANNEL,
    DISABLED,
    ENABLED,
    Outbox,
    Registration,
    Registrations,
)
from bridge.store.idempotency import Answer, Answers
from bridge.store.placed import CallStore, PlacedCall
from bridge.store.postgres import PostgresDatabase
from tests.pg import schema_url

NOW = 1_800_000_000.0


@pytest.fixture
async def pair() -> AsyncIterator[tuple[PostgresDatabase, PostgresDatabase]]:
    """Two bridges' stores on one fresh schema."""
    async with schema_url() as url:
        a, b = PostgresDatabase(url, max_size=4), PostgresDatabase(url, max_size=4)
        await asyncio.gather(a.open(), b.open())  # both migrate at once: the lock serializes
        yield a, b
        await asyncio.gather(a.close(), b.close())


def rows(*keys: str) -> list[tuple[str, str, dict[str, str]]]:
    return [("reg1", key, {"CallID": key}) for key in keys]


async def test_two_bridges_queue_one_delivery_per_key(
    pair: tuple[PostgresDatabase, PostgresDatabase],
) -> None:
    """Both bridges saw the same events: the dedup key lets one row in per key."""
    a, b = Outbox(pair[0]), Outbox(pair[1])
    added = await asyncio.gather(a.add(rows("k1", "k2"), NOW), b.add(rows("k2", "k1", "k3"), NOW))
    assert sum(added) == 3
    assert (await pair[0].fetchall("SELECT COUNT(*) FROM outbox"))[0][0] == 3


async def test_claims_are_disjoint_and_an_expired_lease_moves_on(
    pair: tuple[PostgresDatabase, PostgresDatabase],
) -> None:
    """Racing claims never share a row; a dead bridge's rows go to another once the lease
    ran out, not before; release() at start frees only expired leases."""
    a, b = Outbox(pair[0], "A", lease=30), Outbox(pair[1], "B", lease=30)
    await a.add(rows(*(f"k{i}" for i in range(40))), NOW)
    got_a, got_b = await asyncio.gather(a.take(NOW, 25), b.take(NOW + 10, 25))  # B: till +40
    ids_a, ids_b = {d.id for d in got_a}, {d.id for d in got_b}
    assert not ids_a & ids_b
    assert len(ids_a | ids_b) == 40
    assert await b.take(NOW + 29, 100) == []  # A's leases still run
    assert await b.release(NOW + 29) == 0
    assert await b.release(NOW + 31) == len(ids_a)  # A died: at B's start they are free
    again = await b.take(NOW + 31, 100)
    assert {d.id for d in again} == ids_a


async def test_an_expired_lease_is_claimed_by_a_running_bridge(
    pair: tuple[PostgresDatabase, PostgresDatabase],
) -> None:
    """No restart needed: take() claims rows whose lease ran out; next_due says when."""
    a, b = Outbox(pair[0], "A", lease=5), Outbox(pair[1], "B", lease=5)
    await a.add(rows("k1"), NOW)
    [taken] = await a.take(NOW, 10)
    assert await b.next_due() == pytest.approx(NOW + 5)
    assert await b.take(NOW + 4, 10) == []
    [moved] = await b.take(NOW + 6, 10)
    assert moved.id == taken.id


async def test_a_clean_stop_releases_only_its_own_rows(
    pair: tuple[PostgresDatabase, PostgresDatabase],
) -> None:
    """release_mine() frees what this bridge held, not another's rows."""
    a, b = Outbox(pair[0], "A"), Outbox(pair[1], "B")
    await a.add(rows("k1", "k2"), NOW)
    await a.take(NOW, 1)
    await b.take(NOW, 1)
    assert await a.release_mine() == 1
    assert len(await b.take(NOW, 10)) == 1  # A's row, at once


def call(cid: str) -> PlacedCall:
    return PlacedCall(cid, "0003*210", "12", "crm", "n-1", "2027-01-15T08:00:00Z", NOW, {})


async def test_a_nonce_raced_on_two_bridges_names_one_call(
    pair: tuple[PostgresDatabase, PostgresDatabase],
) -> None:
    """Both claims answer with the same call; after it ended the nonce places a new one."""
    a, b = CallStore(pair[0]), CallStore(pair[1])
    live: set[str] = set()
    won = await asyncio.gather(
        a.claim(call("a" * 20), live.__contains__, NOW),
        b.claim(call("b" * 20), live.__contains__, NOW),
    )
    assert won[0].id == won[1].id
    live.add(won[0].id)
    later = await b.claim(call("c" * 20), live.__contains__, NOW + 100)
    assert later.id == won[0].id  # still live
    live.clear()
    fresh = await a.claim(call("d" * 20), live.__contains__, NOW + 200)
    assert fresh.id == "d" * 20


async def test_a_token_issued_on_one_bridge_works_on_another(
    pair: tuple[PostgresDatabase, PostgresDatabase], config: Config
) -> None:
    """B does not hold A's token in memory, finds it in the database, then holds it."""
    directory = Directory(config)
    app = next(a for a in directory.apps.values() if a.client_secret)
    a, b = TokenStore(directory, pair[0], 3600), TokenStore(directory, pair[1], 3600)
    issued = await a.issue(app)
    assert b.app_for(issued.access_token) is None
    assert await b.find_app(issued.access_token) is app
    assert b.app_for(issued.access_token) is app
    assert await b.find_app("not-a-token") is None


def reg(status: int = ENABLED, modified: str = "2027-01-15T08:00:00Z") -> Registration:
    return Registration(
        "r1",
        "crm",
        "0003*210",
        0,
        1,
        "https://a.example/h",
        "",
        status,
        modified,
        "whsec_" + "A" * 32,
    )


async def test_a_registration_made_on_one_bridge_fires_from_another_within_a_second(
    pair: tuple[PostgresDatabase, PostgresDatabase],
) -> None:
    """B listens: A's create, disable and delete reach B's index within 1 s each."""
    a, b = Registrations(pair[0]), Registrations(pair[1])
    ready = asyncio.Event()

    async def resync() -> None:
        await b.load()
        ready.set()

    listener = asyncio.create_task(pair[1].listen({CHANGED_CHANNEL: b.refresh}, resync))
    try:
        await asyncio.wait_for(ready.wait(), 5)
        await a.add(reg(), 10)
        await until(lambda: [r.id for r in b.enabled("0003*210", 0)] == ["r1"])
        await a.save(reg(DISABLED, "2027-01-15T09:00:00Z"))
        await until(lambda: b.enabled("0003*210", 0) == [] and "r1" in b.by_id)
        await a.delete(["r1"])
        await until(lambda: "r1" not in b.by_id)
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)


async def until(check: object, within: float = 1.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not check():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "not within 1 s"
        await asyncio.sleep(0.02)


async def test_an_idempotency_key_sent_to_two_bridges_runs_once(
    pair: tuple[PostgresDatabase, PostgresDatabase],
) -> None:
    """A claims the key; B cannot, and gets A's answer once it is saved; a dropped claim
    (A's request failed) is B's to take."""
    a, b = Answers(pair[0]), Answers(pair[1])
    assert await a.claim("crm", "k", "fp", NOW)
    assert not await b.claim("crm", "k", "fp", NOW)
    assert await b.find("crm", "k", NOW) is None  # being answered: nothing to replay yet
    waiting = asyncio.create_task(b.wait("crm", "k", NOW))
    await asyncio.sleep(0.1)
    await a.save("crm", "k", Answer("fp", 202, "application/json", b"[1]"), NOW)
    assert await waiting == Answer("fp", 202, "application/json", b"[1]")
    assert await a.claim("crm", "k2", "fp", NOW)
    await a.drop("crm", "k2")
    assert await b.wait("crm", "k2", NOW) is None
    assert await b.claim("crm", "k2", "fp", NOW)
    assert await a.claim("crm", "k2", "fp", NOW + 61)  # B's claim abandoned after 60 s
