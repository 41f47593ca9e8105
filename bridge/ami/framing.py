"""Bytes read from Asterisk -> AMI messages: banner, frame ends, split UTF-8, bad frames.

Pure (no I/O): the client feeds it whatever each read returned and gets back parsed messages
(`AmiMessage`) and `Malformed` records in stream order. Nothing here raises on bad input.
panoramisk's parser handles only the odd frames, and its `Message` never leaves this module.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from typing import Any

from panoramisk.message import Message

from bridge.ami.message import AmiMessage

BANNER = "Asterisk Call Manager/"
MAX_BUFFER = 1 << 20  # characters buffered without a frame end before the link is given up
_FRAME_END = re.compile(r"\r?\n\r?\n")
_STARTS = ("event", "response")
_QUOTED = frozenset(k.lower() for k in Message.quoted_keys)  # panoramisk unquotes these
_SHOWN = 200  # characters of a bad frame kept for the log


@dataclass(frozen=True)
class Malformed:
    """A frame that was skipped; `fatal` means the stream cannot be trusted any more."""

    reason: str
    text: str
    fatal: bool = False


class Framer:
    """Incremental AMI reader for one TCP connection."""

    def __init__(self, max_buffer: int = MAX_BUFFER) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buf = ""
        self._scanned = 0
        self._max = max_buffer
        self._banner_pending = True
        self.version: str | None = None

    def feed(self, data: bytes) -> list[Any]:
        """Returns the messages (and `Malformed` records) completed by `data`, in order."""
        self._buf += self._decoder.decode(data)
        if self._banner_pending:
            self._take_banner()
        out: list[Any] = []
        if not self._banner_pending:
            for frame in self._frames():
                out.extend(parse_frame(frame))
        if len(self._buf) > self._max:
            out.append(
                Malformed(
                    f"no frame end within {self._max} characters", _shorten(self._buf), fatal=True
                )
            )
            self._buf, self._scanned = "", 0
        return out

    def _take_banner(self) -> None:
        """Consumes `Asterisk Call Manager/x.y.z` (one line, no blank line after it)."""
        buf = self._buf
        if len(buf) < len(BANNER) and BANNER.startswith(buf):
            return
        if not buf.startswith(BANNER):
            self._banner_pending = False
            return
        end = buf.find("\n")
        if end < 0:
            return
        self.version = buf[len(BANNER) : end].strip()
        self._buf = buf[end + 1 :]
        self._banner_pending = False

    def _frames(self) -> list[str]:
        frames = self._buf.split("\r\n\r\n")
        if not any("\n\n" in f or "\n\r\n" in f for f in frames):  # CRLF only: the usual
            self._buf = frames.pop()
            self._scanned = len(self._buf)
            return frames
        return self._frames_mixed()

    def _frames_mixed(self) -> list[str]:
        """Frame ends written as LF or mixed CR LF (not from Asterisk, but survivable)."""
        frames: list[str] = []
        buf, start = self._buf, 0
        pos = max(0, self._scanned - 3)  # a frame end may straddle the previous read
        while match := _FRAME_END.search(buf, pos):
            frames.append(buf[start : match.start()])
            start = pos = match.end()
        self._buf = buf[start:]
        self._scanned = len(self._buf)
        return frames


def parse_frame(text: str) -> list[Any]:
    """One frame -> its messages; two messages run together (no blank line) are split apart."""
    fast = _parse_plain(text)
    return [fast] if fast is not None else parse_frame_carefully(text)


def parse_frame_carefully(text: str) -> list[Any]:
    """Every frame, however odd: LF endings, `Key:value`, run-together messages, bodies."""
    lines = [line.rstrip("\r") for line in text.split("\n")]
    lines = [line for line in lines if line.strip()]
    return [_parse_message(part) for part in _split_messages(lines)]


def _parse_plain(text: str) -> Any:
    """The frame Asterisk nearly always sends, in one pass: CRLF lines of `Key: value`, an
    Event or Response first, no key twice. None sends it down the careful path.

    Builds the same message panoramisk's parser would (the equality with the careful path is
    tested on every recorded event).
    """
    if text.count("\n") != text.count("\r\n"):
        return None
    pairs = [line.split(": ", 1) for line in text.split("\r\n")]
    try:
        fields = dict(pairs)  # Asterisk's own key case: what the call tracker reads
    except ValueError:  # a line without ": "
        return None
    if len(fields) != len(pairs) or "Result" in fields or "result" in fields:
        return None  # a key twice (a list: careful path); panoramisk unquotes Result
    first, value = pairs[0]
    head = first.lower()
    if head not in _STARTS or not value:
        return None
    if head == "response" and ("Event" in fields or value == "Follows"):
        return None
    return AmiMessage(fields)


def plain(message: AmiMessage) -> dict[str, Any]:
    """A message as a plain dict with Asterisk's own key case (fast look-ups for the tracker)."""
    return message.fields


def _own(message: Message) -> AmiMessage:
    """panoramisk's Message -> ours, through its public mapping interface (`content` is a key
    there: the body of a `Response: Follows`)."""
    fields = dict(message.items())
    content = fields.pop("content", "")
    return AmiMessage(fields, content if isinstance(content, str) else "")


def _split_messages(lines: list[str]) -> list[list[str]]:
    """Starts a new message at an `Event:` line, or at a second `Response:` line.

    An event may carry a `Response:` header (OriginateResponse does), so only a second Response
    or any Event after a start begins a new message.
    """
    parts: list[list[str]] = []
    current: list[str] = []
    seen: set[str] = set()
    for line in lines:
        key = _key(line)
        if current and key in _STARTS and ("response" in seen or (key == "event" and bool(seen))):
            parts.append(current)
            current, seen = [], set()
        current.append(line)
        if key in _STARTS:
            seen.add(key)
    if current:
        parts.append(current)
    return parts


def _parse_message(lines: list[str]) -> Any:
    text = "\r\n".join(lines)
    head = _key(lines[0])
    if head not in _STARTS:
        return Malformed("no Event or Response header", _shorten(text))
    if not lines[0].partition(":")[2].strip():
        return Malformed(f"empty {head} header", _shorten(text))
    if not lines[0].lower().startswith("response: follows"):  # old Command output has a body
        if any(":" not in line for line in lines):
            return Malformed("header without colon", _shorten(text))
        text = "\r\n".join(_normalize(line) for line in lines)
    try:
        message = Message.from_line(text)
    except Exception as exc:  # noqa: BLE001 - panoramisk's parser is not ours to trust
        return Malformed(f"unparsable: {type(exc).__name__}", _shorten(text))
    if message is None:
        return Malformed("no Event or Response header", _shorten(text))
    return _own(message)


def _key(line: str) -> str | None:
    if ":" not in line:
        return None
    return line.partition(":")[0].strip().lower()


def _normalize(line: str) -> str:
    """`Key:value` and `Key:` -> `Key: value`, the only form panoramisk's parser keeps."""
    key, _, value = line.partition(":")
    return f"{key}: {value.removeprefix(' ')}"


def _shorten(text: str) -> str:
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "..."
