"""/uapi/extensions/{userId}/{extension}/phoneCallEvents: every field and failure code."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ADMIN, CRM, HELPDESK, Api

URL = "/uapi/extensions/@me/210/phoneCallEvents"
HOOK = {"type": "0", "method": "1", "note": "CRM pop-up", "url": "https://crm.example.com/hook",
        "status": "0"}


async def call(api: Api, method: str, url: str = URL, body: Any = None, token: str = CRM,
               **params: str) -> tuple[int, Any]:
    resp = await api.client.request(method, url, json=body, headers=api.auth(token),
                                    params=params)
    raw = await resp.read()
    return resp.status, (await resp.json()) if raw else None


async def test_create_answers_201_with_the_whole_event(api: Api) -> None:
    """A 30-character id, numbers as strings, a self link under the extended number."""
    status, body = await call(api, "POST", body=HOOK)
    assert status == 201
    assert len(body["id"]) == 30
    assert body["id"].isalnum()
    assert {k: body[k] for k in HOOK} == HOOK
    assert body["extension"] == "0003*210"
    assert body["links"]["self"].endswith(
        f"/uapi/extensions/@me/0003*210/phoneCallEvents/0/{body['id']}")
    assert body["modified"].endswith("Z")


async def test_type_in_the_path_and_numbers_as_numbers(api: Api) -> None:
    """POST .../phoneCallEvents/2 takes the type from the path; 1 and "1" are the same."""
    status, body = await call(api, "POST", f"{URL}/2", {"url": "https://a.example/h",
                                                         "method": 1, "status": 1})
    assert status == 201
    assert (body["type"], body["method"], body["status"], body["note"]) == ("2", "1", "1", "")


async def test_registrations_survive_a_restart(api: Api, make_api: Any) -> None:
    """A new bridge on the same database lists the same registration."""
    _, made = await call(api, "POST", body=HOOK)
    again: Api = await make_api()
    await again.services.registrations.load()
    status, body = await call(again, "GET", f"{URL}/0/{made['id']}")
    assert (status, body["entry"][0]["url"]) == (200, HOOK["url"])


async def test_list_filters_and_204(api: Api) -> None:
    """List by type, filterBy url, and 204 when there is nothing."""
    assert (await call(api, "GET"))[0] == 204
    await call(api, "POST", body=HOOK)
    await call(api, "POST", body={**HOOK, "type": "2", "url": "https://b.example/x"})
    status, body = await call(api, "GET")
    assert (status, body["totalResults"]) == (200, 2)
    _, body = await call(api, "GET", f"{URL}/2")
    assert [e["type"] for e in body["entry"]] == ["2"]
    _, body = await call(api, "GET", filterBy="url", filterOp="contains", filterValue="b.example")
    assert [e["url"] for e in body["entry"]] == ["https://b.example/x"]
    assert (await call(api, "GET", f"{URL}/4"))[0] == 204


async def test_update_merges_and_delete_removes(api: Api) -> None:
    """PUT changes only the given fields; DELETE answers the ids, then 204."""
    _, made = await call(api, "POST", body=HOOK)
    status, body = await call(api, "PUT", f"{URL}/0/{made['id']}", {"method": "0",
                                                                     "note": "now GET"})
    assert status == 200
    assert (body["method"], body["note"], body["url"]) == ("0", "now GET", HOOK["url"])
    status, body = await call(api, "DELETE", f"{URL}/0/{made['id']}")
    assert (status, body) == (200, [{"id": made["id"]}])
    assert (await call(api, "DELETE"))[0] == 204


async def test_an_app_sees_only_its_own_registrations(api: Api) -> None:
    """The helpdesk app (same organization) does not see or delete the CRM's hooks."""
    await call(api, "POST", body=HOOK)
    assert (await call(api, "GET", "/uapi/extensions/12/210/phoneCallEvents",
                       token=HELPDESK))[0] == 204


@pytest.mark.parametrize(("body", "code"), [
    ({**HOOK, "type": "5"}, "pcet_type_invalid"),
    ({**HOOK, "type": "DialIn"}, "pcet_type_invalid"),
    ({k: v for k, v in HOOK.items() if k != "type"}, "pcet_type_invalid"),
    ({**HOOK, "method": "2"}, "pce_method_invalid"),
    ({**HOOK, "note": "x" * 1025}, "pce_note_invalid"),
    ({**HOOK, "note": 12}, "pce_note_invalid"),
    ({**HOOK, "url": "crm.example.com/hook"}, "pce_url_invalid"),
    ({**HOOK, "url": "ftp://crm.example.com/hook"}, "pce_url_invalid"),
    ({**HOOK, "url": "http://169.254.169.254/latest"}, "pce_url_invalid"),  # SSRF
    ({**HOOK, "url": "http://10.0.0.5/hook"}, "pce_url_invalid"),
    ({**HOOK, "status": "2"}, "pce_status_invalid"),
])
async def test_each_create_failure_code(api: Api, body: dict[str, Any], code: str) -> None:
    """Each invalid field of a new PhoneCallEvent has its code; nothing is stored."""
    status, answer = await call(api, "POST", body=body)
    assert (status, answer["error"]["code"]) == (400, code)
    assert api.services.registrations.by_id == {}


@pytest.mark.parametrize(("path_tail", "body", "code"), [
    ("/7/x", {"note": "x"}, "pce_type_invalid"),
    ("/0/NoSuchEventId", {"note": "x"}, "pce_id_invalid"),
    ("/1/{id}", {"note": "x"}, "pce_id_invalid"),  # an event of another type
    ("/0/{id}", {"type": "9"}, "pce_type_invalid"),
    ("/0/{id}", {"method": "GET"}, "pce_method_invalid"),
    ("/0/{id}", {"url": "http://192.168.1.1/"}, "pce_url_invalid"),
    ("/0/{id}", {"status": "-1"}, "pce_status_invalid"),
    ("/0/{id}", {"note": "n" * 2000}, "pce_note_invalid"),
])
async def test_each_update_failure_code(api: Api, path_tail: str, body: dict[str, Any],
                                        code: str) -> None:
    """Each invalid update has its code, and the event is unchanged."""
    _, made = await call(api, "POST", body=HOOK)
    status, answer = await call(api, "PUT", URL + path_tail.format(id=made["id"]), body)
    assert (status, answer["error"]["code"]) == (400, code)
    assert api.services.registrations.by_id[made["id"]].note == HOOK["note"]


@pytest.mark.parametrize(("url", "token", "code"), [
    ("/uapi/extensions/@me/@self/phoneCallEvents", CRM, "extension_invalid"),
    ("/uapi/extensions/@me/999/phoneCallEvents", CRM, "extension_invalid"),
    ("/uapi/extensions/@me/024/phoneCallEvents", CRM, "pce_access_denied"),  # Jane's
    ("/uapi/extensions/13/024/phoneCallEvents", CRM, "pce_access_denied"),
    ("/uapi/extensions/12/024/phoneCallEvents", HELPDESK, "extension_invalid"),  # not 12's
    ("/uapi/extensions/30/0004*300/phoneCallEvents", HELPDESK, "user_invalid"),  # other org
    ("/uapi/extensions/@me/0004*300/phoneCallEvents", CRM, "extension_invalid"),  # other org
    ("/uapi/extensions/@me/210/phoneCallEvents", ADMIN, "user_invalid"),
])
async def test_whose_extension(api: Api, url: str, token: str, code: str) -> None:
    """@self and unknown numbers are extension_invalid; another's extension pce_access_denied."""
    status, answer = await call(api, "POST", url, HOOK, token=token)
    assert (status, answer["error"]["code"]) == (400, code)


async def test_deliveries_of_a_registration_start_empty(api: Api) -> None:
    """The delivery log of a new registration: 204 until something fired."""
    _, made = await call(api, "POST", body=HOOK)
    assert (await call(api, "GET", f"{URL}/0/{made['id']}/deliveries"))[0] == 204
    status, answer = await call(api, "GET", f"{URL}/0/nope/deliveries")
    assert (status, answer["error"]["code"]) == (400, "pce_id_invalid")
