"""Server-Sent Events wire frames, each encoded once for every client that shares a view.

The same `id:`/`event:`/`data:` lines as `aiohttp_sse.EventSourceResponse.send`, built once
per event and view instead of once per client (500 clients would otherwise each format it).
"""

from __future__ import annotations

import json
from typing import Any

SEP = "\r\n"


def frame(event: str, data: Any, event_id: str | None = None) -> bytes:
    """One event as SSE bytes; `data` is written as compact JSON (it never holds a newline)."""
    lines = []
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append(f"event: {event}")
    lines.append(f"data: {json.dumps(data, separators=(',', ':'))}")
    return (SEP.join(lines) + SEP + SEP).encode()


def comment(text: str) -> bytes:
    """A comment line: browsers ignore it; proxies see traffic."""
    return f": {text}{SEP}{SEP}".encode()
