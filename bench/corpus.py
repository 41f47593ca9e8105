"""The benchmark corpus: the recorded sandbox transcripts, replicated with fresh ids, as AMI
wire bytes (what the bridge reads from the socket)."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "ami"
BANNER = b"Asterisk Call Manager/11.0.0\r\n"
_UNIQUEID = re.compile(r"\b(\d{10})\.(\d+)\b")


def transcripts() -> list[tuple[str, list[dict[str, str]]]]:
    """(call id, events) of every recorded call."""
    out = []
    for path in sorted(FIXTURES.glob("*.jsonl")):
        lines = path.read_text().splitlines()
        header = json.loads(lines[0])
        out.append((header["call_id"], [json.loads(line)["event"] for line in lines[1:]]))
    return out


def wire(event: dict[str, str]) -> str:
    return "".join(f"{k}: {v}\r\n" for k, v in event.items()) + "\r\n"


def corpus(replicas: int, start: int = 0) -> tuple[bytes, int]:
    """(AMI bytes without the banner, number of events): every transcript `replicas` times,
    each copy with its own call id and Uniqueids, so the tracker sees distinct calls (copies
    `start` .. `start + replicas - 1`: two corpora with other starts share no id)."""
    base = [(cid, "".join(wire(e) for e in events), len(events)) for cid, events in transcripts()]
    parts: list[str] = []
    count = 0
    for i in range(start, start + replicas):
        for cid, text, n in base:
            fresh = f"{i:08x}{cid[8:]}"
            copy = text.replace(cid, fresh)
            parts.append(_UNIQUEID.sub(rf"\1.{i}\2", copy))
            count += n
    return "".join(parts).encode(), count


def chunks(data: bytes, size: int = 65536) -> list[bytes]:
    """The bytes as socket reads of `size`."""
    return [data[i : i + size] for i in range(0, len(data), size)]


def free_port() -> int:
    """A TCP port nothing listens on (for the benchmarks' own servers)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
