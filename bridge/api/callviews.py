"""A live call as the API shows it (List and PUT answer with the same rendering)."""

from __future__ import annotations

from bridge.api.collections import Item
from bridge.api.context import Services
from bridge.directory import Directory
from bridge.domain.model import Call
from bridge.domain.views import phone_call

# What List (and the live stream) may be asked for: fields, filters, date fields.
FIELDS = ("id", "extension", "ownerId", "ownerName", "published", "answered", "nonce",
          "phoneCallView", "links")
FILTERABLE = ("id", "extension", "ownerId", "ownerName", "published", "answered", "nonce")
DATES = ("published", "answered")


def owner(directory: Directory, number: str) -> tuple[str, str]:
    """(id, name) of the organization that owns the call: that of the charged extension."""
    ext = directory.extensions.get(number)
    if ext is None:
        return "", ""
    org = directory.organization_of_user(directory.owner(ext))
    return org.id, org.name


def render_call(svc: Services, call: Call, base: str) -> Item:
    """A PhoneCall as the API shows it; `base` is `.../phoneCalls/{userId}`."""
    full = phone_call(call, svc.tracker.channels)
    full["ownerId"], full["ownerName"] = owner(svc.directory, full["extension"])
    full["links"] = {"self": f"{base}/{full['extension']}/{call.id}"}
    return full
