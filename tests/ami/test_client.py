"""AmiClient against the fake AMI server: one test per fault the client must survive."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, MutableMapping
from typing import Any

import pytest
from panoramisk.message import Message

from bridge.ami.client import AmiClient
from bridge.errors import AmiActionFailed, AmiActionTimeout, AmiInjection, PbxUnavailable
from tests.polling import until

from .conftest import Seen
from .fake_ami import FakeAmi, frame

Logs = list[MutableMapping[str, Any]]
MakeClient = Callable[..., AmiClient]


def events_named(logs: Logs, name: str) -> Logs:
    return [entry for entry in logs if entry["event"] == name]


async def test_login_failure_is_retried_until_it_succeeds(
    logs: Logs, fake: FakeAmi, make_client: MakeClient
) -> None:
    """A refused Login is logged without the secret and retried with backoff until it works."""
    fake.secret = "something-else"
    client = make_client()
    await client.start()
    await until(lambda: len(fake.named("Login")) >= 3, what="three logins")
    assert not client.connected
    fake.secret = "s3cret"
    assert await client.wait_connected(3.0)
    failures = events_named(logs, "ami.login.failed")
    assert len(failures) >= 2
    assert [f["attempt"] for f in failures[:2]] == [1, 2]
    assert all(f["delay"] > 0 for f in failures)
    assert "Authentication failed" in failures[0]["reason"]
    assert "s3cret" not in repr(logs)
    assert client.stats.reconnects == 0  # the first successful login is not a reconnect
    assert client.stats.connect_attempts == len(fake.conns)


async def test_silent_action_times_out_and_the_client_still_works(
    client: AmiClient, fake: FakeAmi, seen: Seen
) -> None:
    """No answer -> AmiActionTimeout; a late answer is dropped; the next action works."""
    fake.late["command"] = 0.3
    with pytest.raises(AmiActionTimeout):
        await client.send({"Action": "Command", "Command": "core show uptime"}, timeout=0.1)
    assert client.stats.actions_timed_out == 1
    await asyncio.sleep(0.35)  # let the late answer arrive
    answer = await client.send({"Action": "Originate", "Channel": "PJSIP/210"})
    assert answer["Message"] == "Originate successfully queued"
    assert client.connected
    assert all("Response" not in e or "Event" in e for e in seen.events)


async def test_link_dropped_during_originate_is_never_resent(
    client: AmiClient, fake: FakeAmi, seen: Seen
) -> None:
    """Originate fails with PbxUnavailable, the client reconnects, Asterisk saw ONE Originate."""
    fake.drop_on.add("originate")
    with pytest.raises(PbxUnavailable, match="not re-sent"):
        await client.send({"Action": "Originate", "Channel": "PJSIP/210", "Async": "true"})
    fake.drop_on.clear()
    await until(
        lambda: client.stats.reconnects == 1 and len(seen.connects) == 2,
        what="reconnect and resync",
    )
    await client.send({"Action": "Ping"})  # one more round trip on the new link
    assert len(fake.named("Originate")) == 1
    assert len(fake.conns) == 2
    assert fake.conns[1].actions[0]["Action"] == "Login"
    assert "Originate" not in [a["Action"] for a in fake.conns[1].actions]
    assert len(seen.disconnects) == 1


async def test_half_open_link_is_noticed_by_ping(
    logs: Logs, client: AmiClient, fake: FakeAmi, seen: Seen
) -> None:
    """Pings going unanswered on an open TCP link drop it and a new link is made."""
    first = fake.current
    first.answer_pings = False
    await until(lambda: client.stats.reconnects == 1, what="reconnect")
    await until(first.closed.is_set, what="old link closed by the client")
    assert events_named(logs, "ami.ping.timeout")
    assert "Ping" in seen.disconnects[0]
    assert client.connected
    assert (await client.send({"Action": "Ping"}))["Ping"] == "Pong"


async def test_a_late_pong_behind_events_keeps_the_link(
    logs: Logs, client: AmiClient, fake: FakeAmi, seen: Seen
) -> None:
    """Pings answered after ping_timeout while events keep arriving (a backlog, not a dead
    link) do not drop it; once nothing arrives at all, the next unanswered Ping does."""
    first = fake.current
    first.answer_pings = False
    for n in range(30):  # 1.5 s of events, longer than ping_interval + ping_timeout (0.6 s)
        await fake.send_raw(
            f"Event: Newchannel\r\nChannel: PJSIP/210-{n}\r\n\r\n".encode(), pause=0.05
        )
    assert events_named(logs, "ami.ping.late")
    assert not events_named(logs, "ami.ping.timeout")
    assert client.stats.reconnects == 0
    assert not first.closed.is_set()
    assert len(seen.named("Newchannel")) == 30
    await until(lambda: client.stats.reconnects == 1, what="reconnect once the events stop")
    assert events_named(logs, "ami.ping.timeout")


async def test_frame_split_across_writes(client: AmiClient, fake: FakeAmi, seen: Seen) -> None:
    """An event cut into three TCP writes (mid-header, mid-frame-end) arrives whole."""
    await fake.send_raw(b"Event: Newchannel\r\nChan", b"nel: PJSIP/210-1\r\n\r", b"\n")
    await until(lambda: seen.named("Newchannel"), what="Newchannel")
    assert seen.named("Newchannel")[0]["Channel"] == "PJSIP/210-1"


async def test_utf8_character_split_across_writes(
    client: AmiClient, fake: FakeAmi, seen: Seen
) -> None:
    """A UTF-8 character cut between two TCP writes is decoded exactly."""
    await fake.send_raw(b"Event: Newchannel\r\nCallerIDName: Zo\xc3", b"\xab\r\n\r\n")
    await until(lambda: seen.named("Newchannel"), what="Newchannel")
    assert seen.named("Newchannel")[0]["CallerIDName"] == "Zoë"


async def test_two_events_run_together(client: AmiClient, fake: FakeAmi, seen: Seen) -> None:
    """Two events without a blank line between them both arrive, in order."""
    await fake.send_raw(
        b"Event: Newchannel\r\nChannel: A\r\nEvent: Hangup\r\nChannel: A\r\n\r\n"
        + frame(("Event", "Newstate"), ("Channel", "B"))
    )
    await until(lambda: seen.named("Newstate"), what="Newstate")
    names = [e["Event"] for e in seen.events if e["Event"] != "FullyBooted"]
    assert names == ["Newchannel", "Hangup", "Newstate"]


async def test_malformed_frame_between_good_ones(
    logs: Logs, client: AmiClient, fake: FakeAmi, seen: Seen
) -> None:
    """Garbage between two events is logged and skipped; both events arrive, in order."""
    await fake.send_raw(
        frame(("Event", "Newchannel"), ("Channel", "A"))
        + b"\xff\xfe garbage without colon\r\n\r\n"
        + frame(("Event", "Hangup"), ("Channel", "A"))
    )
    await until(lambda: seen.named("Hangup"), what="Hangup")
    names = [e["Event"] for e in seen.events if e["Event"] != "FullyBooted"]
    assert names == ["Newchannel", "Hangup"]
    assert client.stats.frames_malformed == 1
    assert events_named(logs, "ami.frame.malformed")[0]["reason"] == "no Event or Response header"
    assert client.connected


async def test_handler_exception_does_not_stop_later_events(
    logs: Logs, client: AmiClient, fake: FakeAmi, seen: Seen
) -> None:
    """An event handler that raises is logged; later events still reach every handler."""

    def explode(message: Any) -> None:
        if message["Event"] == "Newchannel":
            raise RuntimeError("handler bug")

    client.add_event_handler(explode)
    await fake.send_raw(frame(("Event", "Newchannel")) + frame(("Event", "Hangup")))
    await until(lambda: seen.named("Hangup"), what="Hangup")
    assert seen.named("Newchannel")
    failed = events_named(logs, "ami.handler.failed")
    assert failed
    assert failed[0]["kind"] == "event"
    assert client.connected


@pytest.mark.parametrize("bad", ["\r", "\n", "\0"])
@pytest.mark.parametrize("where", ["value", "key"])
async def test_injection_writes_nothing(
    client: AmiClient, fake: FakeAmi, bad: str, where: str
) -> None:
    """CR/LF/NUL in a key or value raises AmiInjection and not one byte reaches Asterisk."""
    await client.send({"Action": "Ping"})
    before = bytes(fake.current.raw)
    action = {"Action": "Originate", "Channel": "PJSIP/210"}
    if where == "value":
        action["CallerID"] = f"Evil{bad}Action: Hangup"
    else:
        action[f"Evil{bad}Key"] = "x"
    with pytest.raises(AmiInjection):
        await client.send(action)
    await client.send({"Action": "Ping"})
    after = bytes(fake.current.raw)
    assert after.startswith(before)
    assert b"Evil" not in after
    assert b"Originate" not in after[len(before) :]


async def test_injection_is_checked_even_when_disconnected(make_client: MakeClient) -> None:
    """The guard runs first: AmiInjection, not PbxUnavailable, for a bad action."""
    client = make_client()
    with pytest.raises(AmiInjection):
        await client.send({"Action": "Ping", "X": "a\nb"})


async def test_connect_handler_gets_channels_after_each_login(
    client: AmiClient, fake: FakeAmi, seen: Seen
) -> None:
    """CoreShowChannels runs after every login; its channels reach the connect handler."""
    assert seen.connects == [[]]
    fake.channels = [
        {"Channel": "PJSIP/210-1", "Uniqueid": "c3e9", "Linkedid": "c3e9"},
        {"Channel": "PJSIP/trunk-2", "Uniqueid": "77.2", "Linkedid": "c3e9"},
    ]
    fake.drop()
    await until(lambda: len(seen.connects) == 2, what="second resync")
    channels = seen.connects[1]
    assert [c["Uniqueid"] for c in channels] == ["c3e9", "77.2"]
    assert all(c["Event"] == "CoreShowChannel" for c in channels)
    assert not seen.named("CoreShowChannel")  # list items are not events for the handlers


async def test_login_asks_for_few_classes_and_filters_events(
    client: AmiClient, fake: FakeAmi
) -> None:
    """Login carries the restricted event mask; a whitelist Filter follows it."""
    actions = fake.conns[0].actions
    assert actions[0]["Action"] == "Login"
    assert actions[0]["Events"] == "call,system"
    filters = [a for a in actions if a["Action"] == "Filter"]
    assert filters
    assert actions.index(filters[0]) == 1
    assert filters[0]["Operation"] == "Add"
    pattern = str(filters[0]["Filter"])
    for name in ("Newchannel", "Hangup", "OriginateResponse", "Shutdown", "FullyBooted"):
        assert name in pattern
    assert "VarSet" not in pattern
    assert actions[len(filters) + 1]["Action"] == "CoreShowChannels"


async def test_filter_failure_is_a_warning(
    logs: Logs, fake: FakeAmi, make_client: MakeClient, seen: Seen
) -> None:
    """If Asterisk refuses Filter, a warning is logged and the link is used anyway."""
    fake.filter_error = True
    client = make_client()
    await client.start()
    assert await client.wait_connected(3.0)
    await until(lambda: seen.connects, what="resync")
    assert events_named(logs, "ami.filter.failed")[0]["reason"] == "Permission denied"
    assert (await client.send({"Action": "Ping"}))["Ping"] == "Pong"


async def test_originate_resolves_on_queued_response(
    client: AmiClient, fake: FakeAmi, seen: Seen
) -> None:
    """Async Originate returns on "successfully queued"; OriginateResponse goes to the handlers."""
    fake.originate_event_delay = 0.3
    loop = asyncio.get_running_loop()
    started = loop.time()
    answer = await client.send(
        {
            "Action": "Originate",
            "Channel": "PJSIP/210",
            "Async": "true",
            "ChannelId": "c3e92a04ff422a7a0b9f",
        }
    )
    assert loop.time() - started < 0.25
    assert answer["Message"] == "Originate successfully queued"
    await until(lambda: seen.named("OriginateResponse"), what="OriginateResponse")
    event = seen.named("OriginateResponse")[0]
    assert event["ActionID"] == answer["ActionID"]
    assert event["Uniqueid"] == "c3e92a04ff422a7a0b9f"


async def test_error_response_raises_action_failed(client: AmiClient) -> None:
    """`Response: Error` becomes AmiActionFailed with Asterisk's message."""
    with pytest.raises(AmiActionFailed) as caught:
        await client.send({"Action": "NoSuchAction"})
    assert caught.value.action == "NoSuchAction"
    assert caught.value.message == "Invalid/unknown command"


async def test_send_list_and_list_through_send(client: AmiClient, fake: FakeAmi) -> None:
    """send_list collects the items; send on a list action raises clearly, leaking nothing."""
    fake.channels = [{"Channel": "PJSIP/210-1", "Uniqueid": "1.1"}]
    items = await client.send_list({"Action": "CoreShowChannels"})
    assert [i["Uniqueid"] for i in items] == ["1.1"]
    with pytest.raises(AmiActionFailed, match="send_list"):
        await client.send({"Action": "CoreShowChannels"})
    assert (await client.send({"Action": "Ping"}))["Ping"] == "Pong"


async def test_send_while_disconnected_fails_at_once(
    fake: FakeAmi, make_client: MakeClient
) -> None:
    """Before login, and while Asterisk is down, send raises PbxUnavailable immediately."""
    client = make_client()
    with pytest.raises(PbxUnavailable):
        await client.send({"Action": "Ping"})
    await client.start()
    assert await client.wait_connected(3.0)
    await fake.refuse()
    fake.drop()
    await until(lambda: not client.connected, what="disconnect")
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(PbxUnavailable, match="not connected"):
        await client.send({"Action": "Ping"})
    assert loop.time() - started < 0.05


async def test_refused_connections_are_retried(
    logs: Logs, fake: FakeAmi, make_client: MakeClient
) -> None:
    """While Asterisk refuses connections every try is logged with attempt and delay."""
    await fake.refuse()
    client = make_client()
    await client.start()
    await until(lambda: len(events_named(logs, "ami.connect.failed")) >= 3, what="3 failures")
    failed = events_named(logs, "ami.connect.failed")
    assert [f["attempt"] for f in failed[:3]] == [1, 2, 3]
    assert all(0.02 <= f["delay"] <= 0.1 for f in failed)
    assert not client.connected
    await fake.start()
    assert await client.wait_connected(3.0)


async def test_oversized_frame_drops_the_link(logs: Logs, client: AmiClient, fake: FakeAmi) -> None:
    """More than 1 MiB without a frame end is logged, the link dropped and made again."""
    await fake.send_raw(b"Event: Newchannel\r\nJunk: " + b"x" * (1 << 20) + b"x" * 1024)
    await until(lambda: client.stats.reconnects == 1, what="reconnect")
    assert events_named(logs, "ami.frame.malformed")


async def unanswered_command(client: AmiClient, fake: FakeAmi) -> asyncio.Task[Message]:
    """A Command action the fake server receives and never answers."""
    fake.silent.add("command")
    waiting = asyncio.create_task(client.send({"Action": "Command", "Command": "x"}, timeout=5))
    await until(lambda: fake.named("Command"), what="Command on the wire")
    return waiting


async def test_close_leaves_nothing_running(client: AmiClient, fake: FakeAmi, seen: Seen) -> None:
    """close() logs off, fails waiting actions, calls disconnect handlers, leaves no task."""
    waiting = await unanswered_command(client, fake)
    await asyncio.wait_for(client.close(), 5.0)
    with pytest.raises(PbxUnavailable):
        await waiting
    assert asyncio.all_tasks() == {asyncio.current_task()}
    assert not client.connected
    assert seen.disconnects == ["client closed"]
    await until(lambda: fake.named("Logoff"), what="Logoff")
    await client.close()  # a second close is harmless


async def test_clean_eof_fails_waiting_actions_and_reconnects(
    client: AmiClient, fake: FakeAmi, seen: Seen
) -> None:
    """Asterisk closing the socket (FIN, not reset) fails the waiting action and reconnects."""
    waiting = await unanswered_command(client, fake)
    fake.current.writer.close()
    with pytest.raises(PbxUnavailable, match="closed by Asterisk"):
        await waiting
    await until(lambda: client.stats.reconnects == 1, what="reconnect")
    assert seen.disconnects == ["connection closed by Asterisk"]
    assert len(fake.named("Command")) == 1


async def test_a_named_node_says_which_asterisk_failed(
    fake: FakeAmi, make_client: MakeClient
) -> None:
    """With several nodes, every PbxUnavailable names the node: not connected, a link lost
    while the action waited, no answer in time (the single form keeps its messages)."""
    client = make_client(name="node2")
    with pytest.raises(PbxUnavailable, match="not connected to Asterisk node 'node2'"):
        await client.send({"Action": "Ping"})
    await client.start()
    assert await client.wait_connected(3.0)
    waiting = await unanswered_command(client, fake)
    fake.drop()
    with pytest.raises(PbxUnavailable, match=r"AMI link lost .*\(Asterisk node 'node2'\)"):
        await waiting
    assert await client.wait_connected(3.0)
    with pytest.raises(PbxUnavailable, match="no answer from Asterisk node 'node2' within"):
        await client.send({"Action": "Command", "Command": "x"}, timeout=0.05)
