"""Empty answers: 204 by default; 200 with a body for an app with `empty_as_200`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bridge import config as config_mod
from bridge.domain.tracker import CallTracker
from tests.api.conftest import ReactingPbx
from tests.api.test_calllist import live
from tests.conftest import CRM, HELPDESK, Api


class EndingPbx(ReactingPbx):
    """A PBX on which a Redirect ends the whole call (every channel hangs up)."""

    def react(self, action: Any, tracker: CallTracker) -> None:
        if action["Action"] == "Redirect":
            for uid in list(tracker.channels):
                tracker.apply({"Event": "Hangup", "Uniqueid": uid}, 1.8e9)


@pytest.fixture
async def api_200(make_api: Callable[..., Any], raw_config: dict[str, Any]) -> Api:
    """The demo API where the crm app (only) has `empty_as_200: true`."""
    raw_config["apps"][0]["empty_as_200"] = True
    api: Api = await make_api(config_mod.parse(raw_config, env={}))
    api.plug(EndingPbx(api))
    return api


async def request(
    api: Api,
    method: str,
    path: str,
    token: str = CRM,
    body: Any = None,
) -> tuple[int, Any]:
    resp = await api.client.request(method, path, headers=api.auth(token), json=body)
    raw = await resp.read()
    return resp.status, (await resp.json()) if raw else None


async def test_empty_list_is_an_empty_collection(api_200: Api) -> None:
    """A list with nothing in it: 200 with totalResults 0, the startIndex asked for, no entry."""
    status, body = await request(api_200, "GET", "/uapi/phoneCalls/@me/210/?startIndex=3")
    assert (status, body) == (
        200,
        {"totalResults": 0, "startIndex": 3, "itemsPerPage": 0, "entry": []},
    )
    status, body = await request(api_200, "GET", "/uapi/extensions/@me/210/phoneCallEvents")
    assert (status, body["totalResults"], body["entry"]) == (200, 0, [])


async def test_other_apps_keep_204(api_200: Api) -> None:
    """The option is per app: the helpdesk app still gets 204 with no body."""
    assert await request(api_200, "GET", "/uapi/phoneCalls/12/210", HELPDESK) == (204, None)
    assert await request(api_200, "DELETE", "/uapi/phoneCalls/12/210", HELPDESK) == (204, None)


async def test_delete_with_nothing_to_delete_is_an_empty_array(api_200: Api) -> None:
    """Hang-up with no call and PhoneCallEvents delete with no registration: 200 `[]`."""
    assert await request(api_200, "DELETE", "/uapi/phoneCalls/@me/210") == (200, [])
    status, body = await request(api_200, "DELETE", "/uapi/extensions/@me/210/phoneCallEvents/1")
    assert (status, body) == (200, [])


async def test_an_action_that_ends_the_call_answers_the_phone_call(api_200: Api) -> None:
    """A PUT after which the call is gone (204 by default) answers the PhoneCall as last seen."""
    call_id = live(api_200)
    status, body = await request(
        api_200,
        "PUT",
        f"/uapi/phoneCalls/@me/210/{call_id}",
        body={"action": "Transfer", "phoneCallViewId": "00", "sendCallTo": "024"},
    )
    assert status == 200
    assert body["id"] == call_id
    assert [v["extension"] for v in body["phoneCallView"]] == ["0003*210", "5551234"]
    assert call_id not in api_200.services.nodes.first.tracker.calls


async def test_the_same_action_answers_204_by_default(api: Api) -> None:
    """Without the option the same PUT answers 204 with no body."""
    api.plug(EndingPbx(api))
    call_id = live(api)
    assert await request(
        api,
        "PUT",
        f"/uapi/phoneCalls/@me/210/{call_id}",
        body={"action": "Transfer", "phoneCallViewId": "00", "sendCallTo": "024"},
    ) == (204, None)


def test_the_option_must_be_a_boolean(raw_config: dict[str, Any]) -> None:
    """`apps[].empty_as_200` is a bool (default false); anything else is a config problem."""
    assert config_mod.parse(raw_config, env={}).apps[0].empty_as_200 is False
    raw_config["apps"][0]["empty_as_200"] = "sometimes"
    with pytest.raises(config_mod.ConfigError, match=r"apps\[0\]\.empty_as_200: must be bool"):
        config_mod.parse(raw_config, env={})
