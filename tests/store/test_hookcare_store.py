"""The outbox and registration columns of issue 23 on both backends: Sequence numbering
(also across a restart), replay, recover oldest first, skipped rows, health counts, ordered
take."""

from __future__ import annotations

import dataclasses
from urllib.parse import parse_qsl

from bridge.store.db import Database
from bridge.store.hooks import DISABLED, Outbox, Queued, Registration, Registrations

NOW = 1_800_000_000.0


def row(
    key: str,
    call: str = "c1",
    event: str = "",
    ordering: str = "",
    skipped: bool = False,
    reg: str = "r1",
) -> Queued:
    return Queued(reg, key, {"CallID": call}, "crm", event or key, ordering, skipped)


async def sequences(db: Database) -> dict[str, str]:
    rows = await db.fetchall("SELECT dedup, payload FROM outbox")
    return {r[0]: dict(parse_qsl(r[1]))["Sequence"] for r in rows}


async def test_sequence_counts_an_apps_events_per_call_across_a_restart(db: Database) -> None:
    """1, 2, 3 in firing order per app and call; one event for two registrations shares its
    number; a duplicate takes none; a new Outbox (a restart) goes on from the store."""
    outbox = Outbox(db)
    await outbox.add(
        [row("a"), row("b"), row("b2", event="b", reg="r2"), row("x", call="c2"), row("a")], NOW
    )
    await outbox.add([row("a"), row("c")], NOW)
    await Outbox(db).add([row("d")], NOW)
    assert await sequences(db) == {"a": "1", "b": "2", "b2": "2", "x": "1", "c": "3", "d": "4"}


async def test_recover_requeues_failed_and_skipped_oldest_first(db: Database) -> None:
    """Failed and skipped rows of the window are pending again, due in creation order."""
    outbox = Outbox(db)
    for i, skipped in enumerate((False, True, False, False)):
        await outbox.add([row(f"k{i}", skipped=skipped)], NOW + i)
    await db.execute("UPDATE outbox SET state = 'failed', attempts = 5 WHERE dedup IN ('k0', 'k2')")
    await db.execute("UPDATE outbox SET state = 'delivered' WHERE dedup = 'k3'")
    assert await outbox.recover("r1", NOW, NOW + 3, NOW + 10) == 3
    taken = await outbox.take(NOW + 11, 10)
    assert [t.attempts for t in taken] == [0, 0, 0]
    rows = await db.fetchall("SELECT id, dedup FROM outbox")
    names = {r[0]: r[1] for r in rows}
    assert [names[t.id] for t in taken] == ["k0", "k1", "k2"]
    assert await outbox.recover("r1", NOW + 1, NOW + 3, NOW + 10) == 0  # none left


async def test_skipped_rows_are_logged_and_never_taken(db: Database) -> None:
    """A skipped row has one `skipped` line in the attempt log and is not due."""
    outbox = Outbox(db)
    await outbox.add([row("s", skipped=True)], NOW)
    assert await outbox.take(NOW + 1, 10) == []
    assert [a["outcome"] for a in await outbox.attempts("r1")] == ["skipped"]


async def test_replay_only_its_own_registrations_delivery(db: Database) -> None:
    """replay() finds the id under its registration only."""
    outbox = Outbox(db)
    await outbox.add([row("k")], NOW)
    (delivery_id,) = (r[0] for r in await db.fetchall("SELECT id FROM outbox"))
    await db.execute("UPDATE outbox SET state = 'delivered', attempts = 2")
    assert not await outbox.replay("other", delivery_id, NOW)
    assert await outbox.replay("r1", delivery_id, NOW)
    assert [(t.id, t.attempts) for t in await outbox.take(NOW, 5)] == [(delivery_id, 0)]


async def test_ordered_rows_wait_for_the_earlier_one(db: Database) -> None:
    """Rows sharing an ordering key are taken one at a time in Sequence order; others pass."""
    outbox = Outbox(db)
    await outbox.add([row("o1", ordering="k"), row("o2", ordering="k"), row("free")], NOW)
    first = await outbox.take(NOW, 10)
    assert len(first) == 2
    assert await outbox.take(NOW, 10) == []  # o2 waits for o1
    done = next(d for d in first if d.payload.endswith("Sequence=1"))
    await outbox.record(
        [(done, {"at": NOW, "status": 200, "duration_ms": 1.0, "error": None}, "delivered", NOW)]
    )
    (second,) = await outbox.take(NOW, 10)
    assert second.payload.endswith("Sequence=2")


async def test_health_counts_from_the_last_success_or_health_from(db: Database) -> None:
    """(first failure, given up) after the last delivered attempt and after `since`."""
    outbox = Outbox(db)
    await db.transaction(
        [
            (
                "INSERT INTO deliveries (delivery_id, event_id, attempt, at, status, duration_ms, "
                "error, outcome) VALUES (?, 'r1', 1, ?, 500, 1, NULL, ?)",
                [
                    ("a", NOW, "failed"),
                    ("b", NOW + 10, "delivered"),
                    ("c", NOW + 20, "retry"),
                    ("d", NOW + 30, "failed"),
                    ("e", NOW + 40, "failed"),
                    ("f", NOW + 50, "skipped"),
                ],
            )
        ]
    )
    assert await outbox.health("r1", 0.0) == (NOW + 20, 2)
    assert await outbox.health("r1", NOW + 35) == (NOW + 40, 1)
    assert await outbox.health("r2", 0.0) == (None, 0)


async def test_the_new_registration_fields_survive_a_reload(db: Database) -> None:
    """headers, maxRate, ordered, the previous secret, disabledReason, health_from."""
    regs = Registrations(db)
    reg = Registration(
        "r1",
        "crm",
        "0003*210",
        0,
        1,
        "https://a.example/h",
        "",
        DISABLED,
        "2027-01-15T08:00:00Z",
        "whsec_" + "A" * 32,
        previous_secret="whsec_" + "B" * 32,
        previous_expires=NOW,
        headers=(("Authorization", "Bearer x"),),
        max_rate=2.5,
        ordered=True,
        disabled_reason="410 Gone",
        health_from=NOW - 1,
    )
    await regs.save(reg)
    again = Registrations(db)
    await again.load()
    assert dataclasses.asdict(again.by_id["r1"]) == dataclasses.asdict(reg)
