"""The recording store on both backends: written once, listed per extension, sized, deleted."""

from __future__ import annotations

from bridge.domain.model import Call, Effect, Take
from bridge.domain.recordings import RecordingRecord
from bridge.errors import PbxUnavailable
from bridge.store.db import Database
from bridge.store.recordings import RecordingStore

CALL = "48bc0f26f2dceaaa2e5c"


def rec(n: int, exts: tuple[str, ...] = ("0003*210", "0003*024")) -> RecordingRecord:
    return RecordingRecord(
        f"uapi-{CALL}-00-{n}", CALL, "00", "0003*210", "wav", float(n), n + 3.0, "default", exts
    )


async def test_written_once_listed_per_extension(db: Database) -> None:
    """A record is listed under each of its extensions, oldest first; adding it again (the
    call's end after the stop) writes nothing."""
    store = RecordingStore(db)
    store.add(rec(20))
    store.add(rec(10, ("0003*210",)))
    assert await store.flush() == 2
    store.add(rec(20))
    assert await store.flush() == 0
    listed = await store.listed({"0003*210", "0003*024"})
    assert [(e, r.id) for e, r in listed] == [
        ("0003*210", rec(10).id),
        ("0003*024", rec(20).id),
        ("0003*210", rec(20).id),
    ]
    assert [r.id for _, r in await store.listed({"0003*024"})] == [rec(20).id]
    assert await store.listed(set()) == []
    got = await store.get(rec(20).id)
    assert got == rec(20, ("0003*024", "0003*210"))  # extensions come back sorted


async def test_sizes_from_ari_and_ari_down(db: Database) -> None:
    """`size_of` fills the size after the write; ARI down leaves it unknown."""
    asked: list[tuple[str, str]] = []

    async def size_of(node: str, name: str) -> int | None:
        asked.append((node, name))
        if name.endswith("-2"):
            raise PbxUnavailable("ARI of node 'default' does not answer")
        return 1644

    store = RecordingStore(db, size_of=size_of)
    store.add(rec(1))
    store.add(rec(2))
    await store.flush()
    assert asked == [("default", rec(1).id), ("default", rec(2).id)]
    one, two = await store.get(rec(1).id), await store.get(rec(2).id)
    assert one is not None
    assert two is not None
    assert (one.size, two.size) == (1644, None)


async def test_ended_call_effect_stores_its_takes(db: Database) -> None:
    """The tracker's `ended` effect stores every take of the call; other effects nothing."""
    call = Call(CALL, published=1.0)
    party = call.add_party("0003*210", True, "source")
    call.add_party("0003*024", True, "destination")
    party.takes.append(Take(f"uapi-{CALL}-00-5", "wav49", 5.0, node="default"))
    call.ended = 9.0
    store = RecordingStore(db)
    store.sink([Effect("left", CALL, "0003*210", call=call)])
    assert await store.flush() == 0
    store.sink([Effect("ended", CALL, call=call)])
    assert await store.flush() == 1
    got = await store.get(f"uapi-{CALL}-00-5")
    assert got is not None
    assert (got.format, got.ended, got.extensions) == ("wav49", 9.0, ("0003*024", "0003*210"))


async def test_delete(db: Database) -> None:
    """Delete forgets the record and its listing; a second delete says it had nothing."""
    store = RecordingStore(db)
    store.add(rec(1))
    await store.flush()
    assert await store.delete(rec(1).id) is True
    assert await store.get(rec(1).id) is None
    assert await store.listed({"0003*210"}) == []
    assert await store.delete(rec(1).id) is False
