"""TrackerWatch wakes on the tracker's effects (as each node's effect sink), not on AMI events."""

from __future__ import annotations

import asyncio
from typing import cast

from bridge.ami.message import AmiMessage
from bridge.calls.watch import TrackerWatch
from bridge.domain.model import Effect
from bridge.feeds.calls import CallsFeed
from bridge.store.db import Database
from tests.domain.replay import T0, load, run


def feed_with_watch() -> tuple[CallsFeed, TrackerWatch, list[list[Effect]]]:
    """The two-party call answered, in a calls feed whose sinks are a watch and a recorder."""
    tracker, _ = run(load("two_party"), until=1.0)
    watch, heard = TrackerWatch(), cast(list[list[Effect]], [])
    feed = CallsFeed(tracker, cast(Database, None), lambda: T0 + 2, sinks=[heard.append])
    feed.sinks.append(watch.wake)
    return feed, watch, heard


async def test_a_hold_wakes_the_request_waiting_for_it() -> None:
    """A request waiting for onHold is woken by the MusicOnHoldStart's Changed: `until` is
    True long before its deadline (it would be False at the deadline if nothing woke it)."""
    feed, watch, heard = feed_with_watch()
    trunk = next(c for c in feed.tracker.channels.values() if c.party == "5551234")
    party = feed.tracker.calls[trunk.call_id].parties["5551234"]
    waiting = asyncio.ensure_future(watch.until(lambda: party.on_hold is not None, 30))
    await asyncio.sleep(0)
    assert not waiting.done()
    feed.on_event(AmiMessage({"Event": "MusicOnHoldStart", "Uniqueid": trunk.uniqueid}))
    async with asyncio.timeout(5):
        assert await waiting
    assert [e.kind for effects in heard for e in effects] == ["changed"]


async def test_an_event_that_changes_nothing_reaches_no_sink() -> None:
    """A MusicOnHoldStop when nothing is on hold is no effect: no sink hears it."""
    feed, _, heard = feed_with_watch()
    trunk = next(c for c in feed.tracker.channels.values() if c.party == "5551234")
    feed.on_event(AmiMessage({"Event": "MusicOnHoldStop", "Uniqueid": trunk.uniqueid}))
    feed.on_event(AmiMessage({"Event": "Newstate", "Uniqueid": "unknown", "ChannelState": "6"}))
    assert heard == []
