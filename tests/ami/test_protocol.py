"""Pure AMI rules: encoding and the injection guard, filters, backoff, answer correlation."""

from __future__ import annotations

import asyncio
import random
import re

import pytest

from bridge.ami.message import AmiMessage
from bridge.ami.protocol import (
    ActionIds,
    Correlator,
    backoff_delay,
    encode_action,
    event_filters,
    is_list_end,
)
from bridge.errors import AmiActionFailed, AmiInjection, PbxUnavailable


def test_encode_puts_action_and_our_action_id_first() -> None:
    """Action and the fresh ActionID lead; a caller's ActionID is replaced; lists repeat."""
    data = encode_action(
        {
            "actionid": "theirs",
            "Variable": ["A=1", "B=2"],
            "action": "Originate",
            "Channel": "PJSIP/210",
        },
        "ours-1",
    )
    assert data == (
        b"Action: Originate\r\nActionID: ours-1\r\nVariable: A=1\r\nVariable: B=2\r\n"
        b"Channel: PJSIP/210\r\n\r\n"
    )


@pytest.mark.parametrize("bad", ["\r", "\n", "\0", "\r\n"])
@pytest.mark.parametrize("where", ["value", "key", "list item"])
def test_injection_is_refused(bad: str, where: str) -> None:
    """CR, LF or NUL in a key, a value or one item of a list raises AmiInjection."""
    action: dict[str, str | list[str]] = {"Action": "Originate", "Channel": "PJSIP/210"}
    if where == "value":
        action["CallerID"] = f"Bob{bad}Action: Hangup"
    elif where == "key":
        action[f"Caller{bad}ID"] = "Bob"
    else:
        action["Variable"] = ["A=1", f"B=2{bad}Action: Hangup"]
    with pytest.raises(AmiInjection):
        encode_action(action, "x-1")


def test_injection_in_the_action_name_is_refused() -> None:
    """The Action value itself is checked like any other."""
    with pytest.raises(AmiInjection):
        encode_action({"Action": "Ping\r\nAction: Hangup"}, "x-1")


def test_colon_in_a_key_is_refused() -> None:
    """A key holding ':' would make Asterisk read another header name."""
    with pytest.raises(AmiInjection):
        encode_action({"Action": "Originate", "Channel: PJSIP/666\0": "x"}, "x-1")
    with pytest.raises(AmiInjection):
        encode_action({"Action": "Originate", "Channel: PJSIP/666": "x"}, "x-1")


def test_action_key_is_required() -> None:
    """An action without `Action` is a programming error (ValueError)."""
    with pytest.raises(ValueError, match="Action"):
        encode_action({"Channel": "PJSIP/210"}, "x-1")


def test_action_ids_are_fresh() -> None:
    """Two generators never produce the same id; one never repeats."""
    first, second = ActionIds("ami"), ActionIds("ami")
    ids = {first() for _ in range(100)} | {second() for _ in range(100)}
    assert len(ids) == 200


def test_backoff_grows_and_is_capped() -> None:
    """Delays double (jittered) from the minimum, never shrink before the cap, never exceed it."""
    rng = random.Random(42)
    delays = [backoff_delay(attempt, 0.5, 10.0, rng) for attempt in range(1, 40)]
    assert delays[0] == 0.5
    for attempt, delay in enumerate(delays, start=1):
        ceiling = min(10.0, 0.5 * 2 ** (attempt - 1))
        assert max(0.5, ceiling / 2) <= delay <= ceiling, attempt
    assert delays[:5] == sorted(delays[:5])  # 0.5, then [0.5,1], [1,2], [2,4], [4,8]
    capped = delays[6:]
    assert all(5.0 <= d <= 10.0 for d in capped)
    assert len(set(capped)) > 20  # jittered, so clients restarting together spread out


def test_backoff_survives_huge_attempt_numbers() -> None:
    """A link down for days does not overflow the exponent."""
    assert 5.0 <= backoff_delay(10_000, 0.5, 10.0, random.Random(1)) <= 10.0


def test_filters_whitelist_the_events_plus_shutdown_and_fullybooted() -> None:
    """One anchored regex naming every event, with Shutdown and FullyBooted always in."""
    (regex,) = event_filters(["Newchannel", "Hangup"])
    assert regex == "^Event: (FullyBooted|Hangup|Newchannel|Shutdown)[[:space:]]"
    text = "Event: Hangup\r\nPrivilege: call,all\r\n"
    assert re.search(regex.replace("[[:space:]]", r"\s"), text)
    assert not re.search(regex.replace("[[:space:]]", r"\s"), "Event: HangupRequest\r\n")


def test_filter_names_are_escaped() -> None:
    """Regex characters in a name are escaped, not interpreted."""
    (regex,) = event_filters(["Odd.Name|X"])
    assert r"Odd\.Name\|X" in regex


def test_long_event_lists_are_split_under_the_line_limit() -> None:
    """Many names give several filters, each short enough for Asterisk's 1024-byte lines."""
    names = [f"SomeRatherLongEventName{i:03d}" for i in range(100)]
    filters = event_filters(names)
    assert len(filters) > 1
    assert all(len(f"Filter: {f}\r\n") < 1024 for f in filters)
    joined = "|".join(filters)
    assert all(name in joined for name in names)


def test_no_events_means_no_filter() -> None:
    """An empty event collection sends no Filter (every event of the classes comes)."""
    assert event_filters([]) == []


def msg(**headers: str) -> AmiMessage:
    return AmiMessage(headers)


async def test_correlator_routes_answers_and_events() -> None:
    """Responses go to their action, events without a waiting list action go to handlers."""
    answers = Correlator()
    future = answers.expect("a-1", "Originate", listing=False)
    assert answers.route(
        msg(Response="Success", ActionID="a-1", Message="Originate successfully queued")
    )
    assert (await future)["Message"] == "Originate successfully queued"
    assert not answers.route(msg(Event="OriginateResponse", ActionID="a-1", Response="Success"))
    assert not answers.route(msg(Event="Hangup"))


async def test_correlator_drops_late_answers() -> None:
    """After forget(), a late response and late list items are swallowed, the end included."""
    answers = Correlator()
    answers.expect("a-1", "Command", listing=False)
    answers.expect("a-2", "CoreShowChannels", listing=True)
    answers.forget("a-1")
    answers.forget("a-2")
    assert answers.route(msg(Response="Success", ActionID="a-1"))
    assert answers.route(msg(Event="CoreShowChannel", ActionID="a-2"))
    assert answers.route(
        msg(Event="CoreShowChannelsComplete", ActionID="a-2", EventList="Complete")
    )
    assert not answers.route(msg(Event="CoreShowChannel", ActionID="a-2"))


async def test_correlator_list_action_via_send_is_an_error() -> None:
    """A single action answered with an event list fails clearly; its items are swallowed."""
    answers = Correlator()
    future = answers.expect("a-1", "CoreShowChannels", listing=False)
    answers.route(msg(Response="Success", ActionID="a-1", EventList="start"))
    with pytest.raises(AmiActionFailed, match="send_list"):
        await future
    assert answers.route(msg(Event="CoreShowChannel", ActionID="a-1"))


async def test_correlator_collects_a_list() -> None:
    """List items are collected until the Complete event, which is left out."""
    answers = Correlator()
    future = answers.expect("a-1", "CoreShowChannels", listing=True)
    answers.route(msg(Response="Success", ActionID="a-1", EventList="start"))
    answers.route(msg(Event="CoreShowChannel", ActionID="a-1", Channel="A"))
    assert not future.done()
    answers.route(msg(Event="CoreShowChannelsComplete", ActionID="a-1", EventList="Complete"))
    assert [m["Channel"] for m in await future] == ["A"]


async def test_correlator_error_and_link_loss() -> None:
    """`Response: Error` raises AmiActionFailed; fail_all raises PbxUnavailable for the rest."""
    answers = Correlator()
    failed = answers.expect("a-1", "Originate", listing=False)
    lost = answers.expect("a-2", "Hangup", listing=False)
    answers.route(msg(Response="Error", ActionID="a-1", Message="Extension does not exist."))
    answers.fail_all("reset")
    with pytest.raises(AmiActionFailed, match="Extension does not exist"):
        await failed
    with pytest.raises(PbxUnavailable, match="not re-sent"):
        await lost
    await asyncio.sleep(0)


def test_message_get_is_case_blind_and_defaults_for_a_missing_key() -> None:
    """`get` (the fast path the resync leans on) answers as the mapping does: Asterisk's own
    key case, any other case, a header sent twice, and the default for a key not there."""
    message = AmiMessage({"Event": "CoreShowChannel", "Variable": ["a=1", "b=2"]})
    assert message.get("Event") == "CoreShowChannel"
    assert message.get("EVENT") == "CoreShowChannel"
    assert message.get("variable") == ["a=1", "b=2"]
    assert message.get("EventList") is None
    assert message.get("eventlist", "none") == "none"
    assert message.get("EventList", "") == ""
    assert not is_list_end(message)
    assert is_list_end(AmiMessage({"Event": "X", "eventlist": "Complete"}))
