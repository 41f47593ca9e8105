"""GET /uapi/cdr[/{userId}] and /uapi/cdr/stats: codes, scope, answer shape (no Asterisk)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bridge.store.db import Database
from tests.conftest import ADMIN, CRM, HELPDESK, Api, FakePort
from tests.store.test_history import end, make_call

NOW = datetime.now(UTC).replace(day=1, hour=12).timestamp()  # inside the current month
RANGE = {"startDate": "2000-01-01T00:00:00", "endDate": "2100-01-01T00:00:00Z"}


class Untouchable(FakePort):
    """A PBX that fails the test if the route sends it anything."""

    async def send(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the CDR routes must not reach Asterisk")

    async def send_list(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the CDR routes must not reach Asterisk")


@pytest.fixture
async def cdr(api: Api, db: Database) -> Api:
    """The API with a few calls in its history, kept in `db` (each backend): 210 (user 12) to a
    public number, 024 (user 13) to 210, 300 (organization 4) to a public number, one old one."""
    api.plug(Untouchable())
    api.services.history.db = db
    calls = [
        make_call("a" * 20, NOW),
        make_call("b" * 20, NOW + 60, "0003*024", "0003*210"),
        make_call("c" * 20, NOW + 120, "0004*300", "5559999", answered=False),
        make_call("d" * 20, 946_800_000.0),
    ]
    for call in calls:
        api.services.history.sink(end(call))
    await api.services.history.flush()
    return api


async def get(api: Api, path: str, token: str = CRM, **params: str) -> tuple[int, Any]:
    resp = await api.client.get(path, headers=api.auth(token), params=params)
    body = await resp.json() if resp.status != 204 else None
    return resp.status, body


async def test_user_app_sees_its_users_calls_of_this_month_keyed_by_id(cdr: Api) -> None:
    """No date: the current month; entry is an object keyed by call id, newest first."""
    status, body = await get(cdr, "/uapi/cdr/@me")
    assert status == 200
    assert list(body["entry"]) == ["b" * 20, "a" * 20]
    assert body["totalResults"] == 2
    rec = body["entry"]["a" * 20]
    assert rec["ownerId"] == "3"
    assert rec["extension"] == "0003*210"
    assert rec["phoneCallView"][0]["source"] == ["0003*210"]
    assert {s["type"] for s in body["phoneCallStat"]} == {"0", "1"}
    status, same = await get(cdr, "/uapi/cdr/")
    assert status == 200
    assert list(same["entry"]) == list(body["entry"])


async def test_scopes_of_organization_and_admin_apps(cdr: Api) -> None:
    """Organization app: its organization; admin: everything; a date range finds old calls."""
    _, org = await get(cdr, "/uapi/cdr", HELPDESK, **RANGE)
    assert set(org["entry"]) == {"a" * 20, "b" * 20, "d" * 20}
    _, admin = await get(cdr, "/uapi/cdr", ADMIN, **RANGE)
    assert set(admin["entry"]) == {"a" * 20, "b" * 20, "c" * 20, "d" * 20}
    _, user13 = await get(cdr, "/uapi/cdr/13", HELPDESK)
    assert set(user13["entry"]) == {"b" * 20}


async def test_filters_source_destination_disposition_and_stats(cdr: Api) -> None:
    """source / destination by short or extended number; stats for the same filters."""
    _, body = await get(cdr, "/uapi/cdr", ADMIN, source="0003*024")
    assert list(body["entry"]) == ["b" * 20]
    _, body = await get(cdr, "/uapi/cdr/@me", destination="210")
    assert list(body["entry"]) == ["b" * 20]
    _, body = await get(cdr, "/uapi/cdr", ADMIN, disposition="1")
    assert list(body["entry"]) == ["c" * 20]
    status, stats = await get(cdr, "/uapi/cdr/stats/@me")
    assert status == 200
    assert stats["phoneCallStat"][1]["total"] == "1"  # 210 placed one call
    assert stats["phoneCallStat"][0]["total"] == "1"  # and received one


async def test_nothing_matches_is_204_and_fields_project(cdr: Api) -> None:
    """No record: 204; fields keeps only the named ones."""
    status, _ = await get(cdr, "/uapi/cdr/@me", source="5550000")
    assert status == 204
    _, body = await get(cdr, "/uapi/cdr/@me", fields="id,published")
    assert set(body["entry"]["a" * 20]) == {"id", "published"}


async def test_paging_links(cdr: Api) -> None:
    """count=1: a next link with startIndex=1, then a prev link."""
    _, body = await get(cdr, "/uapi/cdr/@me", count="1")
    assert "startIndex=1" in body["links"]["next"]
    _, body = await get(cdr, "/uapi/cdr/@me", count="1", startIndex="1")
    assert list(body["entry"]) == ["a" * 20]
    assert "prev" in body["links"]
    assert "next" not in body["links"]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"startDate": "2026-13-01T00:00:00"}, "cdr_start_date_invalid"),
        ({"startDate": "yesterday"}, "cdr_start_date_invalid"),
        ({"endDate": "2026-01-01"}, "cdr_end_date_invalid"),
        ({"saveStartDate": "2026-01-01T00:00:00+02:00"}, "cdr_save_start_date_invalid"),
        ({"saveEndDate": "2026-01-01T25:00:00"}, "cdr_save_end_date_invalid"),
        (
            {"startDate": "2026-02-01T00:00:00", "endDate": "2026-01-01T00:00:00"},
            "cdr_invalid_date_parameters",
        ),
        ({"source": "0004*300"}, "cdr_source_invalid"),
        ({"source": "abc"}, "cdr_source_invalid"),
        ({"source": ""}, "cdr_source_invalid"),
        ({"destination": "21\r\n0"}, "cdr_destination_invalid"),
        ({"flow": "3"}, "cdr_flow_invalid"),
        ({"flow": "٢"}, "cdr_flow_invalid"),
        ({"disposition": "6"}, "cdr_disposition_invalid"),
        ({"filterBy": "answered", "filterValue": "soon"}, "cdr_invalid_filter_by_answered"),
        ({"filterValue": "2026"}, "cdr_invalid_filter_by_published"),
        ({"filterBy": "source", "filterValue": "x"}, "cdr_invalid_filter_by_source"),
        (
            {"filterBy": "destination", "filterValue": "0004*300"},
            "cdr_invalid_filter_by_destination",
        ),
        ({"filterBy": "nonce", "filterValue": "1"}, "filterby_invalid"),
        ({"filterBy": "source", "filterOp": "greaterThan", "filterValue": "1"}, "filterop_invalid"),
        ({"count": "0"}, "count_invalid"),
        ({"count": "5001"}, "count_invalid"),
        ({"startIndex": "-1"}, "startindex_invalid"),
        ({"fields": "id,cost"}, "fields_invalid"),
        ({"sortOrder": "random"}, "sortorder_invalid"),
    ],
)
async def test_each_bad_parameter_has_its_code(cdr: Api, params: dict[str, str], code: str) -> None:
    """400 with the documented code, for the list and the stats alike."""
    for path in ("/uapi/cdr/@me", "/uapi/cdr/stats/@me"):
        resp = await cdr.client.get(path, headers=cdr.auth(), params=params)
        assert resp.status == 400, path
        assert (await resp.json())["error"]["code"] == code


@pytest.mark.parametrize(
    ("path", "token"),
    [
        ("/uapi/cdr/13", CRM),  # another user of the same organization
        ("/uapi/cdr/30", HELPDESK),  # another organization's user
        ("/uapi/cdr/3", HELPDESK),  # an organization id is no user id
        ("/uapi/cdr/@me", HELPDESK),  # @me needs a user app
        ("/uapi/cdr/@owner", ADMIN),
    ],
)
async def test_users_the_app_may_not_see_are_user_invalid(cdr: Api, path: str, token: str) -> None:
    """400 user_invalid, before any record is read."""
    status, body = await get(cdr, path, token)
    assert status == 400
    assert body["error"]["code"] == "user_invalid"
