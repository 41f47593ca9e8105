"""Retention: old finished deliveries, attempt logs, expired nonces and old placed calls are
purged; what is pending, recent or still live stays."""

from __future__ import annotations

import asyncio

from structlog.testing import capture_logs

from bridge.store.db import Database
from bridge.store.hooks import Outbox
from bridge.store.placed import NONCE_WINDOW, CallStore
from bridge.store.retention import Retention
from tests.polling import until
from tests.store.test_placed import placed

NOW = 1_800_000_000.0
DAY = 86400.0
WEEK = 7 * DAY


async def outbox_at(db: Database) -> Outbox:
    """Deliveries created 8 days ago (one delivered, one failed, one still pending) and one
    delivered an hour ago, each with its attempt logged."""
    outbox = Outbox(db)
    old, recent = NOW - 8 * DAY, NOW - 3600
    await outbox.add([("ev", f"k{i}", {"CallID": f"c{i}"}) for i in range(4)], old)
    rows = sorted(await outbox.take(NOW, 10), key=lambda d: d.call_id)
    when = [old, old, old, recent]
    states = ["delivered", "failed", "retry", "delivered"]
    await outbox.record(
        [
            (
                d,
                {"at": t, "status": 200, "duration_ms": 1.0, "error": None},
                s,
                t + (WEEK if s == "retry" else 0),
            )
            for d, t, s in zip(rows, when, states, strict=True)
        ]
    )
    return outbox


async def call_ids(db: Database) -> dict[str, str | None]:
    return {r[0]: r[1] for r in await db.fetchall("SELECT id, nonce FROM calls")}


async def test_purge_keeps_pending_recent_and_live(db: Database) -> None:
    """One purge: old delivered/failed rows and old attempts go; the pending one and the
    recent ones stay; an old call goes unless live (then only its nonce goes); a new call
    and its nonce stay."""
    outbox = await outbox_at(db)
    calls = CallStore(db)
    stale = placed("stale", nonce="n-stale", at=NOW - NONCE_WINDOW - 60)
    up = placed("up", nonce="n-up", at=NOW - NONCE_WINDOW - 60)
    fresh = placed("fresh", nonce="n-fresh", at=NOW - 60)
    for call in (stale, up, fresh):
        calls.hold(call, lambda _: True)
        await calls.save(call)
    done = await Retention(outbox, calls, WEEK, live=lambda: {"up"}).purge(NOW)
    assert done == {"deliveries": 5, "calls": 1}  # 2 outbox rows + 3 old attempts; 1 call
    left = await db.fetchall("SELECT state FROM outbox ORDER BY state")
    assert [r[0] for r in left] == ["delivered", "pending"]
    assert len(await db.fetchall("SELECT * FROM deliveries")) == 1
    assert await call_ids(db) == {"up": None, "fresh": "n-fresh"}
    assert calls.reuse("crm", "n-stale", lambda _: True) is None  # forgotten, even if live
    assert calls.reuse("crm", "n-fresh", lambda _: True) is fresh
    assert await calls.find(["up"])  # a live call is still shown as requested


async def test_purge_deletes_in_chunks(db: Database) -> None:
    """More rows than one chunk are all purged (several short transactions)."""
    outbox = Outbox(db)
    await outbox.add([("ev", f"k{i}", {"CallID": f"c{i}"}) for i in range(25)], NOW - WEEK * 2)
    taken = await outbox.take(NOW, 100)
    await outbox.record(
        [
            (
                d,
                {"at": NOW - WEEK * 2, "status": 200, "duration_ms": 1.0, "error": None},
                "delivered",
                NOW - WEEK * 2,
            )
            for d in taken
        ]
    )
    assert await outbox.purge(NOW - WEEK, chunk=10) == 50
    assert await db.fetchall("SELECT COUNT(*) FROM outbox") == [(0,)]


async def test_run_forever_purges_while_running(db: Database) -> None:
    """The periodic task purges without being asked, then again on its period."""
    outbox = await outbox_at(db)
    clock = [NOW]
    retention = Retention(outbox, CallStore(db), WEEK, live=set, clock=lambda: clock[0])
    task = asyncio.create_task(retention.run_forever(every=0.02))
    try:
        await until(lambda: _count_is(db, OUTBOX_ROWS, 2), what=f"{OUTBOX_ROWS} = 2", interval=0.01)
        clock[0] = NOW + 2 * WEEK  # now the recent delivery is old too
        await until(lambda: _count_is(db, OUTBOX_ROWS, 1), what=f"{OUTBOX_ROWS} = 1", interval=0.01)
    finally:
        task.cancel()


async def test_a_store_error_does_not_end_the_periodic_task(db: Database) -> None:
    """While SQLite fails, each turn logs `retention.purge_failed` and the task runs on."""
    retention = Retention(Outbox(db), CallStore(db), WEEK, live=set, clock=lambda: NOW)
    await db.close()  # every purge now fails
    with capture_logs() as logs:
        task = asyncio.create_task(retention.run_forever(every=0.01))
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 5
            while sum(e["event"] == "retention.purge_failed" for e in logs) < 3:
                assert not task.done(), "the task ended"
                assert loop.time() < deadline, "no failed purge logged"
                await asyncio.sleep(0.01)
        finally:
            task.cancel()


OUTBOX_ROWS = "SELECT COUNT(*) FROM outbox"


async def _count_is(db: Database, sql: str, count: int) -> bool:
    return bool((await db.fetchall(sql))[0][0] == count)
