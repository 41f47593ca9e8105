"""GET /uapi/extensions/{userId}/{extension}/presence: scope, list parameters, codes; it
answers from what the bridge keeps and sends nothing to Asterisk."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.test_cdr import Untouchable
from tests.conftest import ADMIN, HELPDESK, Api


@pytest.fixture
def seen(api: Api) -> Api:
    """210 on a call, 026 online, their static contacts; AMI must not be asked anything."""
    api.plug(Untouchable())
    api.services.nodes.first.presence.rebuild(
        [{"Device": "PJSIP/210", "State": "INUSE"}, {"Device": "PJSIP/026", "State": "NOT_INUSE"}],
        [
            {"ObjectName": "210", "Contacts": "210/sip:210@127.0.0.1:15061"},
            {"ObjectName": "026", "Contacts": "026/sip:026@127.0.0.1:15065"},
        ],
        [],
    )
    return api


async def get(api: Api, path: str, token: str | None = None, **params: str) -> tuple[int, Any]:
    resp = await api.client.get(
        f"/uapi/extensions/{path}/presence",
        headers=api.auth(token) if token else api.auth(),
        params=params,
    )
    return resp.status, (await resp.json() if resp.status != 204 else None)


async def test_self_lists_the_users_phone_terminals(seen: Api) -> None:
    """@self: 026 and 210 (not the callback or conference extension), by number."""
    status, body = await get(seen, "@me/@self")
    assert status == 200
    assert body["entry"] == [
        {
            "status": "1",
            "registration": [{"agent": "", "registration": "2"}],
            "extension": "0003*026",
        },
        {
            "status": "3",
            "registration": [{"agent": "", "registration": "2"}],
            "extension": "0003*210",
        },
    ]
    _, desc = await get(seen, "@me/@self", sortOrder="desc", fields="extension")
    assert desc["entry"] == [{"extension": "0003*210"}, {"extension": "0003*026"}]


async def test_one_extension_and_filters(seen: Api) -> None:
    """One phone terminal; filterBy=extension; nothing matching is 204; an extension Asterisk
    never mentioned is unknown (0)."""
    _, body = await get(seen, "14/028", HELPDESK)
    assert body["entry"] == [
        {
            "status": "0",
            "registration": [{"agent": "", "registration": "0"}],
            "extension": "0003*028",
        }
    ]
    _, body = await get(seen, "@me/210")
    assert [e["extension"] for e in body["entry"]] == ["0003*210"]
    _, body = await get(
        seen,
        "12/@self",
        HELPDESK,
        filterBy="extension",
        filterOp="startsWith",
        filterValue="0003*02",
    )
    assert [e["extension"] for e in body["entry"]] == ["0003*026"]
    status, _ = await get(seen, "@me/@self", filterBy="extension", filterValue="0003*999")
    assert status == 204


@pytest.mark.parametrize(
    ("path", "token", "params", "code"),
    [
        ("@me/250", None, {}, "extension_invalid"),  # a callback extension
        ("@me/024", None, {}, "extension_invalid"),  # another user's
        ("@me/0004*300", None, {}, "extension_invalid"),  # another organization's
        ("30/@self", HELPDESK, {}, "user_invalid"),
        ("@me/@self", ADMIN, {}, "user_invalid"),
        ("@me/@self", None, {"filterBy": "status", "filterValue": "1"}, "filterby_invalid"),
        (
            "@me/@self",
            None,
            {"filterBy": "extension", "filterOp": "greaterThan", "filterValue": "1"},
            "filterop_invalid",
        ),
        ("@me/@self", None, {"count": "0"}, "count_invalid"),
        ("@me/@self", None, {"fields": "status,cost"}, "fields_invalid"),
        ("@me/@self", None, {"sortOrder": "up"}, "sortorder_invalid"),
    ],
)
async def test_each_failure_has_its_code(
    seen: Api, path: str, token: str | None, params: dict[str, str], code: str
) -> None:
    """400 with the code."""
    status, body = await get(seen, path, token, **params)
    assert status == 400
    assert body["error"]["code"] == code


async def test_pbx_down_is_503(seen: Api) -> None:
    """Without the AMI link presence is not known: 503 pbx_unavailable."""
    seen.fake.connected = False
    status, body = await get(seen, "@me/@self")
    assert status == 503
    assert body["error"]["code"] == "pbx_unavailable"
