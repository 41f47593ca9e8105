"""The history record of a recorded call: dispositions, durations, causes, Hangup Duration."""

from __future__ import annotations

import pytest

from bridge.domain.history import closed, disposition, record, stats
from bridge.domain.model import Call, Effect
from bridge.domain.phonecallevents import HANGUP, fired
from tests.domain.replay import load, run


def _ended(name: str) -> tuple[Call, list[Effect]]:
    _, effects = run(load(name))
    ends = [e for e in effects if e.kind == "ended"]
    assert len(ends) == 1, f"{name} must end exactly once"
    assert ends[0].call is not None
    return ends[0].call, effects


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("two_party", 0),
        ("call_duration", 0),
        ("hangup_by_source", 0),
        ("phone_to_phone", 0),
        ("destination_busy", 1),
        ("no_answer", 4),
    ],
)
def test_call_disposition_from_real_transcripts(name: str, expected: int) -> None:
    """Answered calls are 0, a busy destination 1; a source that never answered leaves the
    destination undialled (unknown, 4)."""
    call, _ = _ended(name)
    assert disposition(call) == expected
    assert record(call).disposition == expected


def test_answered_call_record_has_duration_end_and_cause() -> None:
    """Every view of an answered call has ended, a duration in whole seconds and a cause."""
    call, _ = _ended("call_duration")
    rec = record(call)
    assert rec.ended is not None
    assert rec.answered is not None
    assert rec.body["ended"].endswith("Z")
    views = rec.body["phoneCallView"]
    assert {v["extension"] for v in views} == {"0003*210", "0003*024"}
    for view in views:
        assert view["disposition"] == "0"
        assert int(view["duration"]) >= 1
        assert view["hangupCause"].isdigit()
    assert {p.key: p.role for p in rec.parties} == {"0003*210": "source", "0003*024": "destination"}


def test_busy_destination_view_is_busy_with_no_duration() -> None:
    """The busy party's view: disposition 1, duration 0, no answered."""
    call, _ = _ended("destination_busy")
    view = next(v for v in record(call).body["phoneCallView"] if v["extension"] == "0003*027")
    assert view["disposition"] == "1"
    assert view["duration"] == "0"
    assert "answered" not in view


def test_hangup_webhook_carries_duration() -> None:
    """Hangup parameters gain Duration (seconds talking), the same as the record's."""
    call, effects = _ended("call_duration")
    hangups = [f for f in map(fired, effects) if f is not None and f.type == HANGUP]
    assert hangups
    views = {v["extension"]: v["duration"] for v in record(call).body["phoneCallView"]}
    for due in hangups:
        assert due.params["Duration"] == views[due.extension]
        assert int(due.params["Duration"]) >= 1


def test_closed_marks_views_of_unknown_end_as_unknown() -> None:
    """A call gone across a restart: unanswered views without an end become disposition 4."""
    body = {
        "id": "x",
        "phoneCallView": [
            {"id": "00", "extension": "0003*210", "disposition": "3"},
            {
                "id": "01",
                "extension": "0003*024",
                "answered": "2026-01-01T00:00:00Z",
                "disposition": "0",
            },
            {
                "id": "02",
                "extension": "5551234",
                "disposition": "1",
                "ended": "2026-01-01T00:00:01Z",
            },
        ],
    }
    out = closed(body, 1_800_000_000.0)
    assert out["ended"] == "2027-01-15T08:00:00Z"
    assert [v["disposition"] for v in out["phoneCallView"]] == ["4", "0", "1"]
    assert out["phoneCallView"][2]["ended"] == "2026-01-01T00:00:01Z"


def test_stats_count_by_direction_and_disposition() -> None:
    """phoneCallStat: type 0 incoming, 1 outgoing; unanswered is everything not answered."""
    out = stats([(1, 0, 3), (1, 1, 2), (0, 3, 4), (0, 5, 1)])
    assert out[0] == {
        "type": "0",
        "total": "5",
        "answered": "0",
        "unanswered": "5",
        "busy": "0",
        "failed": "0",
        "unknown": "0",
        "unallowed": "1",
    }
    assert out[1] == {
        "type": "1",
        "total": "5",
        "answered": "3",
        "unanswered": "2",
        "busy": "2",
        "failed": "0",
        "unknown": "0",
        "unallowed": "0",
    }
