"""Which PhoneCallEvents the recorded sandbox calls fire, with their callback parameters."""

from __future__ import annotations

from bridge.domain.phonecallevents import (
    ANSWER_IN,
    ANSWER_OUT,
    DIAL_IN,
    DIAL_OUT,
    HANGUP,
    Fired,
    fired,
)
from tests.domain.replay import load, run


def events(name: str) -> list[Fired]:
    _, effects = run(load(name))
    return [f for e in effects if (f := fired(e)) is not None]


def test_api_call_to_a_public_number_fires_for_the_extension_only() -> None:
    """210 -> 5551234 through the API: DialOut, AnswerOut, Hangup ANSWER for 210, nothing for
    the public number."""
    got = events("two_party")
    assert [(f.extension, f.type) for f in got] == [
        ("0003*210", DIAL_OUT),
        ("0003*210", ANSWER_OUT),
        ("0003*210", HANGUP),
    ]
    hangup = got[-1].params
    assert hangup["CallStatus"] == "ANSWER"
    assert hangup["CallFlow"] == "OUT"
    assert hangup["CallerExtension"] == "0003*210"
    assert hangup["CalledNumber"] == "5551234"
    assert hangup["CallAPIID"] == hangup["CallID"] == got[0].call_id
    assert got[0].params["CallStatus"] == "CALLING"


def test_phone_to_phone_fires_out_for_the_caller_and_in_for_the_callee() -> None:
    """210 dials 024 on the PBX: DialOut/AnswerOut 210, DialIn/AnswerIn 024, both hang up."""
    got = events("phone_to_phone")
    kinds = {(f.extension, f.type) for f in got}
    assert kinds == {
        ("0003*210", DIAL_OUT),
        ("0003*210", ANSWER_OUT),
        ("0003*210", HANGUP),
        ("0003*024", DIAL_IN),
        ("0003*024", ANSWER_IN),
        ("0003*024", HANGUP),
    }
    dial_in = next(f for f in got if f.type == DIAL_IN)
    assert dial_in.params["CallFlow"] == "IN"
    assert dial_in.params["CalledExtension"] == "0003*024"
    assert dial_in.params["CallerIDNum"] == "210"
    assert dial_in.params["CallerIDName"] == "Phone 210"
    assert dial_in.params["CallAPIID"] == ""  # not placed through the API


def test_busy_and_unanswered_parties_hang_up_with_their_status() -> None:
    """Hangup carries BUSY for the busy phone, CANCEL for the parallel source that lost."""
    assert [f.params["CallStatus"] for f in events("busy") if f.type == HANGUP] == ["BUSY"]
    statuses = {
        f.extension: f.params["CallStatus"] for f in events("parallel_sources") if f.type == HANGUP
    }
    assert statuses == {"0003*025": "ANSWER", "0003*026": "CANCEL", "0003*024": "ANSWER"}


def test_keys_make_one_delivery_per_call_extension_and_type() -> None:
    """No two fired events of one call share a key."""
    for name in ("two_party", "phone_to_phone", "parallel_sources", "hangup_by_source"):
        keys = [f.key for f in events(name)]
        assert len(keys) == len(set(keys)), name
