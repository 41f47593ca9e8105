"""Tenant isolation across every route: apps of every kind against numbers of every organization.

Rules (issue 9): an app reaches only the users and extensions it may act for; a user or an
extension of another organization is answered exactly (code and message) like an unknown one;
make-call sources are extensions the app may act for or public numbers, destinations are
extensions of the same organization or public numbers, and call-control numbers follow the same
rule; nothing refused reaches Asterisk.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web

from bridge import config as config_mod
from tests.api.test_callcontrol import TrackingPbx
from tests.api.test_calllist import live
from tests.conftest import ADMIN, CRM, HELPDESK, Api

OTHER = "other-org-token-0123456789"  # an organization app of organization 4
APPS = {"crm": CRM, "helpdesk": HELPDESK, "admin": ADMIN, "other": OTHER}
CALL_ID = "0123456789abcdef0123"
EVENT_ID = "a" * 30
RECORDING_ID = f"uapi-{CALL_ID}-00-1796560271"
FAX_ID = "fax-0123456789abcdef01234567"


@pytest.fixture
async def tenants(make_api: Callable[..., Any], raw_config: dict[str, Any]) -> Api:
    """The demo config plus an organization app of organization 4, and a fake PBX."""
    raw_config["apps"].append({"name": "other", "organization": "4", "token": OTHER})
    api: Api = await make_api(config_mod.parse(raw_config, env={}))
    api.plug(TrackingPbx(api))
    return api


def _fill(path: str, user: str, extension: str) -> str:
    values = {
        "userId": user,
        "extension": extension,
        "phoneCallId": CALL_ID,
        "eventType": "0",
        "eventId": EVENT_ID,
        "identifier": "024",
        "recordingId": RECORDING_ID,
        "participantId": "1733450001.42",
        "deliveryId": "b" * 24,
        "faxId": FAX_ID,
    }
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


def _routes(app: web.Application) -> list[tuple[str, str]]:
    """Every (method, path template) under /uapi that names a user or an extension."""
    found = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("formatter") or info.get("path") or ""
        if path.startswith("/uapi/") and "{userId}" in path and route.method != "HEAD":
            found.add((route.method, path))
    return sorted(found)


async def _answer(api: Api, method: str, url: str, token: str) -> tuple[int, Any]:
    body = {
        "action": "Park",
        "phoneCallViewId": "00",
        "type": "0",
        "url": "https://x.example/h",
        "phoneCallView": [{"source": ["210"], "destination": ["5551234"]}],
    }
    resp = await api.client.request(
        method,
        url,
        headers={"Authorization": f"Bearer {token}"},
        json=body if method in ("POST", "PUT") else None,
    )
    raw = await resp.read()
    return resp.status, (await resp.json()) if raw else None


def _same(a: tuple[int, Any], b: tuple[int, Any], secret: str, unknown: str) -> bool:
    """Two answers equal once the probed values are written alike."""
    return a[0] == b[0] and str(a[1]).replace(secret, "N") == str(b[1]).replace(unknown, "N")


@pytest.mark.parametrize("app_name", ["crm", "helpdesk"])
async def test_another_organizations_user_is_unknown(tenants: Api, app_name: str) -> None:
    """On every route, user 30 (organization 4) is answered exactly like user 999."""
    routes = _routes(tenants.app)
    assert len(routes) >= 10
    for method, path in routes:
        foreign = await _answer(tenants, method, _fill(path, "30", "0004*300"), APPS[app_name])
        unknown = await _answer(tenants, method, _fill(path, "999", "0004*300"), APPS[app_name])
        assert foreign[0] == 400, (method, path, foreign)
        assert foreign[1]["error"]["code"] == "user_invalid", (method, path, foreign)
        assert _same(foreign, unknown, "30", "999"), (method, path, foreign, unknown)


@pytest.mark.parametrize("app_name", ["crm", "helpdesk", "other"])
async def test_another_organizations_extension_is_unknown(tenants: Api, app_name: str) -> None:
    """On every route, an extension of another organization (by its extended number) is
    answered exactly like an extension number that does not exist."""
    user = {"crm": "@me", "helpdesk": "@owner", "other": "@owner"}[app_name]
    foreign_ext = "0003*210" if app_name == "other" else "0004*300"
    unknown_ext = "0003*998" if app_name == "other" else "0004*998"
    for method, path in _routes(tenants.app):
        if "{extension}" not in path:
            continue
        foreign = await _answer(tenants, method, _fill(path, user, foreign_ext), APPS[app_name])
        unknown = await _answer(tenants, method, _fill(path, user, unknown_ext), APPS[app_name])
        assert foreign[0] == 400, (method, path, foreign)
        assert foreign[1]["error"]["code"] == "extension_invalid", (method, path, foreign)
        assert _same(foreign, unknown, foreign_ext, unknown_ext), (method, path, foreign, unknown)


async def test_inside_the_organization_the_distinction_stays(tenants: Api) -> None:
    """A colleague's extension is pce_access_denied (it exists, the app may not manage it);
    a number that does not exist is extension_invalid."""
    url = "/uapi/extensions/@me/{}/phoneCallEvents"
    assert (await _answer(tenants, "GET", url.format("024"), CRM))[1]["error"]["code"] == (
        "pce_access_denied"
    )
    assert (await _answer(tenants, "GET", url.format("998"), CRM))[1]["error"]["code"] == (
        "extension_invalid"
    )


SPELLINGS = [
    "0004*300",
    " 0004*300 ",
    "0004*0300",
    "+0004*300",
    "\u0660\u0660\u0660\u0664*300",
    "0004*300\r\nAction: Originate",
]


@pytest.mark.parametrize(
    ("token", "user", "view", "code"),
    [
        *[
            (CRM, "@me", {"source": [s], "destination": ["5551234"]}, "pc_source_invalid")
            for s in SPELLINGS
        ],
        *[
            (CRM, "@me", {"source": ["210"], "destination": [d]}, "pc_destination_invalid")
            for d in SPELLINGS
        ],
        (
            CRM,
            "@me",
            {"source": ["210", "024"], "destination": ["5551234"]},
            "pc_source_invalid",
        ),  # 024 is Jane's: a user app rings only its user's phones
        (
            HELPDESK,
            "12",
            {"source": ["210"], "destination": ["0004*300"]},
            "pc_destination_invalid",
        ),
        (
            ADMIN,
            "12",
            {"source": ["210"], "destination": ["0004*300"]},
            "pc_destination_invalid",
        ),  # even the admin app does not join two organizations
        (
            ADMIN,
            "12",
            {"source": ["210", "0004*300"], "destination": ["5551234"]},
            "pc_source_invalid",
        ),
        (OTHER, "30", {"source": ["300"], "destination": ["0003*210"]}, "pc_destination_invalid"),
    ],
)
async def test_make_call_stays_in_the_organization(
    tenants: Api, token: str, user: str, view: dict[str, Any], code: str
) -> None:
    """Sources and destinations of another organization are refused with the field's code,
    whatever their spelling, and nothing reaches Asterisk."""
    body = {
        "phoneCallView": [{**view, "callerId": "Your Bank <5551234>"}],
        "extension": "0004*300" if token == OTHER else "0003*210",
    }
    resp = await tenants.client.post(
        f"/uapi/phoneCalls/{user}/simple", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    answer = await resp.json()
    assert (resp.status, answer["error"]["code"]) == (400, code), answer
    assert "0004*300" not in answer["error"]["message"] or "neither" in answer["error"]["message"]
    assert tenants.fake.sent == []


@pytest.mark.parametrize(
    ("token", "user", "view"),
    [
        (CRM, "@me", {"source": ["210", "026"], "destination": ["0003*024", "5551234"]}),
        (HELPDESK, "13", {"source": ["024", "210"], "destination": ["027"]}),
        (OTHER, "30", {"source": ["300"], "destination": ["+15551234"]}),
    ],
)
async def test_make_call_inside_the_organization_works(
    tenants: Api, token: str, user: str, view: dict[str, Any]
) -> None:
    """The same rules let every legitimate combination through (202, one Originate)."""
    body: dict[str, Any] = {"phoneCallView": [view]}
    if user != "@me":
        body["extension"] = view["source"][0]
    resp = await tenants.client.post(
        f"/uapi/phoneCalls/{user}/simple", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert resp.status == 202, await resp.text()
    assert len(tenants.fake.sent) == 1


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        *[({"action": "Transfer", "sendCallTo": s}, "pc_sendcallto_invalid") for s in SPELLINGS],
        ({"action": "UnPark", "sendCallTo": "0004*300"}, "pc_sendcallto_invalid"),
        ({"action": "PickUp", "sendCallTo": "0004*300"}, "pc_sendcallto_invalid"),
        ({"action": "Whisper", "sendCallTo": "0004*300"}, "pc_sendcallto_invalid"),
        ({"action": "TransferToVoicemail", "sendCallTo": "0004*300"}, "pc_sendcallto_invalid"),
        (
            {"action": "Transfer", "sendCallTo": "024", "transferNumber": "0004*300"},
            "pc_transfernumber_invalid",
        ),
        (
            {"action": "Transfer", "sendCallTo": "024", "transferFromNumber": "0004*300"},
            "pc_transferfromnumber_invalid",
        ),
    ],
)
async def test_call_control_numbers_stay_in_the_organization(
    tenants: Api, fields: dict[str, Any], code: str
) -> None:
    """sendCallTo, transferNumber and transferFromNumber naming another organization's
    extension are refused with the field's code, and nothing reaches Asterisk."""
    call_id = live(tenants)
    resp = await tenants.client.put(
        f"/uapi/phoneCalls/@me/210/{call_id}",
        json={"phoneCallViewId": "00", **fields},
        headers={"Authorization": f"Bearer {CRM}"},
    )
    answer = await resp.json()
    assert (resp.status, answer["error"]["code"]) == (400, code), answer
    assert tenants.fake.sent == []


async def test_lists_show_nothing_of_another_organization(tenants: Api) -> None:
    """A call of organization 3 is invisible to organization 4's app, even with @self."""
    live(tenants)
    resp = await tenants.client.get(
        "/uapi/phoneCalls/@owner/@self", headers={"Authorization": f"Bearer {OTHER}"}
    )
    assert resp.status == 204
    resp = await tenants.client.get(
        "/uapi/phoneCalls/@owner/@self", headers={"Authorization": f"Bearer {HELPDESK}"}
    )
    assert resp.status == 200
