"""Call history (CDR): what an ended call leaves behind, and its statistics (pure).

A history record is the PhoneCall as List showed it, frozen at its end, with per view the
bridge's additions `ended`, `duration` (seconds talking), `hangupCause` and `recording`.
`disposition` (0 answered, 1 busy, 2 failed, 3 no answer, 4 unknown, 5 not allowed) is known
per view; the record's own is that of the call as a whole (see `disposition`).

Several bridges may record the same call (they share the store); `known` ranks what each record
knows, so that the store keeps the best-informed one rather than the last (or first) written.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from bridge.domain.model import Call, Effect, Party, Role
from bridge.domain.views import ends, flow, iso

ANSWERED, BUSY, FAILED, NO_ANSWER, UNKNOWN, NOT_ALLOWED = range(6)
DISPOSITIONS = range(6)
INCOMING, OUTGOING = 0, 1


@dataclass(frozen=True)
class HistoryParty:
    key: str  # extended extension number or public number
    role: str  # source | destination
    is_extension: bool


@dataclass(frozen=True)
class HistoryRecord:
    """One call for the store: the columns it is searched by, and the record shown."""

    id: str
    extension: str
    published: float
    answered: float | None
    ended: float | None  # None: still live (an open record, kept in case the bridge stops)
    disposition: int
    flow: int
    nonce: str | None
    parties: tuple[HistoryParty, ...]
    body: dict[str, Any]
    known: int = 0  # `knowledge`: a record of the same call that knows more replaces it

    @property
    def at(self) -> float:
        """What startDate/endDate filter on: when it was answered, else when it was placed."""
        return self.answered if self.answered is not None else self.published


def party_disposition(party: Party) -> int:
    """A party's disposition: answered if it answered, else what its dial said, else unknown."""
    if party.answered is not None:
        return ANSWERED
    return party.disposition if party.disposition is not None else UNKNOWN


def disposition(call: Call) -> int:
    """The call's disposition: answered when two parties talked; else that of the first
    destination that has one; unknown when nothing is known."""
    if call.answered is not None:
        return ANSWERED
    dests = [p for p in call.parties.values() if p.role == "destination"]
    for party in dests:
        if party.disposition is not None:
            return party.disposition
    return UNKNOWN


def _view(
    call: Call, party: Party, sources: list[str], destinations: list[str], flow_: str
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": party.view_id,
        "extension": party.key,
        "source": sources,
        "destination": destinations,
        "flow": flow_,
        "disposition": str(party_disposition(party)),
    }
    if party.answered is not None:
        out["answered"] = iso(party.answered)
    if party.caller_id is not None:
        out["callerId"] = party.caller_id
    if party.left is not None or call.ended is not None:
        out["ended"] = iso(party.left if party.left is not None else call.ended or 0.0)
    out["duration"] = str(party.talked(call.answered))
    if party.hangup_cause is not None:
        out["hangupCause"] = party.hangup_cause
    if party.takes:
        out["recording"] = party.takes[-1].file
    return out


def knowledge(call: Call) -> int:
    """How much a record of `call` knows, to choose between two bridges' records of it (the
    higher the better): its end (an open record's closing by `closed` keeps the open rank),
    seen (not found gone at a resync), then its answer, then the fewer resyncs it lived
    through (a bridge started or reconnected during the call missed some of it, e.g. parties
    who left meanwhile). What the better record lacks, `merged` takes from the other."""
    ended = call.ended is not None
    seen = ended and not call.ended_unseen
    return 100 * ended + 50 * seen + 10 * (call.answered is not None) + max(0, 9 - call.resyncs)


_Time = TypeVar("_Time", str, float)


def merged(kept: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """Record body `kept` (the better-informed), with each view that does not know its party
    answered taken from `other` where other's does (that bridge saw the party while this one
    did not, e.g. it left before this bridge started), and the views of parties only `other`
    has added (a party one bridge saw was in the call: found by the soak, issue 27, a
    make-call that failed before its phone rang was recorded with no party by the bridge
    that had not placed it, and that record was kept); answered at the earlier of the two
    records' answers, talk times recounted from it when that is other's (a bridge that found
    the call up at a resync dates the answer at the resync: found by the soak, issue 27, a
    record kept the answer of a bridge whose link came back after the answer, and the talk
    time of a party that left before did not add up); each party's end at the earlier of the
    two records' (`_ended_first`)."""
    theirs = {v.get("extension"): v for v in other.get("phoneCallView", [])}
    call_answered = earliest(kept.get("answered"), other.get("answered"))
    views = []
    for view in kept.get("phoneCallView", []):
        alt = theirs.pop(view.get("extension"), {})
        if "answered" in alt and "answered" not in view:
            views.append(_ended_first(dict(alt, id=view.get("id")), view, call_answered))
        else:
            views.append(_ended_first(view, alt, call_answered))
    numbers = {_number(v.get("extension")) for v in views}
    for view in theirs.values():  # in other's order, numbered after kept's
        if _number(view.get("extension")) not in numbers:  # not 410 beside 0003*410
            views.append(dict(view, id=f"{len(views):02d}"))
    out = dict(kept, phoneCallView=views)
    if call_answered is not None and call_answered != kept.get("answered"):
        out["answered"] = call_answered
        out["phoneCallView"] = [_talked(v, call_answered) for v in views]
    return out


def earliest(*times: _Time | None) -> _Time | None:
    """The earliest of the times that are known (ISO strings or epoch seconds), None if none
    is: the moment a call was answered, as two bridges' records give it (a record that learnt
    of the answer at a resync has it late)."""
    known = [t for t in times if t is not None]
    return min(known) if known else None


def _number(extension: object) -> str:
    """A view's number without its organization: a bridge that found a trunk leg at a resync
    may name node 2's 0003*410 by the number it calls from, 410 (found by the soak, issue 27:
    the merged record had both)."""
    return str(extension).split("*", 1)[-1]


def _ended_first(
    taken: dict[str, Any], view: dict[str, Any], call_answered: str | None
) -> dict[str, Any]:
    """`taken` (one record's view of a party) with the party's end at the earlier of its own
    and `view`'s (another record's view of the same party), talk time recounted when that
    moved it. A bridge's end of a party is when it saw the party leave, or later: when a
    resync found its channels gone, or the call's end for a party it never saw a channel of
    (found by the soak, issue 27: a bridge restarted after 210 had transferred its call away
    recorded 210 with the call's end, 11 s late, and that view was kept). An open row's view
    has no end: the other's is taken (found by the soak too: a final record kept 210's answer
    from an open row and lost its end)."""
    ended = earliest(taken.get("ended"), view.get("ended"))
    if ended is None or ended == taken.get("ended"):
        return taken
    out = dict(taken, ended=ended)
    return _talked(out, call_answered) if call_answered else out


def with_parties(parties: Iterable[HistoryParty], body: dict[str, Any]) -> tuple[HistoryParty, ...]:
    """`parties` and, after them, the party of each view of `body` they lack (a view `merged`
    took from another bridge's record), as a source when its view lists it as one."""
    out = {p.key: p for p in parties}
    for view in body.get("phoneCallView", []):
        key = str(view.get("extension", ""))
        if key and key not in out:
            role = "source" if key in view.get("source", []) else "destination"
            out[key] = HistoryParty(key, role, "*" in key)
    return tuple(out.values())


def _talked(view: dict[str, Any], call_answered: str) -> dict[str, Any]:
    """`view` with its talk time counted from `call_answered` (as Party.talked does): a record
    that did not know the call was answered counted 0 s for everyone (found by the soak,
    issue 27: a bridge restarted while 411 was parked never saw two parties talk)."""
    answered, ended, since = (
        _time(view.get("answered")),
        _time(view.get("ended")),
        _time(call_answered),
    )
    if answered is None or ended is None or since is None:
        return view
    return dict(view, duration=str(max(0, int(ended - max(answered, since)))))


def record(call: Call) -> HistoryRecord:
    """The history record of `call` as it stands (final once the tracker has ended it)."""
    sources, destinations = ends(call)
    body: dict[str, Any] = {
        "id": call.id,
        "extension": call.extension or "",
        "published": iso(call.published),
    }
    if call.answered is not None:
        body["answered"] = iso(call.answered)
    nonce = call.meta.nonce if call.meta is not None else None
    if nonce is not None:
        body["nonce"] = nonce
    if call.ended is not None:
        body["ended"] = iso(call.ended)
    call_flow = flow(call)  # once: every view shows the call's
    shown = str(call_flow)
    body["phoneCallView"] = [
        _view(call, p, sources, destinations, shown) for p in call.parties.values()
    ]
    parties = {p.key: HistoryParty(p.key, p.role, p.is_extension) for p in call.parties.values()}
    for key in sources:
        parties.setdefault(key, HistoryParty(key, "source", "*" in key))
    for key in destinations:
        parties.setdefault(key, HistoryParty(key, "destination", "*" in key))
    return HistoryRecord(
        call.id,
        call.extension or "",
        call.published,
        call.answered,
        call.ended,
        disposition(call),
        call_flow,
        nonce,
        tuple(parties.values()),
        body,
        knowledge(call),
    )


def closed(body: dict[str, Any], ended: float) -> dict[str, Any]:
    """An open record whose call was found gone after a restart: ended now, and every view
    whose end is not known has disposition 4 (unknown)."""
    out = dict(body, ended=iso(ended))
    views = []
    for view in body.get("phoneCallView", []):
        v = dict(view)
        if "ended" not in v:
            v["ended"] = iso(ended)
            if "answered" not in v:
                v["disposition"] = str(UNKNOWN)
        views.append(v)
    out["phoneCallView"] = views
    return out


def _time(text: str | None) -> float | None:
    if not text:
        return None
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def gone(body: dict[str, Any]) -> list[Effect]:
    """What a record closed by `closed` tells those who listen for ends (the Hangup webhooks):
    each party left and the call ended, when the bridge found it gone. Nobody saw it end (it
    ended while no bridge watched its node), but it did, and a Hangup is owed for it (found
    by the soak, issue 27: such calls had a record and no Hangup)."""
    call = Call(str(body.get("id", "")), _time(body.get("published")) or 0.0)
    call.answered = _time(body.get("answered"))
    call.ended = _time(body.get("ended"))
    for view in body.get("phoneCallView", []):
        key = str(view.get("extension", ""))
        role: Role = "source" if key in view.get("source", []) else "destination"
        party = call.add_party(key, "*" in key, role)
        party.answered, party.left = _time(view.get("answered")), _time(view.get("ended"))
    out = [
        Effect("left", call.id, p.key, p.role, p.is_extension, p.hangup_status(), call)
        for p in call.parties.values()
    ]
    return [*out, Effect("ended", call.id, call=call)]


def stats(rows: Iterable[tuple[int, int, int]]) -> list[dict[str, str]]:
    """phoneCallStat from (direction, disposition, count) rows: type 0 incoming, 1 outgoing."""
    totals = {d: dict.fromkeys(range(6), 0) for d in (INCOMING, OUTGOING)}
    for direction, disp, count in rows:
        if direction in totals and disp in totals[direction]:
            totals[direction][disp] += count
    out = []
    for direction, by in totals.items():
        total = sum(by.values())
        out.append(
            {
                "type": str(direction),
                "total": str(total),
                "answered": str(by[ANSWERED]),
                "unanswered": str(total - by[ANSWERED]),
                "busy": str(by[BUSY]),
                "failed": str(by[FAILED]),
                "unknown": str(by[UNKNOWN]),
                "unallowed": str(by[NOT_ALLOWED]),
            }
        )
    return out
