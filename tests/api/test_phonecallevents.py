"""/uapi/extensions/{userId}/{extension}/phoneCallEvents: every field and failure code."""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import replace
from typing import Any

import pytest
from structlog.testing import capture_logs

from tests.conftest import ADMIN, CRM, HELPDESK, Api

URL = "/uapi/extensions/@me/210/phoneCallEvents"
HOOK = {
    "type": "0",
    "method": "1",
    "note": "CRM pop-up",
    "url": "https://crm.example.com/hook",
    "status": "0",
}


async def call(
    api: Api, method: str, url: str = URL, body: Any = None, token: str = CRM, **params: str
) -> tuple[int, Any]:
    resp = await api.client.request(method, url, json=body, headers=api.auth(token), params=params)
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
        f"/uapi/extensions/@me/0003*210/phoneCallEvents/0/{body['id']}"
    )
    assert body["modified"].endswith("Z")


async def test_type_in_the_path_and_numbers_as_numbers(api: Api) -> None:
    """POST .../phoneCallEvents/2 takes the type from the path; 1 and "1" are the same."""
    status, body = await call(
        api, "POST", f"{URL}/2", {"url": "https://a.example/h", "method": 1, "status": 1}
    )
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
    status, body = await call(
        api, "PUT", f"{URL}/0/{made['id']}", {"method": "0", "note": "now GET"}
    )
    assert status == 200
    assert (body["method"], body["note"], body["url"]) == ("0", "now GET", HOOK["url"])
    status, body = await call(api, "DELETE", f"{URL}/0/{made['id']}")
    assert (status, body) == (200, [{"id": made["id"]}])
    assert (await call(api, "DELETE"))[0] == 204


async def test_an_app_sees_only_its_own_registrations(api: Api) -> None:
    """The helpdesk app (same organization) does not see or delete the CRM's hooks."""
    await call(api, "POST", body=HOOK)
    assert (await call(api, "GET", "/uapi/extensions/12/210/phoneCallEvents", token=HELPDESK))[
        0
    ] == 204


@pytest.mark.parametrize(
    ("body", "code"),
    [
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
    ],
)
async def test_each_create_failure_code(api: Api, body: dict[str, Any], code: str) -> None:
    """Each invalid field of a new PhoneCallEvent has its code; nothing is stored."""
    status, answer = await call(api, "POST", body=body)
    assert (status, answer["error"]["code"]) == (400, code)
    assert api.services.registrations.by_id == {}


@pytest.mark.parametrize(
    ("path_tail", "body", "code"),
    [
        ("/7/x", {"note": "x"}, "pce_type_invalid"),
        ("/0/NoSuchEventId", {"note": "x"}, "pce_id_invalid"),
        ("/1/{id}", {"note": "x"}, "pce_id_invalid"),  # an event of another type
        ("/0/{id}", {"type": "9"}, "pce_type_invalid"),
        ("/0/{id}", {"method": "GET"}, "pce_method_invalid"),
        ("/0/{id}", {"url": "http://192.168.1.1/"}, "pce_url_invalid"),
        ("/0/{id}", {"status": "-1"}, "pce_status_invalid"),
        ("/0/{id}", {"note": "n" * 2000}, "pce_note_invalid"),
    ],
)
async def test_each_update_failure_code(
    api: Api, path_tail: str, body: dict[str, Any], code: str
) -> None:
    """Each invalid update has its code, and the event is unchanged."""
    _, made = await call(api, "POST", body=HOOK)
    status, answer = await call(api, "PUT", URL + path_tail.format(id=made["id"]), body)
    assert (status, answer["error"]["code"]) == (400, code)
    assert api.services.registrations.by_id[made["id"]].note == HOOK["note"]


@pytest.mark.parametrize(
    ("url", "token", "code"),
    [
        ("/uapi/extensions/@me/@self/phoneCallEvents", CRM, "extension_invalid"),
        ("/uapi/extensions/@me/999/phoneCallEvents", CRM, "extension_invalid"),
        ("/uapi/extensions/@me/024/phoneCallEvents", CRM, "pce_access_denied"),  # Jane's
        ("/uapi/extensions/13/024/phoneCallEvents", CRM, "pce_access_denied"),
        ("/uapi/extensions/12/024/phoneCallEvents", HELPDESK, "extension_invalid"),  # not 12's
        ("/uapi/extensions/30/0004*300/phoneCallEvents", HELPDESK, "user_invalid"),  # other org
        ("/uapi/extensions/@me/0004*300/phoneCallEvents", CRM, "extension_invalid"),  # other org
        ("/uapi/extensions/@me/210/phoneCallEvents", ADMIN, "user_invalid"),
    ],
)
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


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({**HOOK, "type": "²"}, "pcet_type_invalid"),  # str.isdigit() is true, int() raises
        ({**HOOK, "type": "٣"}, "pcet_type_invalid"),  # int("٣") == 3: not a type either
        ({**HOOK, "type": "1" * 5000}, "pcet_type_invalid"),  # beyond Python's int limit
        ({**HOOK, "type": "0" * 20}, "pcet_type_invalid"),  # a zero, but too long to parse
        ({**HOOK, "method": "٣"}, "pce_method_invalid"),
        ({**HOOK, "method": "²"}, "pce_method_invalid"),
        ({**HOOK, "status": "\u0661"}, "pce_status_invalid"),  # ARABIC-INDIC DIGIT ONE
        ({**HOOK, "status": "9" * 5000}, "pce_status_invalid"),
        ({**HOOK, "type": True}, "pcet_type_invalid"),
    ],
)
async def test_numeric_fields_take_ascii_digits_only(
    api: Api, body: dict[str, Any], code: str
) -> None:
    """Unicode digits and endless digit strings get the field's code, never a 500."""
    status, answer = await call(api, "POST", body=body)
    assert (status, answer["error"]["code"]) == (400, code)
    assert api.services.registrations.by_id == {}


@pytest.mark.parametrize(
    ("method", "tail", "code"),
    [
        ("POST", "/٣", "pcet_type_invalid"),
        ("POST", "/" + "2" * 5000, "pcet_type_invalid"),
        ("GET", "/²", "pce_type_invalid"),
        ("GET", "/" + "1" * 5000, "pce_type_invalid"),
        ("DELETE", "/٣", "pce_type_invalid"),
        ("PUT", "/²/x", "pce_type_invalid"),
        ("GET", "/٣/x/secret", "pce_type_invalid"),
    ],
)
async def test_the_path_event_type_takes_ascii_digits_only(
    api: Api, method: str, tail: str, code: str
) -> None:
    """The path's {eventType} with Unicode or endless digits: its code on every route."""
    await call(api, "POST", body=HOOK)
    status, answer = await call(api, method, URL + tail, {"url": HOOK["url"]})
    assert (status, answer["error"]["code"]) == (400, code)
    assert len(api.services.registrations.by_id) == 1


async def test_update_refuses_unicode_digits(api: Api) -> None:
    """PUT with an ARABIC-INDIC DIGIT ZERO as method: pce_method_invalid, nothing changes."""
    _, made = await call(api, "POST", body=HOOK)
    status, answer = await call(api, "PUT", f"{URL}/0/{made['id']}", {"method": "\u0660"})
    assert (status, answer["error"]["code"]) == (400, "pce_method_invalid")
    assert api.services.registrations.by_id[made["id"]].method == 1


async def test_max_registrations_per_extension_and_app(make_api: Any, config: Any) -> None:
    """Past webhooks.max_registrations: 409 pce_limit_exceeded, nothing stored; another app
    or another extension still has room; a deleted one frees its place."""
    api: Api = await make_api(
        replace(config, webhooks=replace(config.webhooks, max_registrations=2))
    )
    made = [await call(api, "POST", body={**HOOK, "type": str(t)}) for t in (0, 1)]
    assert [s for s, _ in made] == [201, 201]
    status, answer = await call(api, "POST", body={**HOOK, "type": "2"})
    assert (status, answer["error"]["code"]) == (409, "pce_limit_exceeded")
    assert "max_registrations" in answer["error"]["message"]
    assert len(api.services.registrations.by_id) == 2
    assert (
        await call(api, "POST", "/uapi/extensions/12/210/phoneCallEvents", HOOK, token=HELPDESK)
    )[0] == 201
    assert (await call(api, "POST", "/uapi/extensions/@me/026/phoneCallEvents", HOOK))[0] == 201
    await call(api, "DELETE", f"{URL}/0/{made[0][1]['id']}")
    assert (await call(api, "POST", body=HOOK))[0] == 201


async def test_racing_creates_do_not_pass_the_limit(make_api: Any, config: Any) -> None:
    """Ten creates at once with room for three: three 201, seven 409."""
    api: Api = await make_api(
        replace(config, webhooks=replace(config.webhooks, max_registrations=3))
    )
    answers = await asyncio.gather(*(call(api, "POST", body=HOOK) for _ in range(10)))
    assert sorted(s for s, _ in answers) == [201] * 3 + [409] * 7
    await api.services.registrations.load()  # what SQLite holds
    assert len(api.services.registrations.by_id) == 3


async def test_each_registration_has_its_own_secret(api: Api) -> None:
    """Without an app webhook_secret: a new whsec_ secret per registration, in the 201 and
    from the secret route only (never in List)."""
    admin_url = "/uapi/extensions/12/210/phoneCallEvents"
    _, one = await call(api, "POST", admin_url, HOOK, token=ADMIN)
    _, two = await call(api, "POST", admin_url, HOOK, token=ADMIN)
    assert one["secret"] != two["secret"]
    for made in (one, two):
        assert len(base64.b64decode(made["secret"].removeprefix("whsec_"), validate=True)) >= 24
        status, body = await call(api, "GET", f"{admin_url}/0/{made['id']}/secret", token=ADMIN)
        assert (status, body) == (200, {"secret": made["secret"]})
    _, listed = await call(api, "GET", admin_url, token=ADMIN)
    assert all("secret" not in entry for entry in listed["entry"])
    assert one["secret"] not in json.dumps(listed)


async def test_an_app_webhook_secret_is_given_to_its_new_registrations(
    api: Api, config: Any
) -> None:
    """The CRM app has webhook_secret: its registrations sign with it."""
    _, made = await call(api, "POST", body=HOOK)
    crm = next(a for a in config.apps if a.name == "crm")
    assert made["secret"] == crm.webhook_secret


@pytest.mark.parametrize(
    ("path", "token", "code"),
    [
        ("/0/{id}/secret", HELPDESK, "pce_id_invalid"),  # not the helpdesk's registration
        ("/1/{id}/secret", CRM, "pce_id_invalid"),  # another type
        ("/0/NoSuch/secret", CRM, "pce_id_invalid"),
    ],
)
async def test_the_secret_route_follows_the_other_routes_rules(
    api: Api, path: str, token: str, code: str
) -> None:
    """Only the app that made the registration gets its secret."""
    _, made = await call(api, "POST", body=HOOK)
    url = "/uapi/extensions/12/210/phoneCallEvents" if token == HELPDESK else URL
    status, answer = await call(api, "GET", url + path.format(id=made["id"]), token=token)
    assert (status, answer["error"]["code"]) == (400, code)
    assert made["secret"] not in json.dumps(answer)


async def test_the_secret_is_never_logged(api: Api) -> None:
    """Neither create nor the secret route writes the secret to a log line."""
    with capture_logs() as logs:
        _, made = await call(
            api, "POST", "/uapi/extensions/12/210/phoneCallEvents", HOOK, token=ADMIN
        )
        await call(
            api,
            "GET",
            f"/uapi/extensions/12/210/phoneCallEvents/0/{made['id']}/secret",
            token=ADMIN,
        )
    assert logs
    assert made["secret"] not in repr(logs)
    assert made["secret"] not in repr(api.services.registrations.by_id[made["id"]])


@pytest.mark.parametrize(
    "url",
    [
        "http://2130706433/hook",
        "http://0x7f000001/hook",
        "http://017700000001/hook",
        "http://127.1/hook",
        "http://0/hook",
        "https://crm.example.com/a b",
        "https://crm.example.com/hook\r\nX: y",
        " https://crm.example.com/hook",
    ],
)
async def test_numeric_hosts_and_control_characters_are_pce_url_invalid(api: Api, url: str) -> None:
    """Numeric host spellings and URLs with whitespace or control characters are refused."""
    status, answer = await call(api, "POST", body={**HOOK, "url": url})
    assert (status, answer["error"]["code"]) == (400, "pce_url_invalid")


async def test_the_url_is_stored_normalized(api: Api) -> None:
    """Scheme and host lower-cased, IDNA, default port and fragment dropped."""
    _, made = await call(api, "POST", body={**HOOK, "url": "HTTPS://BÜCHER.example:443/H?a=1#x"})
    assert made["url"] == "https://xn--bcher-kva.example/H?a=1"
    assert api.services.registrations.by_id[made["id"]].url == made["url"]
