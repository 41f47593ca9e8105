"""PhoneCallEvents: which webhooks a call's effects fire, with VoipNow's callback parameters.

Pure. An extension that places a call (a source) gets DialOut and AnswerOut, one that is rung
(a destination) DialIn and AnswerIn; every extension gets Hangup when it leaves the call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum

from bridge.domain.model import Call, Effect, Party
from bridge.domain.recordings import recording_ids


class EventType(IntEnum):
    """The PhoneCallEvents types, numbered as VoipNow's page numbers them (the one table)."""

    DialIn = 0
    DialOut = 1
    Hangup = 2
    AnswerIn = 3
    AnswerOut = 4


# Plain ints (what the API, the store and the webhooks carry), named after the table.
DIAL_IN, DIAL_OUT, HANGUP, ANSWER_IN, ANSWER_OUT = (int(t) for t in EventType)
TYPES = tuple(int(t) for t in EventType)
TYPE_NAMES = {int(t): t.name for t in EventType}
_CALLER = re.compile(r"^(?P<name>.*?)\s*<(?P<num>[^>]*)>$")


@dataclass(frozen=True)
class Fired:
    """One event type due for one extension of one call, with the callback parameters."""

    call_id: str
    extension: str
    type: int
    params: dict[str, str]

    @property
    def key(self) -> str:
        """At most one delivery per call, extension and type (and registration)."""
        return f"{self.call_id}:{self.extension}:{self.type}"


def event_type(effect: Effect) -> int | None:
    """The PhoneCallEvent type an effect fires for its party, if any."""
    if not effect.is_extension or effect.party is None:
        return None
    outgoing = effect.role == "source"
    return {
        "joined": DIAL_OUT if outgoing else DIAL_IN,
        "answered": ANSWER_OUT if outgoing else ANSWER_IN,
        "left": HANGUP,
    }.get(effect.kind)


def fired(effect: Effect) -> Fired | None:
    """What `effect` fires, with the parameters of the callback request."""
    kind = event_type(effect)
    if kind is None or effect.call is None or effect.party is None:
        return None
    call = effect.call
    party = call.parties.get(effect.party)
    status = {HANGUP: effect.status or "NOANSWER", ANSWER_IN: "ANSWER", ANSWER_OUT: "ANSWER"}.get(
        kind, "CALLING"
    )
    params = parameters(call, party, status)
    if kind == HANGUP:  # seconds talking, beside VoipNow's parameters (issue 13)
        params["Duration"] = str(party.talked(call.answered) if party is not None else 0)
        _recordings(call, params)
    return Fired(call.id, effect.party, kind, params)


def charged(effect: Effect) -> Fired | None:
    """What fires for the extension a call is charged to when that extension is no party of
    it (a Callback or Conference extension: the bridge dials others for it): DialOut when a
    source is dialled, AnswerOut when a destination answers, Hangup when the call ends."""
    call = effect.call
    if call is None or call.meta is None or call.meta.extension in call.parties:
        return None
    dests = [p for p in call.parties.values() if p.role == "destination"]
    if effect.kind == "joined" and effect.role == "source":
        kind, status = DIAL_OUT, "CALLING"
    elif effect.kind == "answered" and effect.role == "destination":
        kind, status = ANSWER_OUT, "ANSWER"
    elif effect.kind == "ended":
        ends = dests or list(call.parties.values())
        kind, status = HANGUP, ends[0].hangup_status() if ends else "NOANSWER"
    else:
        return None
    params = dict(
        parameters(call, None, status), CallFlow="OUT", CallerExtension=call.meta.extension
    )
    if kind == HANGUP:
        params["Duration"] = str(max((p.talked(call.answered) for p in dests), default=0))
        _recordings(call, params)
    return Fired(call.id, call.meta.extension, kind, params)


def _recordings(call: Call, params: dict[str, str]) -> None:
    """Hangup's `RecordingIDs` (issue 25): the call's recordings, comma-separated, if any."""
    ids = recording_ids(call)
    if ids:
        params["RecordingIDs"] = ",".join(ids)


def parameters(call: Call, party: Party | None, status: str) -> dict[str, str]:
    """CallID, CallerIDNum/Name, CalledDID, CalledExtension, CallStatus, CallFlow,
    CallerExtension, CalledNumber, CallAPIID (uapi.md Part 2 section 9)."""
    parties = list(call.parties.values())
    sources = [p for p in parties if p.role == "source"]
    destinations = [p for p in parties if p.role == "destination"]
    caller = sources[0] if sources else None
    called = destinations[0] if destinations else None
    shown = next((p.caller_id for p in destinations if p.caller_id), None)
    name, number = _split(shown) if shown else ("", _short(caller.key) if caller else "")
    if call.meta is not None and call.meta.destinations:
        dialled = call.meta.destinations[0]
    else:
        dialled = (called.dialled or called.key) if called else ""
    return {
        "CallID": call.id,
        "CallerIDNum": number,
        "CallerIDName": name,
        "CalledDID": "",
        "CalledExtension": next((p.key for p in destinations if p.is_extension), ""),
        "CallStatus": status,
        "CallFlow": "OUT" if party is not None and party.role == "source" else "IN",
        "CallerExtension": caller.key if caller is not None and caller.is_extension else "",
        "CalledNumber": dialled,
        "CallAPIID": call.id if call.meta is not None else "",
    }


def _split(caller_id: str) -> tuple[str, str]:
    match = _CALLER.match(caller_id)
    return (match["name"], match["num"]) if match else ("", caller_id)


def _short(key: str) -> str:
    return key.split("*", 1)[-1]
