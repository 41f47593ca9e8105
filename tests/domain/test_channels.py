"""PhoneCall ids from Linkedids, channel names to endpoints, channels grouped by call."""

from __future__ import annotations

import pytest

from bridge.domain.callids import phone_call_id
from bridge.domain.channels import dial_target, group_by_call


def test_api_call_keeps_its_id() -> None:
    """A Linkedid that is an API id (20 hex) is the PhoneCall id itself."""
    assert phone_call_id("c3e92a04ff422a7a0b9f") == "c3e92a04ff422a7a0b9f"


def test_pbx_call_gets_a_stable_hex_id() -> None:
    """A native Asterisk Linkedid maps to the same 20-hex id every time, distinct per call."""
    first = phone_call_id("1795390535.23")
    assert first == phone_call_id("1795390535.23")
    assert len(first) == 20
    assert int(first, 16) >= 0
    assert first != phone_call_id("1795390535.24")


@pytest.mark.parametrize(
    ("name", "target"),
    [
        ("PJSIP/210-0000001d", "PJSIP/210"),
        ("PJSIP/trunk-0000001e", "PJSIP/trunk"),
        ("Local/s@uapi-source-00000006;2", "Local/s@uapi-source"),
        ("PJSIP/210", "PJSIP/210"),
    ],
)
def test_dial_target(name: str, target: str) -> None:
    """The -suffix (and ;1/;2 of Local channels) is dropped."""
    assert dial_target(name) == target


def test_group_by_call() -> None:
    """Channels sharing a Linkedid form one call."""
    chans = [
        {"Channel": "PJSIP/210-1", "Linkedid": "c3e92a04ff422a7a0b9f"},
        {"Channel": "PJSIP/024-2", "Linkedid": "c3e92a04ff422a7a0b9f"},
        {"Channel": "PJSIP/300-3", "Linkedid": "99.1"},
    ]
    calls = group_by_call(chans)
    assert sorted(len(v) for v in calls.values()) == [1, 2]
    assert [c["Channel"] for c in calls["c3e92a04ff422a7a0b9f"]] == ["PJSIP/210-1", "PJSIP/024-2"]
