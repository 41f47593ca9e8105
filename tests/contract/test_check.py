"""The response check of the API tests can fail: drift in code or answers is caught."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
from multidict import CIMultiDict

from bridge.api import extensions
from tests.conftest import Api
from tests.contract.fuzz_checks import server_error
from tests.contract.openapi_check import SeenRequest, SeenResponse, check

BEARER = {"WWW-Authenticate": 'Bearer error="invalid_token"'}


def req(path: str, method: str = "get") -> SeenRequest:
    return SeenRequest("http://127.0.0.1:8080", path, method, [], {})


def answer(status: int, body: Any, headers: dict[str, str] | None = None) -> SeenResponse:
    sent = CIMultiDict({"Content-Type": "application/json", **(headers or {})})
    return SeenResponse(status, sent, json.dumps(body).encode())


def error(code: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": "text"}}


HEALTHY = {
    "status": "ok",
    "ami": "connected",
    "store": "ok",
    "webhooks": {"due": 0, "oldest_due_age_s": 0.0},
    "tasks": {"tokens-purge": "running"},
    "uptime_s": 1.5,
    "ami_reconnects": 0,
    "nodes": {"default": {"ami": "connected", "reconnects": 0, "ari": "not_configured"}},
}


def head_answer(status: int, headers: dict[str, str] | None = None) -> SeenResponse:
    sent = CIMultiDict({"Content-Type": "application/json", **(headers or {})})
    return SeenResponse(status, sent, b"")


def test_documented_answers_pass() -> None:
    check(req("/uapi/extensions/@me"), answer(400, error("count_invalid")))
    check(req("/unifiedapi/extensions/@me/"), answer(401, error("access_denied"), BEARER))
    check(req("/uapi/extensions/@me", "patch"), answer(501, error("request_not_implemented")))
    check(req("/uapi/"), answer(501, error("request_not_implemented")))
    check(req("/uapi"), answer(404, error("not_found")))
    check(req("/healthz"), answer(200, HEALTHY))
    check(req("/healthz", "head"), head_answer(200))
    check(req("/uapi/extensions/@me/", "head"), head_answer(401, BEARER))
    check(req("/uapi/nothing", "head"), head_answer(501))
    # An operation the bridge is not set up to serve (no `ami.ari`): the 501 documented once.
    check(req("/uapi/recordings/@me"), answer(501, error("request_not_implemented")))


@pytest.mark.parametrize(
    ("request_", "response", "why"),
    [
        (req("/uapi/extensions/@me"), answer(400, error("pce_id_invalid")), "a code not listed"),
        (req("/uapi/extensions/@me"), answer(418, error("count_invalid")), "a status not listed"),
        (req("/uapi/extensions/@me"), answer(401, error("access_denied")), "a header missing"),
        (
            req("/uapi/extensions/@me"),
            answer(
                200,
                {
                    "totalResults": 1,
                    "startIndex": 0,
                    "itemsPerPage": 1,
                    "entry": [{"callerID": "x"}],
                },
            ),
            "a field not in the document",
        ),
        (
            req("/healthz"),
            answer(200, {"status": "fine", "ami": "connected"}),
            "a value not listed",
        ),
        (req("/uapi/nothing/here"), answer(200, {}), "no such operation but 200"),
        (req("/elsewhere"), answer(501, error("request_not_implemented")), "501 outside the API"),
        (req("/uapi"), answer(501, error("request_not_implemented")), "/uapi is outside the API"),
        (
            req("/uapi/recordings/@me"),
            answer(501, error("recording_invalid")),
            "a documented operation's 501 with another code",
        ),
        (req("/healthz"), answer(501, error("request_not_implemented")), "501 at the root"),
        (
            req("/uapi/extensions/@me", "patch"),
            answer(405, error("method_not_allowed")),
            "405 under the API",
        ),
        (
            req("/healthz"),
            answer(200, {**HEALTHY, "webhooks": {"due": 0, "oldest_due_age": 0}}),
            "the backlog's age under another name",
        ),
        (req("/healthz", "head"), head_answer(418), "HEAD: a status GET does not have"),
        (req("/uapi/extensions/@me", "head"), head_answer(401), "HEAD: a header GET has missing"),
    ],
)
def test_drift_fails(request_: SeenRequest, response: SeenResponse, why: str) -> None:
    with pytest.raises(AssertionError):
        check(request_, response)


async def test_a_field_renamed_in_code_fails_the_api_tests(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shared test client validates: renaming callerId in the code breaks any test."""
    real = extensions._view

    def renamed(*args: Any) -> dict[str, object]:
        view = real(*args)
        view["callerID"] = view.pop("callerId")
        return view

    monkeypatch.setattr(extensions, "_view", renamed)
    with pytest.raises(AssertionError, match="callerID"):
        await api.client.get("/uapi/extensions/@me", headers=api.auth())


def test_the_fuzz_server_error_check_allows_only_the_documented_501() -> None:
    """tests/contract/fuzz_checks.py: 501 request_not_implemented to an undocumented method
    passes; the same to a documented operation, another code, or any other 5xx fails."""
    path = "/extensions/{userId}/{extension}/phoneCallEvents"
    envelope = b'{"error": {"code": "request_not_implemented", "message": "x"}}'
    assert server_error("TRACE", path, 501, envelope) is None
    assert server_error("POST", path, 400, b"{}") is None
    assert server_error("POST", path, 501, envelope) is not None  # a documented operation
    assert server_error("TRACE", path, 501, b'{"error": {"code": "x", "message": "x"}}')
    assert server_error("TRACE", path, 500, envelope) is not None
    assert server_error("GET", path, 503, b"") is not None


@pytest.mark.parametrize(
    "body",
    [
        b'{"error": {"code": "request_not_implemented"}}',  # no message
        b'{"error": {"code": "request_not_implemented", "message": "x"}, "detail": 1}',
        b'{"code": "request_not_implemented"}',
        b"not json",
    ],
)
def test_the_501_is_held_to_the_documents_not_implemented_answer(body: bytes) -> None:
    """A 501 to a method the document lacks must be components.responses.NotImplemented, the
    one place the document gives it for every path: the envelope, not just the code."""
    path = "/extensions/{userId}/{extension}/phoneCallEvents"
    assert server_error("TRACE", path, 501, body) is not None
    with pytest.raises(AssertionError):
        check(
            req("/uapi/extensions/@me", "trace"),
            SeenResponse(501, CIMultiDict({"Content-Type": "application/json"}), body),
        )


FUZZ_CHECKS = {
    "no_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "missing_required_header",
    "ignored_auth",
}


def test_the_fuzz_run_enables_exactly_its_checks() -> None:
    """schemathesis.toml turns every check off, then on the ones CI runs (issue 29 added
    negative_data_rejection, missing_required_header and ignored_auth): none is dropped
    silently, and no invalid request may be answered 2xx or 5xx."""
    config = tomllib.loads(Path(__file__).with_name("schemathesis.toml").read_text())
    checks = config["checks"]
    assert checks["enabled"] is False
    enabled = {
        name
        for name, value in checks.items()
        if isinstance(value, dict) and value.get("enabled") is True
    }
    assert enabled == FUZZ_CHECKS
    statuses = checks["negative_data_rejection"]["expected-statuses"]
    assert all(400 <= int(s) < 500 or s == 501 for s in statuses)
