"""One canonical log line per request, with its request id, and no token in it."""

from __future__ import annotations

from structlog.testing import capture_logs

from bridge.logs import _redact
from tests.conftest import CRM, Api


async def test_one_line_per_request_without_secrets(api: Api) -> None:
    """A request logs one http.request line with route, status and request id; no token."""
    with capture_logs() as logs:
        resp = await api.client.get(
            "/uapi/extensions/@me", headers=api.auth(), params={"accessRequestToken": CRM}
        )
    lines = [line for line in logs if line["event"] == "http.request"]
    assert len(lines) == 1
    line = lines[0]
    assert line["status"] == 200
    assert line["route"] == "/uapi/extensions/{userId}"
    assert line["request_id"] == resp.headers["X-Request-Id"]
    assert line["app"] == "crm"
    assert CRM not in repr(logs)


async def test_error_code_is_logged(api: Api) -> None:
    """A failed request's line names the UAPI error code."""
    with capture_logs() as logs:
        await api.client.get("/uapi/extensions/@me")
    assert [line["error"] for line in logs if line["event"] == "http.request"] == ["access_denied"]


def test_secret_keys_are_redacted() -> None:
    """The redaction processor blanks secret-looking keys whatever the caller passed."""
    event = _redact(None, "info", {"event": "x", "secret": "s3", "Token": "t", "ok": 1})
    assert event == {"event": "x", "secret": "[redacted]", "Token": "[redacted]", "ok": 1}
