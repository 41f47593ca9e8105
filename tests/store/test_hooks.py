"""Registrations in memory and SQLite: the per-extension limit and an index updated in place."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.store import hooks
from bridge.store.db import Database
from bridge.store.hooks import DISABLED, ENABLED, Registration, Registrations


def reg(
    rid: str,
    ext: str = "0003*210",
    type_: int = 0,
    app: str = "crm",
    modified: str = "2027-01-15T08:00:00Z",
    status: int = ENABLED,
) -> Registration:
    return Registration(
        rid, app, ext, type_, 1, "https://a.example/h", "", status, modified, "whsec_" + "A" * 32
    )


async def test_add_stops_at_the_limit_per_extension_and_app(db: Database) -> None:
    """add() refuses the (limit+1)th of an app on an extension; other apps/extensions go on."""
    regs = Registrations(db)
    assert [await regs.add(reg(f"r{i}"), 2) for i in range(3)] == [True, True, False]
    assert await regs.add(reg("other-app", app="helpdesk"), 2)
    assert await regs.add(reg("other-ext", ext="0003*026"), 2)
    assert regs.count("0003*210", "crm") == 2
    again = Registrations(db)
    await again.load()
    assert set(again.by_id) == {"r0", "r1", "other-app", "other-ext"}


async def test_a_failed_write_leaves_no_trace_in_memory(db: Database) -> None:
    """When the store refuses the row, the registration is taken out of the index again."""
    regs = Registrations(db)
    await db.close()  # every write now fails
    with pytest.raises(Exception, match="not open"):
        await regs.add(reg("r0"), 5)
    assert (regs.by_id, regs.enabled("0003*210", 0), regs.count("0003*210", "crm")) == ({}, [], 0)


async def test_changes_touch_only_their_own_index_entries(db: Database) -> None:
    """Adding, disabling or deleting one registration leaves other keys' lists as they were
    (the same objects: nothing is rebuilt), and keeps each list oldest first."""
    regs = Registrations(db)
    await regs.add(reg("b", modified="2027-01-15T08:00:02Z"), 50)
    await regs.add(reg("other", ext="0003*026"), 50)
    untouched = regs.listening("0003*026", 0)
    await regs.add(reg("a", modified="2027-01-15T08:00:01Z"), 50)
    await regs.add(reg("c", modified="2027-01-15T08:00:03Z"), 50)
    assert [r.id for r in regs.enabled("0003*210", 0)] == ["a", "b", "c"]
    await regs.disable("b", "2027-01-15T09:00:00Z")
    assert regs.by_id["b"].status == DISABLED
    assert [r.id for r in regs.enabled("0003*210", 0)] == ["a", "c"]
    await regs.delete(["a", "c"])
    assert regs.enabled("0003*210", 0) == []
    assert [r.id for r in regs.of("0003*210")] == ["b"]
    assert regs.listening("0003*026", 0) is untouched


@settings(max_examples=300)
@given(st.dictionaries(st.text(), st.text(), max_size=12))
def test_payload_form_is_urlencode(params: dict[str, str]) -> None:
    """The outbox's cached form encoding gives urlencode's bytes for any names and values."""
    assert hooks._form(params) == urlencode(params)
