"""Presence from AMI events and login listings: status and registration per endpoint."""

from __future__ import annotations

from bridge.domain.presence import Presence

AORS = [
    {"ObjectName": "210", "Contacts": "210/sip:210@127.0.0.1:15061"},
    {"ObjectName": "028", "Contacts": "028/sip:028@127.0.0.1:15068"},
    {"ObjectName": "029", "Contacts": ""},
]
CONTACTS = [{"Uri": "sip:028@127.0.0.1:15068", "UserAgent": "SIPp", "ExpirationTime": "2000"}]


def built() -> Presence:
    p = Presence()
    p.rebuild(
        [
            {"Device": "PJSIP/210", "State": "NOT_INUSE"},
            {"Device": "PJSIP/028", "State": "NOT_INUSE"},
        ],
        AORS,
        CONTACTS,
    )
    return p


def test_rebuild_tells_static_registered_and_missing_contacts() -> None:
    """Static contact: 2; REGISTERed: 1 with expire; an AOR without contact: -1."""
    p = built()
    assert p.view("PJSIP/210", 1000.0) == {
        "status": "1",
        "registration": [{"agent": "", "registration": "2"}],
    }
    assert p.view("PJSIP/028", 1000.0)["registration"] == [
        {"agent": "SIPp", "registration": "1", "expire": "1970-01-01T00:33:20Z"}
    ]
    assert p.view("PJSIP/029", 1000.0) == {
        "status": "0",
        "registration": [{"agent": "", "registration": "-1"}],
    }
    assert p.view("PJSIP/999", 1000.0)["registration"][0]["registration"] == "0"


def test_expired_registration_is_minus_two_without_expire() -> None:
    """Past RegExpire: -2 and no expire field."""
    assert built().view("PJSIP/028", 2000.0)["registration"] == [
        {"agent": "SIPp", "registration": "-2"}
    ]


def test_device_states_map_to_status() -> None:
    """NOT_INUSE 1, RINGING 2, INUSE 3, UNAVAILABLE 0."""
    p = built()
    seen = []
    for state in ("RINGING", "INUSE", "ONHOLD", "NOT_INUSE", "UNAVAILABLE", "RINGINUSE"):
        assert p.apply({"Event": "DeviceStateChange", "Device": "PJSIP/210", "State": state})
        seen.append(p.view("PJSIP/210", 0.0)["status"])
    assert seen == ["2", "3", "3", "1", "0", "2"]


def test_contact_events_register_and_unregister() -> None:
    """ContactStatus Created: registered; Removed: not registered once none is left."""
    p = built()
    uri = "sip:029@127.0.0.1:15069"
    assert p.apply(
        {
            "Event": "ContactStatus",
            "AOR": "029",
            "URI": uri,
            "ContactStatus": "Created",
            "UserAgent": "Phone",
            "RegExpire": "5000",
        }
    )
    assert p.view("PJSIP/029", 100.0)["registration"][0]["registration"] == "1"
    p.apply({"Event": "ContactStatus", "AOR": "029", "URI": uri, "ContactStatus": "Reachable"})
    assert p.view("PJSIP/029", 100.0)["registration"][0]["agent"] == "Phone"
    p.apply({"Event": "ContactStatus", "AOR": "029", "URI": uri, "ContactStatus": "Removed"})
    assert p.view("PJSIP/029", 100.0)["registration"] == [{"agent": "", "registration": "-1"}]
    assert not p.apply({"Event": "Newchannel"})


def test_a_contacts_listing_fills_in_agent_and_expiry() -> None:
    """ContactStatus carries neither; PJSIPShowContacts' ContactList does."""
    p = built()
    uri = "sip:029@127.0.0.1:15069"
    p.apply({"Event": "ContactStatus", "AOR": "029", "URI": uri, "ContactStatus": "Created"})
    assert p.view("PJSIP/029", 100.0)["registration"] == [{"agent": "", "registration": "1"}]
    p.registered(
        [{"ObjectName": "029;@abc", "Uri": uri, "UserAgent": "Desk", "ExpirationTime": "160"}]
    )
    assert p.view("PJSIP/029", 100.0)["registration"] == [
        {"agent": "Desk", "registration": "1", "expire": "1970-01-01T00:02:40Z"}
    ]
