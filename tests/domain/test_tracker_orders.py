"""Hypothesis: the tracker over any event order Asterisk could produce for a recorded call.

Asterisk keeps the order of one channel's events; across channels the order changes from run
to run (tests/fixtures/ami/README.md). So any merge of the per-channel sequences is a stream
the tracker must survive.
"""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.domain.model import CallMeta, Effect
from bridge.domain.tracker import CallTracker
from tests.domain.replay import SCENARIOS, T0, load, tracker


def _lanes(name: str) -> list[list[dict[str, str]]]:
    """The transcript split into per-channel sequences (events without a channel: own lane)."""
    lanes: dict[str, list[dict[str, str]]] = {}
    for i, (_, event) in enumerate(load(name).lines):
        key = event.get("Uniqueid") or event.get("DestUniqueid") or f"misc-{i}"
        lanes.setdefault(key, []).append(event)
    return list(lanes.values())


@st.composite
def interleaving(draw: st.DrawFn) -> tuple[str, list[dict[str, str]]]:
    name = draw(st.sampled_from(SCENARIOS))
    lanes = [list(lane) for lane in _lanes(name)]
    out: list[dict[str, str]] = []
    while any(lanes):
        open_lanes = [lane for lane in lanes if lane]
        out.append(draw(st.sampled_from(open_lanes)).pop(0))
    return name, out


@settings(max_examples=300, deadline=None)
@given(interleaving())
def test_any_order_ends_clean_with_one_hangup_per_party(
    case: tuple[str, list[dict[str, str]]],
) -> None:
    """No crash; nothing left at the end; at most one `ended`, nothing after it; each party
    leaves as often as it joined (one Hangup webhook per join)."""
    name, events = case
    script = load(name)
    t = tracker(script)
    effects: list[Effect] = []
    for i, event in enumerate(events):
        effects.extend(t.apply(event, T0 + i / 1000))
    assert t.calls == {}
    assert t.channels == {}
    kinds = [e.kind for e in effects]
    assert kinds.count("ended") <= 1
    if "ended" in kinds:
        assert kinds[-1] == "ended"
    joined = Counter(e.party for e in effects if e.kind == "joined")
    left = Counter(e.party for e in effects if e.kind == "left")
    assert joined == left


def _scanned(t: CallTracker, parties: set[str]) -> list[str]:
    """calls_of by its definition: every call whose parties or charged extension meet them."""
    return [
        c.id
        for c in t.calls.values()
        if c.extension in parties or not parties.isdisjoint(c.parties)
    ]


@settings(max_examples=200, deadline=None)
@given(interleaving(), interleaving())
def test_calls_of_agrees_with_a_scan_after_every_event(
    one: tuple[str, list[dict[str, str]]], two: tuple[str, list[dict[str, str]]]
) -> None:
    """The index behind calls_of gives what a scan of every call gives, in the same order, for
    every party after every event of two interleaved calls (and for each pair of parties)."""
    (name_a, events_a), (name_b, events_b) = one, two
    t = tracker(load(name_a))
    script_b = load(name_b)
    meta_b = script_b.meta()
    if meta_b is not None and script_b.call_id != load(name_a).call_id:
        t.annotate(script_b.call_id, meta_b)
    merged = [e for pair in zip(events_a, events_b, strict=False) for e in pair]
    merged += events_a[len(events_b) :] + events_b[len(events_a) :]
    for i, event in enumerate(merged):
        t.apply(event, T0 + i / 1000)
        keys = {k for c in t.calls.values() for k in c.parties} | {
            c.extension for c in t.calls.values() if c.extension
        }
        for key in keys:
            assert [c.id for c in t.calls_of({key})] == _scanned(t, {key})
        assert [c.id for c in t.calls_of(keys)] == _scanned(t, keys)
    assert t.calls_of({"0003*210", "0003*024"}) == []


def test_calls_of_a_few_of_many_calls_keeps_their_order() -> None:
    """Asked for a few of many calls (the index's sorted path, not the one pass over every
    call), calls_of still gives them oldest first, as a scan does."""
    t = tracker(load("two_party"), annotate=False)
    exts = ["0003*210", "0003*024", "0003*025", "0003*026", "0003*027", "0003*028"]
    for n in range(24):  # created in this order, charged round the extensions backwards
        ext = exts[-1 - n % len(exts)]
        t.annotate(f"{n:020x}", CallMeta(ext, "12", "crm", None, T0 + n, (ext,), ("5551234",)))
    for ext in exts:
        assert len(t.calls_of({ext})) * 4 < len(t.calls)  # the sorted path
        assert [c.id for c in t.calls_of({ext})] == _scanned(t, {ext})
    pair = {"0003*024", "0003*027"}
    assert [c.id for c in t.calls_of(pair)] == _scanned(t, pair)
    t.forget(f"{5:020x}")
    assert [c.id for c in t.calls_of({"0003*210"})] == _scanned(t, {"0003*210"})
