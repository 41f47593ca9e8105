"""A live call as the API shows it (List and PUT answer with the same rendering)."""

from __future__ import annotations

from aiohttp import web

from bridge.api.context import Services, api_prefix, base_url
from bridge.api.listing import Item
from bridge.directory import Directory
from bridge.domain.model import Call
from bridge.domain.views import phone_call

# What List (and the live stream) may be asked for: fields, filters, date fields.
FIELDS = (
    "id",
    "extension",
    "ownerId",
    "ownerName",
    "published",
    "answered",
    "nonce",
    "phoneCallView",
    "links",
)
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
    full = dict(phone_call(call, svc.nodes.cluster.channels_of(call.id)))  # shared: a copy
    full["ownerId"], full["ownerName"] = owner(svc.directory, full["extension"])
    full["links"] = {"self": f"{base}/{full['extension']}/{call.id}"}
    return full


def placed_answer(request: web.Request, calls: list[tuple[str, str]]) -> web.Response:
    """The 202 of a request that placed calls: `[{"id", "extension", "link": {"self"}}]` for
    each (call id, charged extension), linked under the path's user."""
    base = f"{base_url(request)}{api_prefix(request)}/phoneCalls/{request.match_info['userId']}"
    return web.json_response(
        [
            {"id": cid, "extension": ext, "link": {"self": f"{base}/{ext}/{cid}"}}
            for cid, ext in calls
        ],
        status=202,
    )
