"""`GET /uapi/cdr[/{userId}]` and `GET /uapi/cdr/stats[/{userId}]`: the call history.

Parameters and codes of uapi.md Part 3 section 11; a parameter sent empty is invalid (its code),
as everywhere in the API. The scope: a user's extensions when a user is named (or for a user
app), an organization app's organization, everything for the admin app.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from bridge.api.common import json_ok, nothing
from bridge.api.context import base_url, current_app, services
from bridge.api.fields import one_of, whole_number
from bridge.api.listing import MAX_COUNT, MAX_START
from bridge.directory import Directory, is_public_number
from bridge.domain.history import DISPOSITIONS
from bridge.domain.views import INCOMING_PUBLIC, LOCAL, OUTGOING_PUBLIC
from bridge.errors import invalid
from bridge.store.history_sql import HistoryQuery, PartyFilter
from bridge.tenants import App

FIELDS = frozenset(
    {
        "id",
        "extension",
        "ownerId",
        "ownerName",
        "published",
        "answered",
        "nonce",
        "ended",
        "phoneCallView",
    }
)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z?")
_PARTIAL = re.compile(r"\+?[0-9*]{1,40}")
_PARTY_OPS = ("equals", "contains", "startsWith", "inArray")
_DATE_OPS = ("equals", "greaterThan", "lessThan")
_ORDERS = {"ascending": False, "asc": False, "descending": True, "desc": True}


def cdr_date(raw: str | None, code: str) -> float | None:
    """`YYYY-MM-DDThh:mm:ss` (UTC, a trailing Z allowed) as a timestamp; None when absent
    (an empty value is invalid)."""
    if raw is None:
        return None
    if not _DATE.fullmatch(raw):
        raise invalid(code, "Dates are YYYY-MM-DDThh:mm:ss (UTC).")
    try:
        when = datetime.strptime(raw.rstrip("Z"), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    except ValueError as exc:
        raise invalid(code, "Dates are YYYY-MM-DDThh:mm:ss (UTC).") from exc
    return when.timestamp()


def month_of(now: float) -> tuple[float, float]:
    """The current month (UTC) as [start, end]: the range when no date is given."""
    day = datetime.fromtimestamp(now, UTC)
    start = day.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    nxt = start.replace(year=start.year + (start.month == 12), month=start.month % 12 + 1)
    return start.timestamp(), nxt.timestamp() - 1


class _Numbers:
    """Turns a client's number into an extended extension number or a public number."""

    def __init__(self, directory: Directory, app: App) -> None:
        self.directory, self.app = directory, app
        self.org = directory.home_organization(app)

    def number(self, raw: str, code: str) -> str:
        text = raw.strip()
        ext = self.directory.visible_extension(self.app, text, self.org)
        if ext is not None:
            return ext.number
        if is_public_number(text):  # another organization's extension is no public number
            return text
        raise invalid(code, "Give an extension number (0003*210) or a public number.")

    def partial(self, raw: str, code: str) -> str:
        if not _PARTIAL.fullmatch(raw.strip()):
            raise invalid(code, "A number filter takes digits, * and a leading +.")
        return raw.strip()


def _scope(request: web.Request) -> frozenset[str] | None:
    svc, app = services(request), current_app(request)
    directory = svc.directory
    ref = request.match_info.get("userId")
    if ref is None:
        if app.user is not None:
            return frozenset(e.number for e in directory.extensions_of(directory.users[app.user]))
        org = directory.home_organization(app)
        if org is None:
            return None
        return frozenset(
            e.number
            for e in directory.extensions.values()
            if directory.owner(e).organization == org.id
        )
    user = directory.resolve_user(app, ref, "user_invalid")
    if user is None:
        raise invalid("user_invalid", "@owner names no user here; give a user id or @me.")
    return frozenset(e.number for e in directory.extensions_of(user))


def _dates(query: Mapping[str, str], now: float) -> tuple[float | None, ...]:
    """(at_from, at_to, saved_from, saved_to): startDate wins over saveStartDate, endDate
    over saveEndDate; no date at all is the current month."""
    start = cdr_date(query.get("startDate"), "cdr_start_date_invalid")
    end = cdr_date(query.get("endDate"), "cdr_end_date_invalid")
    save_start = cdr_date(query.get("saveStartDate"), "cdr_save_start_date_invalid")
    save_end = cdr_date(query.get("saveEndDate"), "cdr_save_end_date_invalid")
    for low, high in ((start, end), (save_start, save_end)):
        if low is not None and high is not None and low > high:
            raise invalid("cdr_invalid_date_parameters", "The start date is after the end date.")
    if start is None and end is None and save_start is None and save_end is None:
        start, end = month_of(now)
    return (start, end, save_start if start is None else None, save_end if end is None else None)


def _filter(query: Mapping[str, str], numbers: _Numbers) -> dict[str, Any]:
    """filterBy (source, destination, published, answered; default published), filterOp,
    filterValue, each failure with its code."""
    by, op, value = query.get("filterBy"), query.get("filterOp"), query.get("filterValue")
    if by is None and value is None and op is None:
        return {}
    by = "published" if by is None else by
    if by not in ("source", "destination", "published", "answered"):
        raise invalid(
            "filterby_invalid", "filterBy must be source, destination, published or answered."
        )
    ops = _PARTY_OPS if by in ("source", "destination") else _DATE_OPS
    op = "equals" if op is None else op
    if op not in ops:
        raise invalid("filterop_invalid", f"filterOp must be one of {', '.join(ops)}.")
    code = f"cdr_invalid_filter_by_{by}"
    if not value:
        raise invalid(code, f"filterValue is required to filter by {by}.")
    if by in ("published", "answered"):
        when = cdr_date(value, code)
        assert when is not None
        return {"date_filter": (by, op, when)}
    if op in ("equals", "inArray"):
        items = (
            [numbers.number(v, code) for v in value.split(",")]
            if op == "inArray"
            else [numbers.number(value, code)]
        )
        value = ",".join(items)
    else:
        value = numbers.partial(value, code)
    return {"party": PartyFilter(by, op, value)}


def parse_query(request: web.Request, now: float) -> tuple[HistoryQuery, tuple[str, ...] | None]:
    """The HistoryQuery of a request, and the fields asked for (None: all)."""
    query = request.query
    svc = services(request)
    scope = _scope(request)  # first: an unknown user is told so whatever the parameters
    numbers = _Numbers(svc.directory, current_app(request))
    parties = []
    for name in ("source", "destination"):
        if query.get(name):
            parties.append(
                PartyFilter(name, "equals", numbers.number(query[name], f"cdr_{name}_invalid"))
            )
        elif name in query:
            raise invalid(f"cdr_{name}_invalid", f"{name} is empty.")
    extra = _filter(query, numbers)
    if "party" in extra:
        parties.append(extra.pop("party"))
    disposition = flow = None
    if "disposition" in query:
        disposition = one_of(
            query["disposition"], DISPOSITIONS, "cdr_disposition_invalid", "disposition"
        )
    if "flow" in query:
        flow = one_of(
            query["flow"], (LOCAL, OUTGOING_PUBLIC, INCOMING_PUBLIC), "cdr_flow_invalid", "flow"
        )
    order = query.get("sortOrder", "descending")
    if order not in _ORDERS:
        raise invalid("sortorder_invalid", "sortOrder must be ascending or descending.")
    at_from, at_to, saved_from, saved_to = _dates(query, now)
    q = HistoryQuery(
        scope=scope,
        at_from=at_from,
        at_to=at_to,
        saved_from=saved_from,
        saved_to=saved_to,
        parties=tuple(parties),
        disposition=disposition,
        flow=flow,
        date_filter=extra.get("date_filter"),
        count=whole_number(query.get("count"), 20, 1, MAX_COUNT, "count_invalid"),
        start=whole_number(query.get("startIndex"), 0, 0, MAX_START, "startindex_invalid"),
        descending=_ORDERS[order],
    )
    return q, _fields(query.get("fields"))


def _fields(raw: str | None) -> tuple[str, ...] | None:
    if raw is None:
        return None
    names = tuple(n.strip() for n in raw.split(",") if n.strip())
    if not names or any(n not in FIELDS for n in names):
        raise invalid("fields_invalid", f"fields must be among {', '.join(sorted(FIELDS))}.")
    return names


def _render(
    directory: Directory, body: dict[str, Any], fields: tuple[str, ...] | None
) -> dict[str, Any]:
    ext = directory.extensions.get(body.get("extension", ""))
    if ext is not None:
        org = directory.organization_of_user(directory.owner(ext))
        body["ownerId"], body["ownerName"] = org.id, org.name
    else:
        body["ownerId"], body["ownerName"] = "", ""
    return body if fields is None else {k: v for k, v in body.items() if k in fields}


def _links(request: web.Request, q: HistoryQuery, total: int) -> dict[str, str]:
    base = f"{base_url(request)}{request.path}"
    params = {
        k: v for k, v in request.query.items() if k not in ("startIndex", "accessRequestToken")
    }
    links = {}
    if q.start + q.count < total:
        links["next"] = f"{base}?{urlencode({**params, 'startIndex': q.start + q.count})}"
    if q.start > 0:
        links["prev"] = f"{base}?{urlencode({**params, 'startIndex': max(0, q.start - q.count)})}"
    return links


async def list_cdr(request: web.Request) -> web.Response:
    """200 with the records keyed by call id and phoneCallStat; 204 when none match."""
    q, fields = parse_query(request, time.time())
    svc = services(request)
    stat, total, page = await svc.history.search(q)
    body: dict[str, Any] = {
        "startIndex": q.start,
        "totalResults": total,
        "itemsPerPage": len(page),
        "filtered": bool(
            q.parties
            or q.disposition is not None
            or q.flow is not None
            or q.date_filter is not None
        ),
        "sorted": True,
        "entry": {rec["id"]: _render(svc.directory, rec, fields) for rec in page},
        "phoneCallStat": stat,
    }
    links = _links(request, q, total)
    if links:
        body["links"] = links
    if total == 0:
        return nothing(request, body)
    return json_ok(body)


async def cdr_stats(request: web.Request) -> web.Response:
    """200 with `{"phoneCallStat": [...]}` for the same filters as the list."""
    q, _ = parse_query(request, time.time())
    return json_ok({"phoneCallStat": await services(request).history.stats(q)})


def add_routes(app: web.Application, prefix: str) -> None:
    app.router.add_get(f"{prefix}/cdr", list_cdr)
    app.router.add_get(f"{prefix}/cdr/stats", cdr_stats)
    app.router.add_get(f"{prefix}/cdr/stats/{{userId}}", cdr_stats)
    app.router.add_get(f"{prefix}/cdr/{{userId}}", list_cdr)
