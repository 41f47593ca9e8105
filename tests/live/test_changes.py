"""The stream shows what only `Changed` says: park, hold, recording from Asterisk's events, and
what call control changes with no event at all (mute)."""

from __future__ import annotations

from typing import Any

from bridge.ami.message import AmiMessage
from tests.domain.replay import T0, load
from tests.live.conftest import Live, Reader

CALL = load("two_party").call_id


def legs(live: Live) -> dict[str, str]:
    """The call's party -> Uniqueid of its leg."""
    tracker = live.api.services.nodes.first.tracker
    return {c.party or "": c.uniqueid for c in tracker.channels.values() if c.party}


async def next_views(reader: Reader) -> dict[str, dict[str, Any]]:
    """The views of the next `call` event, by extension."""
    event = await reader.next()
    assert (event.kind, event.data["id"]) == ("call", CALL)
    return {v["extension"]: v for v in event.data["phoneCallView"]}


async def ready(live: Live) -> Reader:
    await live.play(until=1.0)
    reader = await live.open()
    await reader.until("ready")
    return reader


async def test_mute_through_the_api_is_streamed(live: Live) -> None:
    """Mute sends MuteAudio, which Asterisk answers with no event: the tracker's Changed
    brings the view's `muted` to the stream at once; Unmute takes it away."""
    reader = await ready(live)
    url, auth = f"/uapi/phoneCalls/@me/210/{CALL}", live.api.auth()
    body = {"action": "Mute", "phoneCallViewId": "00", "direction": "out"}
    resp = await live.api.client.put(url, json=body, headers=auth)
    assert resp.status == 200, await resp.text()
    assert (await next_views(reader))["0003*210"]["muted"] == "out"
    resp = await live.api.client.put(url, json=dict(body, action="Unmute"), headers=auth)
    assert resp.status == 200, await resp.text()
    assert "muted" not in (await next_views(reader))["0003*210"]


async def test_park_hold_and_recording_events_are_streamed(live: Live) -> None:
    """ParkedCall, MusicOnHoldStart/Stop and MixMonitorStart change no party's step, yet each
    shows on the stream as the view's new fields."""
    reader = await ready(live)
    leg = legs(live)
    trunk, p210 = leg["5551234"], leg["0003*210"]

    def feed(event: dict[str, str]) -> None:
        live.feed.clock = lambda: T0 + 2
        live.feed.on_event(AmiMessage(event))

    feed({"Event": "MusicOnHoldStart", "Uniqueid": trunk})
    assert "onHold" in (await next_views(reader))["5551234"]
    feed({"Event": "MusicOnHoldStop", "Uniqueid": trunk})
    assert "onHold" not in (await next_views(reader))["5551234"]
    feed({"Event": "MixMonitorStart", "Uniqueid": p210})
    assert "recording" in (await next_views(reader))["0003*210"]
    feed({"Event": "ParkedCall", "ParkeeUniqueid": trunk, "ParkingSpace": "701"})
    assert (await next_views(reader))["5551234"]["parkedPos"] == "701"
