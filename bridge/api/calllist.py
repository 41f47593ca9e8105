"""`GET /uapi/phoneCalls/{userId}/{extension}[/{phoneCallId}]`: the live calls, from the tracker.

An id that cannot be a PhoneCall id is 400 `pc_phonecall_invalid`; one that is not live here
is an empty answer (204), as for a call that ended.

Filtering and sorting run on a few cheap fields of every call of the extension; only the page
that is returned is rendered with its views.
"""

from __future__ import annotations

from aiohttp import web

from bridge.api.callviews import DATES, FIELDS, FILTERABLE, owner, render_call
from bridge.api.common import page_response
from bridge.api.context import api_prefix, base_url, call_scope, services
from bridge.api.fields import shown
from bridge.api.listing import Item, parse_list_query, select_lazily
from bridge.domain.callids import is_call_id
from bridge.domain.model import Call
from bridge.domain.views import iso
from bridge.errors import invalid


async def list_calls(request: web.Request) -> web.Response:
    """200 with the collection; 204 when the extension has no live call (or not that one)."""
    svc = services(request)
    scope = call_scope(request)
    exts, user_ref = scope.extensions, scope.user_ref
    q = parse_list_query(request.query, fields=FIELDS, filterable=FILTERABLE, date_fields=DATES)
    wanted = request.match_info.get("phoneCallId")
    if wanted is not None and not is_call_id(wanted):
        raise invalid("pc_phonecall_invalid", f"{shown(wanted)} is not a phone call id.")
    svc.nodes.live_for(exts, "not connected: the live calls are not known")
    calls = svc.nodes.cluster.calls_of({e.number for e in exts})
    if wanted is not None:
        calls = [c for c in calls if c.id == wanted]
    base = f"{base_url(request)}{api_prefix(request)}/phoneCalls/{user_ref}"

    def summary(call: Call) -> Item:
        """The fields a filter may test (no views)."""
        item: Item = {
            "id": call.id,
            "extension": call.extension or "",
            "published": iso(call.published),
        }
        if call.answered is not None:
            item["answered"] = iso(call.answered)
        if call.meta is not None and call.meta.nonce is not None:
            item["nonce"] = call.meta.nonce
        item["ownerId"], item["ownerName"] = owner(svc.directory, item["extension"])
        return item

    def render(call: Call) -> Item:
        return render_call(svc, call, base)

    total, page = select_lazily(calls, q, summary=summary, order=_published, render=render)
    self_url = f"{base}/{request.match_info['extension']}"
    if wanted is not None:
        self_url += f"/{wanted}"
    return page_response(request, total, page, q, self_url=self_url)


def _published(call: Call) -> float:
    return call.published


def add_routes(app: web.Application, prefix: str) -> None:
    base = f"{prefix}/phoneCalls/{{userId}}/{{extension}}"
    app.router.add_get(base, list_calls)
    app.router.add_get(f"{base}/{{phoneCallId}}", list_calls)
