"""PhoneCallView.flow: the direction of public legs as the PBX sees them."""

from __future__ import annotations

import pytest

from bridge.domain.model import CallMeta
from bridge.domain.tracker import CallTracker
from bridge.domain.views import _iso_second, iso, phone_call
from tests.domain.replay import EXTENSIONS, T0

CALL = "0123456789abcdef0123"


def api_call(sources: tuple[str, ...], destinations: tuple[str, ...]) -> CallTracker:
    """A tracker with one call placed through the API, its trunk legs up."""
    t = CallTracker(EXTENSIONS.get)
    t.annotate(CALL, CallMeta("0003*210", "12", "crm", None, T0, sources, destinations))
    for i, number in enumerate((*sources, *destinations)):
        if number.startswith("0003*"):
            continue
        uid = f"{CALL}-{i}"
        t.apply(
            {
                "Event": "Newchannel",
                "Uniqueid": uid,
                "Linkedid": CALL,
                "ChannelState": "0",
                "Channel": f"PJSIP/trunk-0000000{i}",
            },
            T0,
        )
        t.apply(
            {
                "Event": "DialBegin",
                "Channel": "Local/s@uapi-source-00000001;2",
                "Uniqueid": f"{CALL}-x",
                "DestUniqueid": uid,
                "DialString": f"{number}@trunk",
            },
            T0,
        )
        t.apply(
            {"Event": "Newstate", "Uniqueid": uid, "Linkedid": CALL, "ChannelState": "6"}, T0 + 1
        )
    return t


@pytest.mark.parametrize(
    ("sources", "destinations"),
    [
        (("5550001",), ("5551234",)),  # public to public: the PBX calls both out
        (("5550001",), ("0003*024",)),  # a public source is called out too
        (("0003*210",), ("5551234",)),
    ],
)
def test_public_legs_of_an_api_call_are_outgoing(
    sources: tuple[str, ...], destinations: tuple[str, ...]
) -> None:
    """Every view of an API call with a public party shows flow 4 (outgoing public)."""
    t = api_call(sources, destinations)
    views = phone_call(t.calls[CALL], t.channels)["phoneCallView"]
    assert len(views) == 2
    assert {v["flow"] for v in views} == {"4"}


def test_local_api_call_is_flow_2() -> None:
    """Two extensions: flow 2 (local)."""
    t = api_call(("0003*210",), ("0003*024",))
    assert {v["flow"] for v in phone_call(t.calls[CALL], t.channels)["phoneCallView"]} == {"2"}


def test_times_are_shown_to_the_second_and_cached_by_second() -> None:
    """`iso` truncates to the second, as `isoformat(timespec="seconds")` does, and its cache
    holds one entry per second, not one per float (that grew with every call: issue 27)."""
    _iso_second.cache_clear()
    assert iso(1765056608.0) == "2025-12-06T21:30:08Z"
    assert iso(1765056608.999) == "2025-12-06T21:30:08Z"
    for n in range(1000):
        assert iso(1765056609 + n / 1000) == "2025-12-06T21:30:09Z"
    assert _iso_second.cache_info().currsize == 2
