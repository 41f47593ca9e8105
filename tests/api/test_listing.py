"""Standard list parameters: each failure code, filters, sorting, paging and the envelope."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.api.listing import envelope, parse_list_query, select
from bridge.errors import ApiError
from tests.conftest import Api

FIELDS = ("id", "published", "extension")
ITEMS = [
    {"id": f"c{i:02d}", "published": f"2026-11-22T10:{i:02d}:00Z", "extension": f"0003*2{i % 3}0"}
    for i in range(30)
]


def q(**params: str) -> Any:
    return parse_list_query(params, fields=FIELDS, filterable=FIELDS, date_fields=("published",))


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"count": "0"}, "count_invalid"),
        ({"count": "5001"}, "count_invalid"),
        ({"count": "abc"}, "count_invalid"),
        ({"startIndex": "-1"}, "startindex_invalid"),
        ({"startIndex": "5001"}, "startindex_invalid"),
        ({"filterBy": "color", "filterValue": "x"}, "filterby_invalid"),
        ({"filterValue": "x"}, "filterby_invalid"),
        ({"filterBy": "id", "filterOp": "like", "filterValue": "x"}, "filterop_invalid"),
        ({"filterBy": "id", "filterOp": "greaterThan", "filterValue": "x"}, "filterop_invalid"),
        ({"filterBy": "id", "filterOp": "equals"}, "filtervalue_invalid"),
        (
            {"filterBy": "published", "filterOp": "greaterThan", "filterValue": "yesterday"},
            "filtervalue_invalid",
        ),
        ({"sortOrder": "up"}, "sortorder_invalid"),
        ({"fields": "id,color"}, "fields_invalid"),
        ({"fields": ","}, "fields_invalid"),
        # empty is invalid, never the default (docs/api.md, "Numbers and empty parameters")
        ({"count": ""}, "count_invalid"),
        ({"startIndex": ""}, "startindex_invalid"),
        ({"filterBy": ""}, "filterby_invalid"),
        ({"filterOp": ""}, "filterop_invalid"),
        ({"filterValue": ""}, "filtervalue_invalid"),
        ({"filterBy": "id", "filterOp": "present", "filterValue": ""}, "filtervalue_invalid"),
        ({"sortOrder": ""}, "sortorder_invalid"),
        ({"fields": ""}, "fields_invalid"),
    ],
)
def test_failure_codes(params: dict[str, str], code: str) -> None:
    """Each bad standard parameter answers 400 with its own code."""
    with pytest.raises(ApiError) as info:
        q(**params)
    assert (info.value.status, info.value.code) == (400, code)


def test_defaults_and_paging() -> None:
    """Default page is 20 from 0; links point to the neighbouring pages."""
    query = q()
    total, page = select(ITEMS, query, sort_key="published")
    assert (total, len(page), page[0]["id"]) == (30, 20, "c00")
    body = envelope(total, page, query, "http://h/uapi/x", {"count": "20"})
    assert body is not None
    assert body["totalResults"] == 30
    assert body["itemsPerPage"] == 20
    assert body["links"] == {"next": "http://h/uapi/x?count=20&startIndex=20"}
    second = q(startIndex="20", count="20")
    total, page = select(ITEMS, second)
    body = envelope(total, page, second, "http://h/uapi/x", {"startIndex": "20"})
    assert body is not None
    assert [e["id"] for e in body["entry"]] == [f"c{i}" for i in range(20, 30)]
    assert body["links"] == {"prev": "http://h/uapi/x?startIndex=0"}


def test_empty_is_none() -> None:
    """Nothing matching gives no body (the API answers 204)."""
    query = q(filterBy="id", filterValue="zzz")
    total, page = select(ITEMS, query)
    assert envelope(total, page, query, "u", {}) is None


@pytest.mark.parametrize(
    ("params", "ids"),
    [
        ({"filterBy": "id", "filterValue": "c05"}, ["c05"]),
        (
            {"filterBy": "id", "filterOp": "startsWith", "filterValue": "c2"},
            [f"c2{i}" for i in range(10)],
        ),
        ({"filterBy": "id", "filterOp": "contains", "filterValue": "9"}, ["c09", "c19", "c29"]),
        ({"filterBy": "id", "filterOp": "inArray", "filterValue": "c01, c03"}, ["c01", "c03"]),
        (
            {
                "filterBy": "published",
                "filterOp": "greaterThan",
                "filterValue": "2026-11-22T12:27:00+02:00",
            },
            ["c28", "c29"],
        ),
        (
            {
                "filterBy": "published",
                "filterOp": "lessThan",
                "filterValue": "2026-11-22T10:02:00Z",
            },
            ["c00", "c01"],
        ),
    ],
)
def test_filters(params: dict[str, str], ids: list[str]) -> None:
    """Each filterOp selects what it says; dates compare as instants, across zones."""
    _, page = select(ITEMS, q(**params))
    assert [i["id"] for i in page] == ids


def test_sort_and_fields() -> None:
    """sortOrder=descending sorts by the sort key; fields keeps only the named fields."""
    _, page = select(ITEMS, q(sortOrder="descending", fields="id", count="2"), sort_key="published")
    assert page == [{"id": "c29"}, {"id": "c28"}]


async def test_extensions_list_over_http(api: Api) -> None:
    """The extensions list uses the same parameters over HTTP: 200, 204 and 400."""
    resp = await api.client.get(
        "/uapi/extensions/@me", headers=api.auth(), params={"fields": "extension,type"}
    )
    assert await resp.json() == {
        "totalResults": 5,
        "startIndex": 0,
        "itemsPerPage": 5,
        "entry": [
            {"extension": "0003*026", "type": "phone_terminal"},
            {"extension": "0003*210", "type": "phone_terminal"},
            {"extension": "0003*212", "type": "queue"},
            {"extension": "0003*250", "type": "callback"},
            {"extension": "0003*260", "type": "conference"},
        ],
    }
    resp = await api.client.get(
        "/uapi/extensions/@me",
        headers=api.auth(),
        params={"filterBy": "id", "filterValue": "0003*999"},
    )
    assert resp.status == 204
    assert await resp.read() == b""
    resp = await api.client.get(
        "/uapi/extensions/@me", headers=api.auth(), params={"count": "9999"}
    )
    assert (await resp.json())["error"]["code"] == "count_invalid"


async def test_self_link_resolves(api: Api) -> None:
    """Each entry's links.self answers with that one extension; another user's is refused."""
    resp = await api.client.get("/uapi/extensions/@me", headers=api.auth())
    link = (await resp.json())["entry"][1]["links"]["self"]
    path = link.split(str(api.client.make_url("")).rstrip("/"), 1)[1]
    one = await api.client.get(path, headers=api.auth())
    assert [e["extension"] for e in (await one.json())["entry"]] == ["0003*210"]
    short = await api.client.get("/uapi/extensions/@me/210", headers=api.auth())
    assert (await short.json())["totalResults"] == 1
    other = await api.client.get("/uapi/extensions/@me/024", headers=api.auth())
    assert (await other.json())["error"]["code"] == "extension_invalid"
