"""Framer: bytes from Asterisk -> messages, whatever the reads look like."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bridge.ami.framing import Framer, Malformed

BANNER = b"Asterisk Call Manager/9.0.0\r\n"
STREAM = (
    BANNER
    + b"Response: Success\r\nActionID: a-1\r\nMessage: Authentication accepted\r\n\r\n"
    + b"Event: Newchannel\r\nChannel: PJSIP/210-0001\r\nCallerIDName: Zo\xc3\xab\r\n\r\n"
    + b"Event: Hangup\r\nChannel: PJSIP/210-0001\r\nCause: 16\r\n\r\n"
)


def feed_all(chunks: list[bytes], framer: Framer | None = None) -> list[Any]:
    framer = framer or Framer()
    out: list[Any] = []
    for chunk in chunks:
        out.extend(framer.feed(chunk))
    return out


def summary(items: list[Any]) -> list[Any]:
    """Comparable form; panoramisk stores the (empty) body as a `content` key, left out here."""
    return [
        ("bad", i.reason)
        if isinstance(i, Malformed)
        else {k: v for k, v in i.items() if k != "content"}
        for i in items
    ]


def test_banner_and_frames_in_one_read() -> None:
    """The banner line is consumed and its version kept; the frames after it are parsed."""
    framer = Framer()
    items = framer.feed(STREAM)
    assert framer.version == "9.0.0"
    assert [m.get("Response") or m.get("Event") for m in items] == [
        "Success",
        "Newchannel",
        "Hangup",
    ]


def test_banner_split_across_reads() -> None:
    """A banner cut in two reads is still recognised and not taken for a frame."""
    framer = Framer()
    assert framer.feed(b"Asterisk Call") == []
    items = framer.feed(b" Manager/9.0.0\r\nEvent: FullyBooted\r\nStatus: Fully Booted\r\n\r\n")
    assert framer.version == "9.0.0"
    assert [m["Event"] for m in items] == ["FullyBooted"]


def test_stream_without_banner() -> None:
    """If the first bytes are not a banner they are parsed as frames."""
    items = Framer().feed(b"Event: FullyBooted\r\nStatus: Fully Booted\r\n\r\n")
    assert [m["Event"] for m in items] == ["FullyBooted"]


def test_every_split_point_gives_the_same_messages() -> None:
    """Cutting the stream into two reads at any byte gives the same messages."""
    expected = summary(Framer().feed(STREAM))
    for cut in range(1, len(STREAM)):
        assert summary(feed_all([STREAM[:cut], STREAM[cut:]])) == expected, cut


def test_utf8_character_split_across_reads() -> None:
    """A two-byte character cut between reads is decoded, not dropped."""
    items = feed_all([b"Event: Newchannel\r\nCallerIDName: Zo\xc3", b"\xab\r\n\r\n"])
    assert items[0]["CallerIDName"] == "Zoë"


def test_bare_lf_frames() -> None:
    """Frames ended by a bare blank line (LF only) are accepted too."""
    items = Framer().feed(b"Event: Newstate\nChannelState: 6\n\nEvent: Hangup\nCause: 16\n\n")
    assert summary(items) == [
        {"Event": "Newstate", "ChannelState": "6"},
        {"Event": "Hangup", "Cause": "16"},
    ]


def test_two_events_run_together_are_both_kept() -> None:
    """Two events with no blank line between them become two messages, in order."""
    items = Framer().feed(b"Event: Newchannel\r\nChannel: A\r\nEvent: Hangup\r\nChannel: B\r\n\r\n")
    assert [(m["Event"], m["Channel"]) for m in items] == [("Newchannel", "A"), ("Hangup", "B")]


def test_response_then_event_run_together() -> None:
    """A response with an event glued to it gives both."""
    items = Framer().feed(b"Response: Success\r\nActionID: 7\r\nEvent: Hangup\r\nCause: 16\r\n\r\n")
    assert [m.get("Event") or m.get("Response") for m in items] == ["Success", "Hangup"]


def test_originate_response_event_is_not_split() -> None:
    """OriginateResponse carries a Response header; that does not start a new message."""
    items = Framer().feed(
        b"Event: OriginateResponse\r\nActionID: x-1\r\nResponse: Success\r\nReason: 4\r\n\r\n"
    )
    assert len(items) == 1
    assert items[0]["Event"] == "OriginateResponse"
    assert items[0]["Response"] == "Success"


def test_malformed_frames_are_reported_and_skipped() -> None:
    """Garbage, a header without colon and a frame with no Event/Response are skipped in place."""
    items = Framer().feed(
        b"Event: Newchannel\r\nChannel: A\r\n\r\n"
        b"\x00\xff garbage \x01\r\n\r\n"
        b"Event: Newstate\r\nthis line has no colon\r\n\r\n"
        b"Foo: bar\r\nBaz: qux\r\n\r\n"
        b"Event: \r\n\r\n"
        b"Event: Hangup\r\nChannel: A\r\n\r\n"
    )
    assert summary(items) == [
        {"Event": "Newchannel", "Channel": "A"},
        ("bad", "no Event or Response header"),
        ("bad", "header without colon"),
        ("bad", "no Event or Response header"),
        ("bad", "empty event header"),
        {"Event": "Hangup", "Channel": "A"},
    ]


def test_header_without_space_or_value() -> None:
    """`Key:value` and an empty `Key:` are kept (panoramisk alone would drop them)."""
    items = Framer().feed(b"Event: Newchannel\r\nAccountCode:\r\nExten:210\r\n\r\n")
    assert items[0]["AccountCode"] == ""
    assert items[0]["Exten"] == "210"


def test_repeated_headers_become_a_list() -> None:
    """Repeated non-start headers (ChanVariable) stay in one message as a list."""
    items = Framer().feed(b"Event: Newchannel\r\nChanVariable: A=1\r\nChanVariable: B=2\r\n\r\n")
    assert items[0]["ChanVariable"] == ["A=1", "B=2"]


def test_buffer_cap_reports_a_fatal_frame() -> None:
    """More than the cap without a frame end gives one fatal Malformed and an empty buffer."""
    framer = Framer(max_buffer=1000)
    items = framer.feed(b"Event: Newchannel\r\n\r\n" + b"x" * 1200)
    assert items[0]["Event"] == "Newchannel"
    assert isinstance(items[1], Malformed)
    assert items[1].fatal
    assert len(items[1].text) < 300
    assert framer.feed(b"\r\n\r\nEvent: Hangup\r\n\r\n")[-1]["Event"] == "Hangup"


@given(st.lists(st.integers(min_value=1, max_value=len(STREAM) - 1), max_size=12))
def test_any_chunking_gives_the_same_messages(cuts: list[int]) -> None:
    """However the stream is cut into reads, the parsed messages are the same."""
    points = [0, *sorted(set(cuts)), len(STREAM)]
    chunks = [STREAM[a:b] for a, b in itertools.pairwise(points)]
    assert summary(feed_all(chunks)) == summary(Framer().feed(STREAM))
