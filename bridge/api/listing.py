"""UAPI standard list parameters (count, startIndex, filter*, sortOrder, fields)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlencode

from bridge.api.fields import whole_number
from bridge.errors import invalid

MAX_COUNT = 5000
MAX_START = 5000
TEXT_OPS = frozenset({"equals", "contains", "startsWith", "present", "inArray"})
DATE_OPS = frozenset({"equals", "present", "greaterThan", "lessThan"})
Item = dict[str, Any]
T = TypeVar("T")


@dataclass(frozen=True)
class ListQuery:
    count: int = 20
    start_index: int = 0
    filter_by: str | None = None
    filter_op: str = "equals"
    filter_value: str | None = None
    sort_order: str = "ascending"
    fields: tuple[str, ...] | None = None
    filter_is_date: bool = False


def parse_date(raw: str) -> datetime | None:
    """An XML Schema dateTime (`2015-01-23T04:56:22Z`, offsets allowed), or None."""
    try:
        value = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo is not None else None


def parse_list_query(
    query: Mapping[str, str],
    *,
    fields: Collection[str],
    filterable: Collection[str],
    date_fields: Collection[str] = (),
) -> ListQuery:
    """Validates the standard parameters, each failure with its UAPI code; a parameter sent
    empty is invalid (only one left out takes its default)."""
    count = whole_number(query.get("count"), 20, 1, MAX_COUNT, "count_invalid")
    start = whole_number(query.get("startIndex"), 0, 0, MAX_START, "startindex_invalid")
    filter_by = query.get("filterBy")
    op = query.get("filterOp", "equals")
    value = query.get("filterValue")
    if filter_by is not None and filter_by not in filterable:
        names = ", ".join(sorted(filterable))
        raise invalid("filterby_invalid", f"filterBy must be one of {names}.")
    ops = DATE_OPS if filter_by in date_fields else TEXT_OPS
    if op not in ops:
        raise invalid("filterop_invalid", f"filterOp must be one of {', '.join(sorted(ops))}.")
    if value == "":
        raise invalid("filtervalue_invalid", "filterValue is empty; leave it out instead.")
    if filter_by is None and ("filterOp" in query or "filterValue" in query):
        raise invalid("filterby_invalid", "filterOp and filterValue need a filterBy.")
    if filter_by is not None and op != "present":
        if value is None:
            raise invalid("filtervalue_invalid", "filterValue is required with this filterOp.")
        if filter_by in date_fields and parse_date(value) is None:
            raise invalid("filtervalue_invalid", "filterValue must be a dateTime with a zone.")
    order = query.get("sortOrder", "ascending")
    if order not in ("ascending", "descending"):
        raise invalid("sortorder_invalid", "sortOrder must be ascending or descending.")
    return ListQuery(
        count, start, filter_by, op, value, order, _fields(query, fields), filter_by in date_fields
    )


def _fields(query: Mapping[str, str], allowed: Collection[str]) -> tuple[str, ...] | None:
    raw = query.get("fields")
    if raw is None:
        return None
    names = tuple(n.strip() for n in raw.split(",") if n.strip())
    unknown = [n for n in names if n not in allowed]
    if not names or unknown:
        raise invalid("fields_invalid", f"Unknown or empty fields: {', '.join(unknown) or raw!r}.")
    return names


def _matches(item: Item, q: ListQuery) -> bool:
    assert q.filter_by is not None
    have = item.get(q.filter_by)
    if q.filter_op == "present":
        return have not in (None, "", [])
    if have is None:
        return False
    want = q.filter_value or ""
    if q.filter_is_date:
        return _compare_dates(str(have), want, q.filter_op)
    texts = [str(v) for v in have] if isinstance(have, list) else [str(have)]
    test: Callable[[str], bool] = {
        "equals": lambda t: t == want,
        "contains": lambda t: want in t,
        "startsWith": lambda t: t.startswith(want),
        "inArray": lambda t: t in {v.strip() for v in want.split(",")},
    }[q.filter_op]
    return any(test(t) for t in texts)


def _compare_dates(have: str, want: str, op: str) -> bool:
    a, b = parse_date(have), parse_date(want)
    if a is None or b is None:
        return False
    return {"equals": a == b, "greaterThan": a > b, "lessThan": a < b}[op]


def select(
    items: Sequence[Item],
    q: ListQuery,
    *,
    sort_key: str | None = None,
) -> tuple[int, list[Item]]:
    """Filters, sorts and pages `items`; returns (total matching, the page)."""
    chosen = [i for i in items if q.filter_by is None or _matches(i, q)]
    if sort_key is not None:
        chosen.sort(key=lambda i: str(i.get(sort_key) or ""), reverse=q.sort_order == "descending")
    return len(chosen), _project(chosen[q.start_index : q.start_index + q.count], q)


def select_lazily(
    objects: Sequence[T],
    q: ListQuery,
    *,
    summary: Callable[[T], Item],
    order: Callable[[T], Any],
    render: Callable[[T], Item],
) -> tuple[int, list[Item]]:
    """`select` for long collections of live objects: their cheap `summary` is built only to
    filter, and only the page is rendered."""
    chosen = [o for o in objects if q.filter_by is None or _matches(summary(o), q)]
    chosen = sorted(chosen, key=order, reverse=q.sort_order == "descending")
    page = [render(o) for o in chosen[q.start_index : q.start_index + q.count]]
    return len(chosen), _project(page, q)


def _project(page: list[Item], q: ListQuery) -> list[Item]:
    if q.fields is None:
        return page
    return [{k: v for k, v in i.items() if k in q.fields} for i in page]


def envelope(
    total: int, page: list[Item], q: ListQuery, self_url: str, query: Mapping[str, str]
) -> Item | None:
    """The collection body, with links to the neighbouring pages; None for an empty result."""
    if total == 0:
        return None
    body: Item = {
        "totalResults": total,
        "startIndex": q.start_index,
        "itemsPerPage": len(page),
        "entry": page,
    }
    links: dict[str, str] = {}

    def at(start: int) -> str:
        params = {k: v for k, v in query.items() if k not in ("startIndex", "accessRequestToken")}
        params["startIndex"] = str(start)
        return f"{self_url}?{urlencode(params)}"

    if q.start_index + q.count < total:
        links["next"] = at(q.start_index + q.count)
    if q.start_index > 0:
        links["prev"] = at(max(0, q.start_index - q.count))
    if links:
        body["links"] = links
    return body
