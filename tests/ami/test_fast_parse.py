"""The one-pass parser gives exactly what the careful parser gives, on every recorded event."""

from __future__ import annotations

import pytest

from bench.corpus import transcripts, wire
from bridge.ami.framing import Framer, _parse_plain, parse_frame, parse_frame_carefully, plain

EVENTS = [e for _, events in transcripts() for e in events]


def test_every_recorded_event_takes_the_fast_path_with_the_same_result() -> None:
    """Each of the recorded events parses in one pass, equal to the careful parse."""
    assert len(EVENTS) > 200
    for event in EVENTS:
        text = wire(event).removesuffix("\r\n\r\n")
        fast = _parse_plain(text)
        assert fast is not None, text
        [careful] = parse_frame_carefully(text)
        assert dict(fast.items()) == dict(careful.items())
        assert fast["event"] == event["Event"]  # case-insensitive look-ups still work
        assert plain(fast) == event


@pytest.mark.parametrize(
    "text",
    [
        "Event: A\nChannel: x",  # LF only
        "Event: A\r\nChannel:x",  # no space after the colon
        "Response: Success\r\nActionID: 1\r\nEvent: B\r\nChannel: y",  # run together
        "Response: Follows\r\nPrivilege: Command\r\nsome output",
        "Event: A\r\nChanVariable: a=1\r\nChanVariable: b=2",  # a key twice: a list
        "Event: \r\nChannel: x",  # empty Event
        "Channel: x\r\nEvent: A",  # Event not first
        "Response: 200\r\nResult: %2Fa",  # panoramisk unquotes Result
    ],
)
def test_odd_frames_take_the_careful_path(text: str) -> None:
    """Anything but the plain form is left to the careful parser, which decides."""
    assert _parse_plain(text) is None
    assert parse_frame(text) == parse_frame_carefully(text)


def test_framer_splits_crlf_and_mixed_frame_ends_alike() -> None:
    """The same events written with CRLF or LF frame ends, in odd read sizes, parse the same."""
    body = "".join(wire(e) for e in EVENTS[:40])
    for text in (body, body.replace("\r\n", "\n")):
        framer = Framer()
        data = ("Asterisk Call Manager/11.0.0\r\n" + text).encode()
        got = []
        for i in range(0, len(data), 777):
            got.extend(framer.feed(data[i : i + 777]))
        assert [plain(m) for m in got] == EVENTS[:40]
