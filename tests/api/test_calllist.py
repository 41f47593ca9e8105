"""GET /uapi/phoneCalls/{userId}/{extension}[/{phoneCallId}]: list parameters, codes, scope."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.domain.model import CallMeta
from tests.api.conftest import FakePbx
from tests.api.test_phonecalls import call, post
from tests.conftest import CRM, HELPDESK, Api
from tests.domain.replay import T0, load, replay

URL = "/uapi/phoneCalls/@me/210"


async def get(api: Api, url: str = URL, token: str = CRM, **params: str) -> tuple[int, Any]:
    resp = await api.client.get(url, headers=api.auth(token), params=params)
    raw = await resp.read()
    return resp.status, (await resp.json()) if raw else None


def live(api: Api, name: str = "two_party", until: float = 1.0) -> str:
    """Plays a recorded sandbox call into the API's tracker up to `until`; returns its id."""
    script = load(name)
    meta = script.meta()
    if meta is not None:
        api.services.nodes.first.tracker.annotate(script.call_id, meta)
    for _ in replay(api.services.nodes.first.tracker, script, until):
        pass
    return script.call_id


def planned(
    api: Api, n: int, *, start: float = T0, sources: tuple[str, ...] = ("0003*210",), first: int = 0
) -> list[str]:
    """`n` API calls known to the tracker (not yet reported by Asterisk), one second apart."""
    ids = []
    for i in range(first, first + n):
        cid = f"{i:020x}"
        api.services.nodes.first.tracker.annotate(
            cid,
            CallMeta(
                sources[0], "12", "crm", f"nonce-{i}", start + i - first, sources, ("5551234",)
            ),
        )
        ids.append(cid)
    return ids


async def test_lists_a_live_call_with_its_views(api: Api, pbx: FakePbx) -> None:
    """A recorded two-party call: one PhoneCall, views 00/01 on call, owner and link."""
    call_id = live(api)
    status, body = await get(api)
    assert status == 200
    assert (body["totalResults"], body["startIndex"], body["itemsPerPage"]) == (1, 0, 1)
    [entry] = body["entry"]
    assert entry["id"] == call_id
    assert entry["extension"] == "0003*210"
    assert (entry["ownerId"], entry["ownerName"]) == ("3", "Default Organization")
    assert entry["links"]["self"].endswith(f"/uapi/phoneCalls/@me/0003*210/{call_id}")
    assert [(v["id"], v["extension"], v["status"]) for v in entry["phoneCallView"]] == [
        ("00", "0003*210", "5"),
        ("01", "5551234", "5"),
    ]
    assert "links" not in body


async def test_one_call_by_id_and_an_unknown_id_is_204(api: Api, pbx: FakePbx) -> None:
    """With the id: that call; an id that is not live (or not of this extension): 204."""
    call_id = live(api)
    status, body = await get(api, f"{URL}/{call_id}")
    assert (status, [e["id"] for e in body["entry"]]) == (200, [call_id])
    assert (await get(api, f"{URL}/{'0' * 20}"))[0] == 204
    assert (await get(api, f"/uapi/phoneCalls/@me/026/{call_id}"))[0] == 204


@pytest.mark.parametrize("bad", ["%C2%84", "not-an-id", "F" * 20, "0" * 21, "0" * 19])
async def test_an_id_that_cannot_be_a_phone_call_is_refused(
    api: Api, pbx: FakePbx, bad: str
) -> None:
    """An id outside the PhoneCall id form (20 lowercase hex) is 400 pc_phonecall_invalid
    (VoipNow: "must be set to an alphanumeric value"), not 204."""
    live(api)
    status, body = await get(api, f"{URL}/{bad}")
    assert (status, body["error"]["code"]) == (400, "pc_phonecall_invalid")


async def test_no_calls_is_204_with_no_body(api: Api, pbx: FakePbx) -> None:
    """An extension without live calls answers 204 and an empty body."""
    resp = await api.client.get(URL, headers=api.auth())
    assert resp.status == 204
    assert await resp.read() == b""


async def test_a_posted_call_is_listed_at_once(api: Api, pbx: FakePbx) -> None:
    """Right after the 202 (before Asterisk reports anything) List shows the call."""
    _, placed = await post(api, call("210", "024", nonce="n-1"))
    status, body = await get(api)
    assert status == 200
    [entry] = body["entry"]
    assert entry["id"] == placed[0]["id"]
    assert entry["nonce"] == "n-1"
    assert [v["extension"] for v in entry["phoneCallView"]] == ["0003*210", "0003*024"]


async def test_a_refused_originate_leaves_nothing_listed(api: Api, pbx: FakePbx) -> None:
    """Asterisk refuses the Originate: 502 and the call is not listed."""
    pbx.fail = "Originate failed"
    status, _ = await post(api, call("210", "024"))
    assert status == 502
    assert (await get(api))[0] == 204


async def test_self_lists_every_extension_of_the_user(api: Api, pbx: FakePbx) -> None:
    """@self covers 210 and 026 (John's); another user's extension is extension_invalid."""
    planned(api, 1)
    planned(api, 1, start=T0 + 5, sources=("0003*026",), first=1)
    status, body = await get(api, "/uapi/phoneCalls/@me/@self")
    assert (status, body["totalResults"]) == (200, 2)
    status, body = await get(api, "/uapi/phoneCalls/@me/024")
    assert (status, body["error"]["code"]) == (400, "extension_invalid")


async def test_organization_app_lists_for_its_users(api: Api, pbx: FakePbx) -> None:
    """The helpdesk (organization) app names the user: 12/210 works, @me is user_invalid."""
    call_id = live(api)
    status, body = await get(api, "/uapi/phoneCalls/12/210", token=HELPDESK)
    assert (status, body["entry"][0]["id"]) == (200, call_id)
    status, body = await get(api, "/uapi/phoneCalls/@me/210", token=HELPDESK)
    assert (status, body["error"]["code"]) == (400, "user_invalid")


async def test_paging_links_and_sort_order(api: Api, pbx: FakePbx) -> None:
    """count/startIndex page the calls oldest first; descending reverses; links next/prev."""
    ids = planned(api, 5)
    status, body = await get(api, count="2", startIndex="2")
    assert status == 200
    assert [e["id"] for e in body["entry"]] == ids[2:4]
    assert body["totalResults"] == 5
    assert "startIndex=4" in body["links"]["next"]
    assert "startIndex=0" in body["links"]["prev"]
    _, body = await get(api, sortOrder="descending", count="2")
    assert [e["id"] for e in body["entry"]] == [ids[4], ids[3]]


async def test_filters_by_id_and_published(api: Api, pbx: FakePbx) -> None:
    """filterBy id (equals, startsWith) and published (greaterThan a dateTime)."""
    ids = planned(api, 3)
    _, body = await get(api, filterBy="id", filterOp="equals", filterValue=ids[1])
    assert [e["id"] for e in body["entry"]] == [ids[1]]
    _, body = await get(
        api, filterBy="published", filterOp="greaterThan", filterValue="2027-01-15T08:00:00Z"
    )
    assert [e["id"] for e in body["entry"]] == ids[1:]
    status, _ = await get(api, filterBy="nonce", filterOp="equals", filterValue="nope")
    assert status == 204


async def test_fields_selects_what_is_returned(api: Api, pbx: FakePbx) -> None:
    """fields=id,published returns only those keys."""
    planned(api, 1)
    _, body = await get(api, fields="id,published")
    assert set(body["entry"][0]) == {"id", "published"}


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"fields": "id,colour"}, "fields_invalid"),
        ({"count": "5001"}, "count_invalid"),
        ({"count": "ten"}, "count_invalid"),
        ({"filterBy": "colour", "filterValue": "x"}, "filterby_invalid"),
        ({"filterBy": "id", "filterOp": "greaterThan", "filterValue": "x"}, "filterop_invalid"),
        ({"filterBy": "id", "filterOp": "equals"}, "filtervalue_invalid"),
        (
            {"filterBy": "published", "filterOp": "lessThan", "filterValue": "yesterday"},
            "filtervalue_invalid",
        ),
        ({"sortOrder": "sideways"}, "sortorder_invalid"),
        ({"startIndex": "-1"}, "startindex_invalid"),
        ({"startIndex": "5001"}, "startindex_invalid"),
    ],
)
async def test_each_bad_parameter_has_its_code(
    api: Api, pbx: FakePbx, params: dict[str, str], code: str
) -> None:
    """Every failure code of the List page, as a 400 with that code."""
    live(api)
    status, body = await get(api, **params)
    assert (status, body["error"]["code"]) == (400, code)


async def test_pbx_down_is_503(api: Api, pbx: FakePbx) -> None:
    """Without the AMI link the live calls are not known: 503 pbx_unavailable."""
    pbx.connected = False
    status, body = await get(api)
    assert (status, body["error"]["code"]) == (503, "pbx_unavailable")


async def test_unifiedapi_alias(api: Api, pbx: FakePbx) -> None:
    """The same list under /unifiedapi/, with links under that prefix."""
    live(api)
    status, body = await get(api, "/unifiedapi/phoneCalls/@me/210")
    assert status == 200
    assert "/unifiedapi/phoneCalls/" in body["entry"][0]["links"]["self"]
