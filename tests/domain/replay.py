"""Feeds the recorded sandbox transcripts (tests/fixtures/ami) to a CallTracker."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge.domain.model import CallMeta, Effect
from bridge.domain.tracker import CallTracker

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ami"
T0 = 1_800_000_000.0  # the replay clock: the fixture's `t` added to this
# The demo config's extensions (config/demo.yaml), by endpoint.
EXTENSIONS = {f"PJSIP/{n}": f"0003*{n}" for n in ("210", "024", "025", "026", "027")}
EXTENSIONS["PJSIP/300"] = "0004*300"
# What the make-call request of each recorded scenario was (scripts/record-ami SCENARIOS).
PLANS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "two_party": (("0003*210",), ("5551234",)),
    "parallel_sources": (("0003*025", "0003*026"), ("0003*024",)),
    "no_answer": (("0003*026",), ("0003*024",)),
    "busy": (("0003*027",), ("0003*024",)),
    "destination_busy": (("0003*210",), ("0003*027",)),
    "call_duration": (("0003*210",), ("0003*024",)),
    "hangup_by_source": (("0003*210",), ("0003*024",)),
}
SCENARIOS = (*PLANS, "phone_to_phone")


@dataclass
class Transcript:
    name: str
    call_id: str
    lines: list[tuple[float, dict[str, str]]]  # (t, event)

    def meta(self) -> CallMeta | None:
        """The CallMeta the API would have stored for this call (None: not an API call)."""
        if self.name not in PLANS:
            return None
        sources, destinations = PLANS[self.name]
        return CallMeta(
            "0003*210" if "0003*210" in sources else sources[0],
            "12",
            "crm",
            None,
            T0,
            sources,
            destinations,
            "Shown To Source <4242425>",
            "Shown To Dest <210>",
        )


def load(name: str) -> Transcript:
    raw = (FIXTURES / f"{name}.jsonl").read_text().splitlines()
    header: dict[str, Any] = json.loads(raw[0])
    lines = [(rec["t"], rec["event"]) for rec in map(json.loads, raw[1:])]
    return Transcript(name, header["call_id"], lines)


def tracker(script: Transcript, *, annotate: bool = True) -> CallTracker:
    """A tracker that knows the demo extensions (and the call's plan, as the API would)."""
    t = CallTracker(EXTENSIONS.get)
    meta = script.meta()
    if annotate and meta is not None:
        t.annotate(script.call_id, meta)
    return t


def replay(
    t: CallTracker,
    script: Transcript,
    until: float | None = None,
) -> Iterator[tuple[float, dict[str, str], list[Effect]]]:
    """Applies the events (those up to `until` seconds), yielding each with its effects."""
    for at, event in script.lines:
        if until is not None and at > until:
            return
        yield at, event, t.apply(event, T0 + at)


def run(
    script: Transcript,
    until: float | None = None,
    *,
    annotate: bool = True,
) -> tuple[CallTracker, list[Effect]]:
    t = tracker(script, annotate=annotate)
    effects = [e for _, _, out in replay(t, script, until) for e in out]
    return t, effects


def snapshot(t: CallTracker) -> list[dict[str, str]]:
    """CoreShowChannel entries for the tracker's live channels, as Asterisk would list them."""
    return [
        {
            "Event": "CoreShowChannel",
            "Channel": c.name,
            "Uniqueid": c.uniqueid,
            "Linkedid": c.call_id,
            "ChannelState": str(c.state),
            "Duration": "00:00:05",
            "Application": "Dial" if c.uniqueid == c.call_id else "AppDial",
            "ApplicationData": "PJSIP/5551234@trunk,10" if c.uniqueid == c.call_id else "",
            "BridgeId": c.bridge or "",
        }
        for c in t.channels.values()
    ]
