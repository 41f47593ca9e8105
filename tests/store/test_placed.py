"""CallStore: placed calls and their nonces (a nonce names its call while it is live), in
memory and in SQLite across restarts."""

from __future__ import annotations

from bridge.store.db import Database
from bridge.store.placed import NONCE_WINDOW, CallStore, PlacedCall

NOW = 1_800_000_000.0


def placed(cid: str, nonce: str | None = "n-1", at: float = NOW, app: str = "crm") -> PlacedCall:
    return PlacedCall(
        cid,
        "0003*210",
        "12",
        app,
        nonce,
        "2027-01-15T08:00:00Z",
        at,
        {"sources": ["0003*210"], "destinations": ["5551234"], "allow_public_transfer": True},
    )


def alive(*ids: str) -> set[str]:
    return set(ids)


async def test_a_held_nonce_is_reused_by_the_same_app_only(db: Database) -> None:
    """hold() reserves at once; another app's identical nonce is its own."""
    store = CallStore(db)
    first = placed("a" * 20)
    live = alive("a" * 20)
    store.hold(first, live.__contains__)
    assert store.reuse("crm", "n-1", live.__contains__) is first
    assert store.reuse("helpdesk", "n-1", live.__contains__) is None
    assert store.reuse("crm", None, live.__contains__) is None


async def test_an_ended_call_frees_its_nonce(db: Database) -> None:
    """Once the call is no longer live the same nonce is free; both calls stay stored."""
    store = CallStore(db)
    old = placed("a" * 20)
    live = alive("a" * 20)
    store.hold(old, live.__contains__)
    await store.save(old)
    live.discard("a" * 20)
    assert store.reuse("crm", "n-1", live.__contains__) is None
    new = placed("b" * 20, at=NOW + 60)
    live.add("b" * 20)
    store.hold(new, live.__contains__)
    await store.save(new)  # no unique (app, nonce) any more
    assert store.reuse("crm", "n-1", live.__contains__) is new
    assert set(await store.find(["a" * 20, "b" * 20])) == {"a" * 20, "b" * 20}


async def test_nonce_of_a_live_call_survives_a_restart(db: Database) -> None:
    """A restarted bridge finds the newest call of a nonce (while live, as the tracker says)."""
    await CallStore(db).save(placed("a" * 20))
    await CallStore(db).save(placed("b" * 20, at=NOW + 30))
    again = CallStore(db)
    await again.load(NOW + 60)
    found = again.reuse("crm", "n-1", alive("a" * 20, "b" * 20).__contains__)
    assert found is not None
    assert found.id == "b" * 20
    assert found.meta().allow_public_transfer is True
    assert found.meta().destinations == ("5551234",)
    assert again.reuse("crm", "n-1", alive().__contains__) is None
    later = CallStore(db)
    await later.load(NOW + 30 + NONCE_WINDOW + 1)
    assert later.reuse("crm", "n-1", alive("b" * 20).__contains__) is None


async def test_ended_calls_are_pruned_from_memory(db: Database) -> None:
    """Past the pruning threshold the nonces of ended calls are dropped; live ones stay."""
    store = CallStore(db)
    live = alive("f" * 20)
    store.hold(placed("f" * 20, nonce="keep"), live.__contains__)
    for i in range(1100):
        store.hold(placed(f"{i:020x}", nonce=f"n-{i}"), live.__contains__)
    assert len(store._nonces) < 100
    assert store.reuse("crm", "keep", live.__contains__) is not None


async def test_forget_frees_the_nonce_and_the_row(db: Database) -> None:
    """A refused call leaves neither its nonce nor its row behind."""
    store = CallStore(db)
    call = placed("a" * 20)
    store.hold(call, alive("a" * 20).__contains__)
    await store.save(call)
    await store.forget(call)
    assert store.reuse("crm", "n-1", alive("a" * 20).__contains__) is None
    assert await store.find(["a" * 20]) == {}
