"""Every failure is a clean UAPI JSON error: unknown route, method, size, JSON, content type."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bridge.api.common import read_json
from bridge.api.context import SERVICES
from bridge.api.server import build_app
from bridge.errors import PbxUnavailable
from tests.conftest import Api


async def error_of(resp) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    body = await resp.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}
    assert "Traceback" not in body["error"]["message"]
    return resp.status, body["error"]["code"]


async def test_unknown_route(api: Api) -> None:
    """Outside the API an unknown route is 404 not_found in the UAPI envelope."""
    assert await error_of(await api.client.get("/nope", headers=api.auth())) == (404, "not_found")
    assert await error_of(await api.client.get("/uapinope")) == (404, "not_found")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/uapi/nope"),
        ("GET", "/unifiedapi/presence/@me/210/"),
        ("POST", "/uapi/phoneCalls/@me/unknownType"),  # a known path, not with POST
        ("POST", "/unifiedapi/phoneCalls/@me/conferenceCall/"),
        ("PATCH", "/uapi/phoneCalls/@me/210/" + "0" * 20),
        ("GET", "/uapi/"),
    ],
)
async def test_an_operation_the_api_lacks_is_501(api: Api, method: str, path: str) -> None:
    """Any path under /uapi or /unifiedapi naming no operation is 501 request_not_implemented,
    with or without a token (not 404, not 405)."""
    for headers in ({}, api.auth()):
        resp = await api.client.request(method, path, headers=headers, json={})
        assert await error_of(resp) == (501, "request_not_implemented")


async def test_wrong_method(api: Api) -> None:
    """Outside the API a wrong method is 405 with an Allow header."""
    resp = await api.client.delete("/healthz")
    assert await error_of(resp) == (405, "method_not_allowed")
    assert "GET" in resp.headers["Allow"]


@pytest.fixture
async def echo_api(api: Api) -> AsyncIterator[Api]:
    """The API plus a test-only route that reads a JSON body and one that fails inside."""
    app = api.client.app
    assert app is not None

    async def echo(request: web.Request) -> web.Response:
        return web.json_response(await read_json(request))

    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError("secret internals")

    async def pbx(request: web.Request) -> web.Response:
        raise PbxUnavailable("link down")

    # The router is frozen once served; build a fresh server with the extra routes.
    new = build_app(app[SERVICES])
    new.router.add_post("/uapi/echo", echo)
    new.router.add_get("/uapi/boom", boom)
    new.router.add_get("/uapi/pbx", pbx)
    await api.client.close()
    api.client = TestClient(TestServer(new))
    await api.client.start_server()
    yield api
    await api.client.close()  # its own: make_api closes only the client it made


async def test_body_over_64k(echo_api: Api) -> None:
    """A body over 64 KiB is 413 request_too_large."""
    big = b'{"a": "' + b"x" * (65 * 1024) + b'"}'
    resp = await echo_api.client.post(
        "/uapi/echo", data=big, headers={**echo_api.auth(), "Content-Type": "application/json"}
    )
    assert await error_of(resp) == (413, "request_too_large")


async def test_bad_json(echo_api: Api) -> None:
    """Malformed JSON is 400 json_invalid."""
    resp = await echo_api.client.post(
        "/uapi/echo", data=b"{nope", headers={**echo_api.auth(), "Content-Type": "application/json"}
    )
    assert await error_of(resp) == (400, "json_invalid")


async def test_wrong_content_type(echo_api: Api) -> None:
    """A form body where JSON is expected is 400 content_type_invalid."""
    resp = await echo_api.client.post("/uapi/echo", data={"a": "b"}, headers=echo_api.auth())
    assert await error_of(resp) == (400, "content_type_invalid")


async def test_good_json(echo_api: Api) -> None:
    """A proper JSON body gets through."""
    resp = await echo_api.client.post("/uapi/echo", json={"a": 1}, headers=echo_api.auth())
    assert resp.status == 200
    assert await resp.json() == {"a": 1}


async def test_internal_error_has_no_traceback(echo_api: Api) -> None:
    """An unexpected exception is 500 internal_server_error with nothing of the internals."""
    resp = await echo_api.client.get("/uapi/boom", headers=echo_api.auth())
    assert await error_of(resp) == (500, "internal_server_error")
    assert "secret internals" not in await resp.text()


async def test_pbx_unavailable(echo_api: Api) -> None:
    """A request that needs Asterisk while it is down is 503 pbx_unavailable."""
    resp = await echo_api.client.get("/uapi/pbx", headers=echo_api.auth())
    assert await error_of(resp) == (503, "pbx_unavailable")


async def test_request_id(api: Api) -> None:
    """Every answer carries a request id; a sane incoming one is kept."""
    resp = await api.client.get("/healthz", headers={"X-Request-Id": "abc-123"})
    assert resp.headers["X-Request-Id"] == "abc-123"
    resp = await api.client.get("/healthz", headers={"X-Request-Id": "bad id\u00e9"})
    assert resp.headers["X-Request-Id"] != "bad id\u00e9"
    assert len(resp.headers["X-Request-Id"]) == 16
