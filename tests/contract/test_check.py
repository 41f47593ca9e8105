"""The response check of the API tests can fail: drift in code or answers is caught."""

from __future__ import annotations

import json
from typing import Any

import pytest
from multidict import CIMultiDict

from bridge.api import extensions
from tests.conftest import Api
from tests.contract.openapi_check import SeenRequest, SeenResponse, check

BEARER = {"WWW-Authenticate": 'Bearer error="invalid_token"'}


def req(path: str, method: str = "get") -> SeenRequest:
    return SeenRequest("http://127.0.0.1:8080", path, method, [], {})


def answer(status: int, body: Any, headers: dict[str, str] | None = None) -> SeenResponse:
    sent = CIMultiDict({"Content-Type": "application/json", **(headers or {})})
    return SeenResponse(status, sent, json.dumps(body).encode())


def error(code: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": "text"}}


def test_documented_answers_pass() -> None:
    check(req("/uapi/extensions/@me"), answer(400, error("count_invalid")))
    check(req("/unifiedapi/extensions/@me/"), answer(401, error("access_denied"), BEARER))
    check(req("/uapi/extensions/@me", "patch"), answer(405, error("method_not_allowed")))
    check(req("/healthz"), answer(200, {"status": "ok", "ami": "connected"}))


@pytest.mark.parametrize(("request_", "response", "why"), [
    (req("/uapi/extensions/@me"), answer(400, error("pce_id_invalid")), "a code not listed"),
    (req("/uapi/extensions/@me"), answer(418, error("count_invalid")), "a status not listed"),
    (req("/uapi/extensions/@me"), answer(401, error("access_denied")), "a header missing"),
    (req("/uapi/extensions/@me"), answer(200, {"totalResults": 1, "startIndex": 0,
                                              "itemsPerPage": 1, "entry": [{"callerID": "x"}]}),
     "a field not in the document"),
    (req("/healthz"), answer(200, {"status": "fine", "ami": "connected"}), "a value not listed"),
    (req("/uapi/nothing/here"), answer(200, {}), "no such operation but 200"),
    (req("/elsewhere"), answer(501, error("request_not_implemented")), "501 outside the API"),
])
def test_drift_fails(request_: SeenRequest, response: SeenResponse, why: str) -> None:
    with pytest.raises(AssertionError):
        check(request_, response)


async def test_a_field_renamed_in_code_fails_the_api_tests(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """The shared test client validates: renaming callerId in the code breaks any test."""
    real = extensions._view

    def renamed(*args: Any) -> dict[str, object]:
        view = real(*args)
        view["callerID"] = view.pop("callerId")
        return view

    monkeypatch.setattr(extensions, "_view", renamed)
    with pytest.raises(AssertionError, match="callerID"):
        await api.client.get("/uapi/extensions/@me", headers=api.auth())
