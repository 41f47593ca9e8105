"""CallStore: placed calls and their nonces, in memory and in SQLite across restarts."""

from __future__ import annotations

from bridge.store.calls import NONCE_WINDOW, CallStore, PlacedCall
from bridge.store.db import Database

NOW = 1_800_000_000.0


def placed(cid: str, nonce: str | None = "n-1", at: float = NOW, app: str = "crm") -> PlacedCall:
    return PlacedCall(cid, "0003*210", "12", app, nonce, "2027-01-15T08:00:00Z", at,
                      {"sources": ["0003*210"], "destinations": ["5551234"],
                       "allow_public_transfer": True})


async def test_a_held_nonce_is_reused_by_the_same_app_only(db: Database) -> None:
    """hold() reserves at once; another app's identical nonce is its own."""
    store = CallStore(db)
    first = placed("a" * 20)
    store.hold(first)
    assert store.reuse("crm", "n-1", NOW + 1) is first
    assert store.reuse("helpdesk", "n-1", NOW + 1) is None
    assert store.reuse("crm", None, NOW + 1) is None


async def test_nonce_survives_a_restart_for_24_hours(db: Database) -> None:
    """A saved call's nonce is found by a new store (a restarted bridge) within 24 h only."""
    first = placed("a" * 20)
    await CallStore(db).save(first)
    again = CallStore(db)
    await again.load(NOW + 60)
    found = again.reuse("crm", "n-1", NOW + 60)
    assert found == first
    assert found is not None
    assert found.meta().allow_public_transfer is True
    assert found.meta().destinations == ("5551234",)
    later = CallStore(db)
    await later.load(NOW + NONCE_WINDOW + 1)
    assert later.reuse("crm", "n-1", NOW + NONCE_WINDOW + 1) is None


async def test_an_expired_nonce_can_be_used_again(db: Database) -> None:
    """After 24 h the same nonce places (and stores) a new call."""
    store = CallStore(db)
    old = placed("a" * 20)
    store.hold(old)
    await store.save(old)
    assert store.reuse("crm", "n-1", NOW + NONCE_WINDOW + 5) is None
    new = placed("b" * 20, at=NOW + NONCE_WINDOW + 5)
    store.hold(new)
    await store.save(new)
    assert set(await store.find(["a" * 20, "b" * 20])) == {"b" * 20}


async def test_forget_frees_the_nonce_and_the_row(db: Database) -> None:
    """A refused call leaves neither its nonce nor its row behind."""
    store = CallStore(db)
    call = placed("a" * 20)
    store.hold(call)
    await store.save(call)
    await store.forget(call)
    assert store.reuse("crm", "n-1", NOW) is None
    assert await store.find(["a" * 20]) == {}
