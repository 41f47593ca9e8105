"""One rule for empty query parameters: `?name=` is invalid, never taken as absent.

Walks bridge/api/openapi.yaml: every query parameter of every API operation, sent empty, answers
400 with that parameter's own code (the document says so: its schemas refuse an empty value).
A parameter the document adds without a code here fails the walk.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from bridge.api.docs import document
from tests.api.conftest import FakePbx
from tests.conftest import CRM, HELPDESK, Api

# The code an empty value of a query parameter answers (the parameter's own code).
CODES = {
    "count": "count_invalid",
    "startIndex": "startindex_invalid",
    "filterBy": "filterby_invalid",
    "filterOp": "filterop_invalid",
    "filterValue": "filtervalue_invalid",
    "sortOrder": "sortorder_invalid",
    "fields": "fields_invalid",
    "waitForPickup": "pc_timeout_invalid",
    "callDuration": "pc_duration_invalid",
    "allowPublicTransfer": "pc_transfer_invalid",
    "video": "pc_video_invalid",
    "phoneNumber": "pc_phonenumber_invalid",
    "number": "pc_number_invalid",
    "pin": "pc_pin_invalid",
    "startDate": "cdr_start_date_invalid",
    "endDate": "cdr_end_date_invalid",
    "saveStartDate": "cdr_save_start_date_invalid",
    "saveEndDate": "cdr_save_end_date_invalid",
    "source": "cdr_source_invalid",
    "destination": "cdr_destination_invalid",
    "disposition": "cdr_disposition_invalid",
    "flow": "cdr_flow_invalid",
}
# CDR: filterBy defaults to `published`, so a filterValue alone is that filter's value.
CDR_CODES = {**CODES, "filterValue": "cdr_invalid_filter_by_published"}
EVENT = "{event}"  # replaced by the id of a registration the test makes
SIMPLE = {"phoneCallView": [{"source": ["210"], "destination": ["5551234"]}]}
CALLBACK = {
    "extension": "250",
    "phoneCallView": [{"source": ["5551111"], "destination": ["5552222"]}],
}
INVITE = {"extension": "260", "phoneCallView": [{"destination": "5559876"}]}
# documented path -> (a path that gets past everything but the query, token, JSON body)
SAMPLES: dict[str, tuple[str, str, Any]] = {
    "/phoneCalls/{userId}/simple": ("@me/simple", CRM, SIMPLE),
    "/phoneCalls/{userId}/callback": ("@me/callback", CRM, CALLBACK),
    "/phoneCalls/{userId}/conferenceInvite": ("@me/conferenceInvite", CRM, INVITE),
    "/phoneCalls/{userId}/{extension}": ("@me/210", CRM, None),
    "/phoneCalls/{userId}/{extension}/stream": ("@me/210/stream", CRM, None),
    "/phoneCalls/{userId}/{extension}/{phoneCallId}": (f"@me/210/{'0' * 20}", CRM, None),
    "/extensions/{userId}": ("@me", CRM, None),
    "/extensions/{userId}/{extension}": ("@me/210", CRM, None),
    "/extensions/{userId}/{extension}/phoneCallEvents": ("@me/210/phoneCallEvents", CRM, None),
    "/extensions/{userId}/{extension}/phoneCallEvents/{eventType}": (
        "@me/210/phoneCallEvents/0",
        CRM,
        None,
    ),
    "/extensions/{userId}/{extension}/phoneCallEvents/{eventType}/{eventId}": (
        f"@me/210/phoneCallEvents/0/{EVENT}",
        CRM,
        None,
    ),
    "/extensions/{userId}/{extension}/phoneCallEvents/{eventType}/{eventId}/deliveries": (
        f"@me/210/phoneCallEvents/0/{EVENT}/deliveries",
        CRM,
        None,
    ),
    "/extensions/{userId}/{extension}/presence": ("@me/210/presence", CRM, None),
    "/extensions/{userId}/{extension}/queue/agents": ("14/500/queue/agents", HELPDESK, None),
    "/extensions/{userId}/{extension}/queue/agents/{identifier}": (
        "14/500/queue/agents/024",
        HELPDESK,
        None,
    ),
    "/extensions/{userId}/{extension}/conference/participants": (
        "@me/260/conference/participants",
        CRM,
        None,
    ),
    "/extensions/{userId}/{extension}/conference/participants/{participantId}": (
        "@me/260/conference/participants/1.1",
        CRM,
        {"action": "Mute"},
    ),
    "/recordings/{userId}": ("@me", CRM, None),
    "/recordings/{userId}/{extension}": ("@me/210", CRM, None),
    "/recordings/{userId}/{extension}/{recordingId}": ("@me/210/rec1", CRM, None),
    "/faxes/{userId}/{extension}": ("@me/210", CRM, None),
    "/faxes/{userId}/{extension}/{faxId}": ("@me/210/fax1", CRM, None),
    "/cdr": ("", CRM, None),
    "/cdr/{userId}": ("@me", CRM, None),
    "/cdr/stats": ("stats", CRM, None),
    "/cdr/stats/{userId}": ("stats/@me", CRM, None),
}


def _parameter(raw: dict[str, Any]) -> dict[str, Any]:
    if "$ref" not in raw:
        return raw
    found: dict[str, Any] = document()["components"]["parameters"][raw["$ref"].split("/")[-1]]
    return found


def documented_query_parameters() -> list[tuple[str, str, str]]:
    """(method, path, parameter) of every query parameter of the API's operations (the paths
    at the root, e.g. /healthz, are outside the API)."""
    out = []
    for path, item in document()["paths"].items():
        if "servers" in item:
            continue
        for method, op in item.items():
            if method == "parameters":
                continue
            for raw in item.get("parameters", []) + op.get("parameters", []):
                param = _parameter(raw)
                if param["in"] == "query":
                    out.append((method.upper(), path, param["name"]))
    return out


CASES = documented_query_parameters()


def test_the_walk_covers_every_documented_query_parameter() -> None:
    """Each operation with query parameters has a sample path, each parameter a code."""
    assert len(CASES) > 100  # a walk that finds nothing fails
    assert {p for _, p, _ in CASES} <= set(SAMPLES)
    assert {name for _, _, name in CASES} <= set(CODES)


def test_no_documented_query_parameter_takes_an_empty_value() -> None:
    """The document's side of the rule: every API query parameter's schema refuses "" (an
    array parameter, `fields`, refuses [""]), and the rule is in its description."""
    doc = document()
    assert "A query parameter sent empty" in doc["info"]["description"]
    for method, path, name in CASES:
        item = doc["paths"][path]
        raws = item.get("parameters", []) + item[method.lower()].get("parameters", [])
        (param,) = [p for p in map(_parameter, raws) if p["name"] == name and p["in"] == "query"]
        schema = {**param["schema"], "components": doc["components"]}
        empty: Any = [""] if param["schema"].get("type") == "array" else ""
        assert not jsonschema.Draft202012Validator(schema).is_valid(empty), (method, path, name)


async def _event(api: Api) -> str:
    resp = await api.client.post(
        "/uapi/extensions/@me/210/phoneCallEvents",
        headers=api.auth(),
        json={"type": "0", "url": "https://crm.example.com/hook"},
    )
    assert resp.status == 201
    event_id: str = (await resp.json())["id"]
    return event_id


@pytest.mark.parametrize(
    ("method", "path", "name"), CASES, ids=[f"{m} {p} {n}" for m, p, n in CASES]
)
async def test_an_empty_query_parameter_is_invalid(
    api: Api, pbx: FakePbx, method: str, path: str, name: str
) -> None:
    """`?name=` answers 400 with the parameter's code, and nothing reaches Asterisk."""
    sample, token, body = SAMPLES[path]
    prefix = "/uapi/cdr" if path.startswith("/cdr") else f"/uapi/{path.split('/')[1]}"
    url = f"{prefix}/{sample}".rstrip("/")
    if EVENT in url:
        url = url.replace(EVENT, await _event(api))
    resp = await api.client.request(method, f"{url}?{name}=", headers=api.auth(token), json=body)
    answer = await resp.text()
    want = (CDR_CODES if path.startswith("/cdr") else CODES)[name]
    assert resp.status == 400, (resp.status, answer[:300])
    assert json.loads(answer)["error"]["code"] == want, answer
    assert pbx.sent == []
