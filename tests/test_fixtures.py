"""Sanity checks over the recorded AMI transcripts in tests/fixtures/ami (scripts/record-ami)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "ami"
SCENARIOS = (
    "two_party",
    "parallel_sources",
    "no_answer",
    "busy",
    "destination_busy",
    "call_duration",
    "phone_to_phone",
    "hangup_by_source",
)


def load(name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(header, [{"t": ..., "event": {...}}, ...]) of one fixture."""
    lines = (FIXTURES / f"{name}.jsonl").read_text().splitlines()
    return json.loads(lines[0]), [json.loads(line) for line in lines[1:]]


def events(name: str, kind: str | None = None) -> list[dict[str, Any]]:
    """The events of one fixture, optionally only those named `kind`."""
    return [e["event"] for e in load(name)[1] if kind is None or e["event"]["Event"] == kind]


def test_every_scenario_has_a_fixture() -> None:
    """Each scenario has exactly one .jsonl file, and there are no strays."""
    assert sorted(p.stem for p in FIXTURES.glob("*.jsonl")) == sorted(SCENARIOS)


@pytest.mark.parametrize("name", SCENARIOS)
def test_fixture_parses_with_header(name: str) -> None:
    """Every line is JSON; the first is the header, the others timed events of that call."""
    header, lines = load(name)
    assert header["scenario"] == name
    assert re.fullmatch(r"[0-9a-f]{20}", header["call_id"])
    assert header["asterisk"].startswith("Asterisk 22")
    assert header["recorded"]
    assert lines
    times = [line["t"] for line in lines]
    assert times == sorted(times)
    for line in lines:
        assert set(line) == {"t", "event"}
        event = line["event"]
        assert "Event" in event
        assert "content" not in event
        assert all(isinstance(v, str) for v in event.values())
        assert (
            any(header["call_id"] in v for v in event.values())
            or event["Event"] == "OriginateResponse"
        )


@pytest.mark.parametrize("name", SCENARIOS)
def test_every_channel_hangs_up(name: str) -> None:
    """Every Newchannel has one Hangup, after which only a stray NewCallerid may name it."""
    created = [e["Uniqueid"] for e in events(name, "Newchannel")]
    hung_up = [e["Uniqueid"] for e in events(name, "Hangup")]
    assert created
    assert sorted(created) == sorted(hung_up)
    gone: set[str] = set()
    for event in events(name):
        if event.get("Uniqueid") in gone and event["Event"] != "OriginateResponse":
            assert event["Event"] == "NewCallerid", event  # Local ;1 after its Hangup (busy)
        if event["Event"] == "Hangup":
            gone.add(event["Uniqueid"])
    assert events(name)[-1]["Event"] in {"Hangup", "NewCallerid"}


@pytest.mark.parametrize("name", SCENARIOS)
def test_one_originate_response(name: str) -> None:
    """Each call has exactly one OriginateResponse, carrying the call id as Uniqueid."""
    header, _ = load(name)
    responses = events(name, "OriginateResponse")
    assert len(responses) == 1
    assert responses[0]["Uniqueid"] == header["call_id"]
    assert responses[0]["ActionID"]


def test_phone_to_phone_has_no_local_channel() -> None:
    """A call not made through the API has only the two PJSIP legs, no Local channel."""
    channels = [e["Channel"] for e in events("phone_to_phone", "Newchannel")]
    assert sorted(c.split("-")[0] for c in channels) == ["PJSIP/024", "PJSIP/210"]
    assert not any("Local/" in v for e in events("phone_to_phone") for v in e.values())


def test_parallel_loser_is_answered_elsewhere() -> None:
    """The source that did not answer (026) hangs up with "Answered elsewhere"."""
    hangups = {e["Channel"].split("-")[0]: e for e in events("parallel_sources", "Hangup")}
    assert hangups["PJSIP/026"]["Cause-txt"] == "Answered elsewhere"
    assert hangups["PJSIP/025"]["Cause-txt"] == "Normal Clearing"


def test_busy_source_dial_end_is_busy() -> None:
    """The busy source (027) ends its Dial with DialStatus BUSY; the Originate fails."""
    dial_ends = {
        e.get("DestChannel", "").split("-")[0]: e["DialStatus"] for e in events("busy", "DialEnd")
    }
    assert dial_ends["PJSIP/027"] == "BUSY"
    assert events("busy", "OriginateResponse")[0]["Response"] == "Failure"


def test_destination_busy_after_source_answered() -> None:
    """210 answers (the Originate succeeds), then the destination 027 is BUSY."""
    assert events("destination_busy", "OriginateResponse")[0]["Response"] == "Success"
    dial_ends = {
        e["DestChannel"].split("-")[0]: e["DialStatus"]
        for e in events("destination_busy", "DialEnd")
    }
    assert dial_ends["PJSIP/210"] == "ANSWER"
    assert dial_ends["PJSIP/027"] == "BUSY"


def test_no_answer_ends_after_wait() -> None:
    """With UAPI_WAIT=2 the ringing source gives up after about 2 s with NOANSWER."""
    _, lines = load("no_answer")
    dial_end = next(
        line
        for line in lines
        if line["event"]["Event"] == "DialEnd"
        and line["event"].get("DestChannel", "").startswith("PJSIP/026-")
    )
    assert dial_end["event"]["DialStatus"] == "NOANSWER"
    assert 1.5 < dial_end["t"] < 4
    assert not any(e["ChannelStateDesc"] == "Up" for e in events("no_answer", "Newstate"))


def test_trunk_leg_names_the_dialled_number_only_in_dial_string() -> None:
    """The trunk leg is PJSIP/trunk-XXXX; only DialBegin's DialString has 5551234@trunk."""
    begin = next(
        e
        for e in events("two_party", "DialBegin")
        if e.get("DestChannel", "").startswith("PJSIP/trunk-")
    )
    assert begin["DialString"] == "5551234@trunk"


def test_call_duration_hangs_up_by_itself() -> None:
    """S(3): the destination is hung up about 3 s after it answered, with no AMI Hangup."""
    _, lines = load("call_duration")
    up = next(
        line["t"]
        for line in lines
        if line["event"]["Event"] == "Newstate"
        and line["event"]["Channel"].startswith("PJSIP/024-")
        and line["event"]["ChannelStateDesc"] == "Up"
    )
    down = next(
        line["t"]
        for line in lines
        if line["event"]["Event"] == "Hangup" and line["event"]["Channel"].startswith("PJSIP/024-")
    )
    assert 2.5 < down - up < 4.5
