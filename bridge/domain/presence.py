"""Presence: each PJSIP endpoint's device state and SIP contacts, from AMI events (pure).

Kept live from `DeviceStateChange` and `ContactStatus` events and rebuilt at every (re)login
from the `DeviceStateList`, `PJSIPShowAors` and `PJSIPShowContacts` listings, so a request
never asks Asterisk anything. A contact configured in pjsip.conf (static) needs no registration
(2); one that REGISTERed is registered (1) until it expires (-2) or is removed (-1 once the AOR
has none).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bridge.domain.views import iso

UNKNOWN, ONLINE, RINGING, BUSY = 0, 1, 2, 3
REGISTERED, NOT_NEEDED, NOT_REGISTERED, EXPIRED, REG_UNKNOWN = 1, 2, -1, -2, 0
# Asterisk device states -> presence status.
_STATUS = {
    "NOT_INUSE": ONLINE,
    "RINGING": RINGING,
    "RINGINUSE": RINGING,
    "INUSE": BUSY,
    "BUSY": BUSY,
    "ONHOLD": BUSY,
}
Event = Mapping[str, str]


@dataclass
class Contact:
    uri: str
    dynamic: bool  # REGISTERed (else configured in pjsip.conf)
    agent: str = ""
    expire: float | None = None  # Unix time the registration ends


@dataclass
class Presence:
    """Device states by device (`PJSIP/210`) and contacts by AOR (`210`)."""

    devices: dict[str, str] = field(default_factory=dict)
    contacts: dict[str, dict[str, Contact]] = field(default_factory=dict)

    def apply(self, event: Event) -> bool:
        """Folds one event in; True when it was a presence event."""
        name = event.get("Event", "").lower()
        if name == "devicestatechange":
            self.devices[event.get("Device", "")] = event.get("State", "")
            return True
        if name == "contactstatus":
            self._contact_status(event)
            return True
        return False

    def _contact_status(self, ev: Event) -> None:
        aor, uri = ev.get("AOR", ""), ev.get("URI", "")
        if not aor or not uri:
            return
        known = self.contacts.setdefault(aor, {})
        if ev.get("ContactStatus") == "Removed":
            known.pop(uri, None)
            return
        contact = known.get(uri) or Contact(uri, dynamic=True)
        contact.agent = ev.get("UserAgent", contact.agent)
        expire = _number(ev.get("RegExpire"))
        contact.expire = expire if expire else contact.expire
        known[uri] = contact

    def rebuild(
        self, devices: Iterable[Event], aors: Iterable[Event], contacts: Iterable[Event]
    ) -> None:
        """Replaces everything with what the listings of one login say."""
        self.devices = {d.get("Device", ""): d.get("State", "") for d in devices}
        dynamic = {c.get("Uri", c.get("URI", "")): c for c in contacts}
        self.contacts = {}
        for aor in aors:
            name = aor.get("ObjectName", "")
            known: dict[str, Contact] = {}
            for item in filter(None, aor.get("Contacts", "").split(",")):
                uri = item.split("/", 1)[1] if "/" in item else item
                listed = dynamic.get(uri)
                known[uri] = Contact(
                    uri,
                    listed is not None,
                    listed.get("UserAgent", "") if listed else "",
                    _expiry(listed) if listed else None,
                )
            self.contacts[name] = known

    def registered(self, contacts: Iterable[Event]) -> None:
        """What a `PJSIPShowContacts` listing says of the REGISTERed contacts (user agent and
        expiry, which ContactStatus events do not carry)."""
        for listed in contacts:
            aor = listed.get("ObjectName", "").split(";", 1)[0]
            uri = listed.get("Uri", "")
            if aor and uri:
                self.contacts.setdefault(aor, {})[uri] = Contact(
                    uri, True, listed.get("UserAgent", ""), _expiry(listed)
                )

    def view(self, device: str, now: float) -> dict[str, Any]:
        """`status` and `registration` of one endpoint (`PJSIP/210`) as of `now`."""
        state = self.devices.get(device)
        out: dict[str, Any] = {"status": str(_STATUS.get(state or "", UNKNOWN))}
        aor = device.split("/", 1)[1] if "/" in device else device
        known = self.contacts.get(aor)
        if known is None:
            out["registration"] = [{"agent": "", "registration": str(REG_UNKNOWN)}]
        elif not known:
            out["registration"] = [{"agent": "", "registration": str(NOT_REGISTERED)}]
        else:
            out["registration"] = [_registration(c, now) for c in known.values()]
        return out


def _registration(contact: Contact, now: float) -> dict[str, str]:
    if not contact.dynamic:
        return {"agent": contact.agent, "registration": str(NOT_NEEDED)}
    if contact.expire is not None and contact.expire <= now:
        return {"agent": contact.agent, "registration": str(EXPIRED)}
    out = {"agent": contact.agent, "registration": str(REGISTERED)}
    if contact.expire is not None:
        out["expire"] = iso(contact.expire)
    return out


def _expiry(listed: Event) -> float | None:
    return _number(listed.get("ExpirationTime") or listed.get("RegExpire"))


def _number(raw: str | None) -> float | None:
    try:
        return float(raw) if raw else None
    except ValueError:
        return None
