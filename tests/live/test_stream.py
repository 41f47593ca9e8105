"""GET .../{extension}/stream: snapshot then changes, scope, fields, resume, heartbeat, limits."""

from __future__ import annotations

import asyncio

import pytest

from bridge.ami.message import AmiMessage
from bridge.live.hub import Change, Kept
from tests.conftest import CRM, HELPDESK
from tests.domain.replay import T0, load, run
from tests.live.conftest import OTHER, URL, Event, Live, poll

CALL = load("two_party").call_id


async def test_snapshot_then_every_change_then_ended(live: Live) -> None:
    """A live call is in the snapshot before `ready`; a new call streams each step (parties
    join, try, answer) as a `call` event, then `ended`; every event has an increasing id."""
    await live.play(until=1.0)
    reader = await live.open()
    first = await reader.until("ready")
    assert [(e.kind, e.data.get("id")) for e in first] == [("call", CALL), ("ready", None)]
    assert [v["status"] for v in first[0].data["phoneCallView"]] == ["5", "5"]
    assert first[0].data["links"]["self"].endswith(f"/uapi/phoneCalls/@me/0003*210/{CALL}")
    other = await live.play("phone_to_phone")
    events = await reader.until("ended")
    assert {e.data["id"] for e in events} == {other}
    statuses = [[v["status"] for v in e.data["phoneCallView"]] for e in events[:-1]]
    assert statuses[:3] == [["2"], ["1"], ["2", "2"]]  # 210 tries, is off hook; 024 joins
    assert ["5", "5"] in statuses  # both talked
    seqs = [int(e.id.split("-")[1]) for e in first + events if e.id]
    assert len(seqs) == len(first + events)
    assert seqs == sorted(seqs)
    assert seqs[-1] > seqs[0]
    await live.play(start=1.0)
    assert (await reader.until("ended"))[-1].data == {"id": CALL}


async def test_the_stream_renders_like_list(live: Live) -> None:
    """The snapshot's PhoneCall equals List's entry; `fields` selects keys as in List."""
    await live.play(until=1.0)
    listed = await live.api.client.get("/uapi/phoneCalls/@me/210", headers=live.api.auth())
    [entry] = (await listed.json())["entry"]
    reader = await live.open("/uapi/phoneCalls/@me/210/stream")
    assert (await reader.next()).data == entry
    reader = await live.open("/unifiedapi/phoneCalls/@me/210/stream?fields=id,answered")
    assert (await reader.next()).data == {"id": CALL, "answered": entry["answered"]}
    bad = await live.api.client.get(f"{URL}?fields=id,colour", headers=live.api.auth())
    assert (bad.status, (await bad.json())["error"]["code"]) == (400, "fields_invalid")


async def test_another_organization_sees_nothing(live: Live) -> None:
    """Organization 4's app streams its own user's calls: none of organization 3's events
    reach it, and it may not open organization 3's stream."""
    mine = await live.open()
    theirs = await live.open("/uapi/phoneCalls/30/@self/stream", token=OTHER)
    assert [e.kind for e in await theirs.until("ready")] == ["ready"]
    await mine.until("ready")
    await live.play()
    assert (await mine.until("ended"))[-1].data == {"id": CALL}
    with pytest.raises(TimeoutError):
        await theirs.next(wait=0.5)
    for url in ("/uapi/phoneCalls/12/@self/stream", "/uapi/phoneCalls/12/210/stream"):
        resp = await live.api.client.get(url, headers=live.api.auth(OTHER))
        assert resp.status == 400
        assert (await resp.json())["error"]["code"] in ("user_invalid", "extension_invalid")


async def test_scope_and_auth_are_lists(live: Live) -> None:
    """No token is 401; the token in the query works; an organization app names the user."""
    resp = await live.api.client.get(URL)
    assert (resp.status, (await resp.json())["error"]["code"]) == (401, "access_denied")
    resp = await live.api.client.get(f"{URL}?accessRequestToken={CRM}")
    assert resp.status == 200
    resp.close()
    resp = await live.api.client.get(URL, headers=live.api.auth(HELPDESK))
    assert (resp.status, (await resp.json())["error"]["code"]) == (400, "user_invalid")
    reader = await live.open("/uapi/phoneCalls/12/210/stream", token=HELPDESK)
    assert (await reader.next()).kind == "ready"


async def test_a_party_that_hangs_up_is_a_change(live: Live) -> None:
    """024 hangs up while 210 stays: 024's stream gets the call without 024 on call (as List
    still shows it), then `ended` when 210 hangs up too."""
    reader = await live.open("/uapi/phoneCalls/13/024/stream", token=HELPDESK)
    await reader.until("ready")
    call_id = await live.play("phone_to_phone", until=1.0)
    events = await reader.until("call")
    while events[-1].data["phoneCallView"][-1]["status"] != "5":
        events = await reader.until("call")
    tracker = live.api.services.nodes.first.tracker
    by_party = {c.party: c.uniqueid for c in tracker.channels.values() if c.party}
    live.feed.on_event(AmiMessage({"Event": "Hangup", "Uniqueid": by_party["0003*024"]}))
    [change] = await reader.until("call")
    assert [v["status"] for v in change.data["phoneCallView"]] != ["5", "5"]
    live.feed.on_event(AmiMessage({"Event": "Hangup", "Uniqueid": by_party["0003*210"]}))
    assert [(e.kind, e.data) for e in await reader.until("ended")] == [("ended", {"id": call_id})]


async def leave_and_miss(live: Live) -> Event:
    """A client sees the call's first change, leaves, and misses the rest of the call's first
    second; returns the last event it saw (its Last-Event-ID)."""
    reader = await live.open()
    await reader.until("ready")
    await live.play(until=0.005)
    seen = await reader.next()
    reader.resp.close()
    await asyncio.sleep(0.05)
    await live.play(start=0.005, until=1.0)
    return seen


async def test_resume_with_last_event_id(live: Live) -> None:
    """A client that comes back with Last-Event-ID gets only what it missed, then `ready`."""
    seen = await leave_and_miss(live)
    again = await live.open(**{"Last-Event-ID": seen.id or ""})
    events = await again.until("ready")
    assert events[-1].data["resumed"] == len(events) - 1 >= 1
    assert {e.kind for e in events[:-1]} == {"call"}
    assert [v["status"] for v in events[-2].data["phoneCallView"]] == ["5", "5"]


async def test_a_resume_gets_what_a_connected_client_got(live: Live) -> None:
    """The resume buffer keeps changes as JSON text (bridge.live.hub.Kept): read back, they
    are the events, ids and data, that a client connected all along was sent."""
    stayed = await live.open()
    await stayed.until("ready")
    seen = await leave_and_miss(live)
    await live.play(start=1.0)
    sent = [e for e in await stayed.until("ended") if e.seq > seen.seq]
    again = await live.open(**{"Last-Event-ID": seen.id or ""})
    resumed = (await again.until("ready"))[:-1]
    assert len(resumed) >= 2
    assert [(e.kind, e.id, e.data) for e in resumed] == [(e.kind, e.id, e.data) for e in sent]


def test_kept_changes_read_back_whole() -> None:
    """Text that is not ASCII too (a caller's name from Asterisk, an organization's)."""
    item = {"id": CALL, "ownerName": "Société Ünïcode ☎", "phoneCallView": [{"id": "00"}]}
    change = Change(7, CALL, item, frozenset({"0003*210"}), frozenset())
    kept = Kept.of(change)
    assert (kept.seq, kept.call_id, kept.numbers, kept.was, kept.ended) == (
        7,
        CALL,
        change.numbers,
        change.was,
        False,
    )
    assert kept.body() == change.body() == item
    ended = Kept.of(Change(8, CALL, None, frozenset({"0003*210"}), frozenset({"0003*210"})))
    assert (ended.ended, ended.body()) == (True, {})


@pytest.mark.parametrize("last", ["garbage", "0-0", "old"])
async def test_too_far_behind_gets_reset_and_snapshot(live: Live, last: str) -> None:
    """An id the buffer no longer covers (or not of this run): `reset`, the snapshot, `ready`."""
    live.hub.config = type(live.hub.config)(buffer=2)
    reader = await live.open()
    await reader.until("ready")
    await live.play(until=0.002)
    first = await reader.next()
    await live.play(start=0.002, until=1.0)
    await reader.until("call")
    if last == "old":
        last = first.id or ""
    again = await live.open(**{"Last-Event-ID": last})
    events = await again.until("ready")
    assert [e.kind for e in events] == ["reset", "call", "ready"]
    assert events[1].data["id"] == CALL


async def test_heartbeat_comments(live: Live) -> None:
    """An idle stream gets a comment every `stream.heartbeat` seconds (0.2 here)."""
    reader = await live.open()
    await reader.until("ready")
    with pytest.raises(TimeoutError):
        await reader.next(wait=0.5)
    assert reader.comments


async def test_max_clients_and_pbx_down(live: Live) -> None:
    """Over stream.max_clients: 503 stream_limit; AMI not connected: 503 pbx_unavailable."""
    live.hub.config = type(live.hub.config)(max_clients=1)
    await live.open()
    resp = await live.api.client.get(URL, headers=live.api.auth())
    assert (resp.status, (await resp.json())["error"]["code"]) == (503, "stream_limit")
    live.pbx.connected = False
    live.hub.config = type(live.hub.config)()
    resp = await live.api.client.get(URL, headers=live.api.auth())
    assert (resp.status, (await resp.json())["error"]["code"]) == (503, "pbx_unavailable")


async def test_ami_reconnect_sends_reset_and_a_fresh_snapshot(live: Live) -> None:
    """After a resync the client gets `reset` and the calls Asterisk now lists (a call that
    ended meanwhile is not in it), then the stream goes on."""
    await live.play(until=1.0)
    reader = await live.open()
    assert [e.kind for e in await reader.until("ready")] == ["call", "ready"]
    other, _ = run(load("phone_to_phone"), until=1.0)
    listed = [
        {
            "Event": "CoreShowChannel",
            "Channel": c.name,
            "Uniqueid": c.uniqueid,
            "Linkedid": c.call_id,
            "ChannelState": str(c.state),
            "Duration": "00:00:01",
            "Application": "AppDial",
            "BridgeId": c.bridge or "",
        }
        for c in other.channels.values()
    ]
    live.api.services.nodes.first.tracker.mark(T0 + 50)
    await live.feed.on_connect([AmiMessage(c) for c in listed])
    events = await reader.until("ready")
    [call_id] = other.calls
    assert [(e.kind, e.data.get("id")) for e in events] == [
        ("reset", None),
        ("call", call_id),
        ("ready", None),
    ]
    for chan in list(other.channels.values()):
        live.feed.on_event(AmiMessage({"Event": "Hangup", "Uniqueid": chan.uniqueid}))
    assert (await reader.until("ended"))[-1].data == {"id": call_id}


async def test_board_page_is_served_without_a_token(live: Live) -> None:
    """GET /board and its assets need no token; an unknown asset is the UAPI 404."""
    page = await live.api.client.get("/board")
    assert page.status == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert "board.js" in await page.text()
    for name, ctype in (("board.js", "text/javascript"), ("board.css", "text/css")):
        resp = await live.api.client.get(f"/board/{name}")
        assert (resp.status, resp.headers["Content-Type"].split(";")[0]) == (200, ctype)
    resp = await live.api.client.get("/board/secret.txt")
    assert (resp.status, (await resp.json())["error"]["code"]) == (404, "not_found")


async def test_a_stopping_bridge_ends_its_streams(live: Live) -> None:
    """The app's shutdown ends every open stream after what it had queued: the handler
    returns and the connection's body ends, instead of the HTTP server waiting its shutdown
    timeout for the stream (then cancelling it)."""
    reader = await live.open()
    await reader.until("ready")
    await live.api.app.shutdown()  # what the runner's cleanup calls first
    with pytest.raises(EOFError):
        await reader.next(wait=2.0)
    await poll(lambda: not live.hub.clients)
