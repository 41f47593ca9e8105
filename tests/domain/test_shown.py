"""`Call.shown`: the API's rendering of a live call, kept on it until the tracker drops it. Kept
too long, List and the live stream would show a call as it was: after every step the tracker
takes (each recorded event, in the recorded order and in any order Asterisk could produce; the
API's marks; a resync; `annotate`), the kept rendering must equal one worked out afresh."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from hypothesis import given, settings

from bridge.domain.model import CallMeta, Effect, Take
from bridge.domain.tracker import CallTracker
from bridge.domain.views import phone_call, render
from tests.domain.replay import SCENARIOS, T0, load, run, snapshot, tracker
from tests.domain.test_tracker_orders import interleaving


def assert_fresh(t: CallTracker) -> int:
    """Every live call's kept rendering equals a fresh one (and is kept from now on); returns
    how many calls were checked."""
    for call in t.calls.values():
        assert phone_call(call, t.channels) == render(call, t.channels), call.id
        assert call.shown is not None
    return len(t.calls)


def test_every_recorded_event_drops_what_it_changes() -> None:
    checked = 0
    for name in SCENARIOS:
        script = load(name)
        for annotate in (True, False):
            t = tracker(script, annotate=annotate)
            for at, event in script.lines:
                t.apply(event, T0 + at)
                checked += assert_fresh(t)
    assert checked > 400  # the scenarios' calls were live through most of their events


@settings(max_examples=150, deadline=None)
@given(interleaving())
def test_any_order_of_the_events_keeps_it_fresh(case: tuple[str, list[dict[str, str]]]) -> None:
    name, events = case
    t = tracker(load(name))
    for i, event in enumerate(events):
        t.apply(event, T0 + i / 1000)
        assert_fresh(t)


def test_the_api_marks_drop_it() -> None:
    script = load("two_party")
    t, _ = run(script, until=1.0)
    call = script.call_id
    p210 = next(c for c in t.channels.values() if c.name.startswith("PJSIP/210"))
    steps: list[Callable[[], list[Effect]]] = [
        lambda: t.mark_muted(p210.uniqueid, "out", on=True),
        lambda: t.mark_muted(p210.uniqueid, "in", on=True),
        lambda: t.mark_holder(call, "0003*210"),
        lambda: t.add_take(call, "0003*210", Take("uapi-x-00-1", "wav", T0 + 2)),
        lambda: t.end_takes(call, "0003*210", T0 + 3),
        lambda: t.drop_take(call, "uapi-x-00-1"),
        lambda: t.mark_muted(p210.uniqueid, "both", on=False),
    ]
    muted = []
    for step in steps:
        assert step(), "each step changes the call"
        assert assert_fresh(t) == 1
        muted.append(phone_call(t.calls[call], t.channels)["phoneCallView"][0].get("muted"))
    assert muted == ["out", "both", "both", "both", "both", "both", None]


def test_a_resync_drops_it() -> None:
    """The snapshot says 210's leg rings again: nothing but the resync changed the call."""
    script = load("two_party")
    t, _ = run(script, until=1.0)
    assert_fresh(t)
    entries = snapshot(t)
    for entry in entries:
        if entry["Channel"].startswith("PJSIP/210"):
            entry["ChannelState"] = "5"
    before = phone_call(t.calls[script.call_id], t.channels)
    t.mark(T0 + 50)
    t.resync(entries, {}, T0 + 50)
    assert assert_fresh(t) == 1
    assert phone_call(t.calls[script.call_id], t.channels) != before


def test_annotate_drops_it() -> None:
    """A call rendered before its plan was attached (a resync's) shows the plan after."""
    script = load("two_party")
    t, _ = run(script, until=1.0, annotate=False)
    assert_fresh(t)
    meta = script.meta()
    assert isinstance(meta, CallMeta)
    t.annotate(script.call_id, dataclasses.replace(meta, nonce="crm-ticket-7"))
    assert assert_fresh(t) == 1
    assert phone_call(t.calls[script.call_id], t.channels)["nonce"] == "crm-ticket-7"


def test_it_is_kept_until_a_change() -> None:
    """Asked again with no step between, the same object answers (shared: the API copies it
    before adding owner and links)."""
    script = load("two_party")
    t, _ = run(script, until=1.0)
    call = t.calls[script.call_id]
    first = phone_call(call, t.channels)
    assert phone_call(call, t.channels) is first
    t.mark_holder(script.call_id, "0003*210")
    assert phone_call(call, t.channels) is not first
