"""Every API route answers the same with and without a trailing slash (no redirect)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from aiohttp import web

from bridge import config as config_mod
from bridge.api.middleware import API_PREFIXES
from bridge.api.server import add_trailing_slashes
from tests.api.conftest import FakePbx
from tests.conftest import Api

SAMPLES = {
    "userId": "@me",
    "extension": "210",
    "phoneCallId": "0" * 20,
    "eventType": "0",
    "eventId": "x" * 30,
}


def concrete(canonical: str) -> str:
    """A route's path with a sample value in each `{placeholder}`."""
    return re.sub(r"\{(\w+)[^}]*\}", lambda m: SAMPLES.get(m.group(1), "x"), canonical)


def api_routes(api: Api) -> list[tuple[str, str]]:
    """(method, path without slash) of every API route the served app has."""
    app = api.app
    assert app is not None
    out = []
    for resource in app.router.resources():
        path = resource.canonical
        if path.startswith(API_PREFIXES) and not path.endswith("/"):
            out += [(route.method, concrete(path)) for route in resource]
    return out


async def status_of(api: Api, method: str, path: str) -> int:
    # Only the status line matters (a stream route would never finish its body).
    resp = await api.client.request(
        method, path, headers=api.auth(), json={}, allow_redirects=False
    )
    status = resp.status
    resp.close()
    return status


async def test_every_route_answers_with_and_without_the_slash(
    make_api: Callable[..., Any], raw_config: dict[str, Any]
) -> None:
    """Walks the router: each API route and method answers the same on `path` and `path/`,
    and neither is a redirect, a 404/405 or 501 (with `ami.ari` set: without it the
    recordings routes answer their documented 501; the samples never reach ARI)."""
    raw_config["ami"]["ari"] = {"url": "http://127.0.0.1:9/ari", "username": "u", "password": "p"}
    api: Api = await make_api(config_mod.parse(raw_config, env={}))
    api.plug(FakePbx())
    routes = api_routes(api)
    assert len(routes) >= 30  # both prefixes, every resource (a walk that finds nothing fails)
    assert {p.split("/")[1] for _, p in routes} == {"uapi", "unifiedapi"}
    for method, path in routes:
        bare = await status_of(api, method, path)
        slashed = await status_of(api, method, f"{path}/")
        assert bare not in (301, 302, 307, 308, 404, 405, 501), (method, path, bare)
        assert slashed == bare, (method, path, bare, slashed)


async def test_slash_before_the_query_string(api: Api, pbx: FakePbx) -> None:
    """`/simple/?waitForPickup=..`, `/210/?count=20` and `/phoneCallEvents/` are served."""
    body = {"phoneCallView": [{"source": ["210"], "destination": ["5551234"]}]}
    resp = await api.client.post(
        "/uapi/phoneCalls/@me/simple/?waitForPickup=20", json=body, headers=api.auth()
    )
    assert resp.status == 202
    call_id = (await resp.json())[0]["id"]
    resp = await api.client.get("/unifiedapi/phoneCalls/@me/210/?count=20", headers=api.auth())
    assert resp.status == 200
    assert [c["id"] for c in (await resp.json())["entry"]] == [call_id]


def test_routes_added_after_the_modules_are_covered() -> None:
    """The walk covers any API route registered before it (a later module's too), keeps the
    methods, and leaves routes outside the API alone."""
    app = web.Application()

    async def handler(request: web.Request) -> web.Response:
        return web.Response()

    app.router.add_get("/uapi/stream", handler)
    app.router.add_post("/unifiedapi/things/{id}", handler)
    app.router.add_get("/healthz", handler)
    add_trailing_slashes(app.router)
    served = {(r.method, r.resource.canonical) for r in app.router.routes() if r.resource}
    assert {
        ("GET", "/uapi/stream/"),
        ("HEAD", "/uapi/stream/"),
        ("POST", "/unifiedapi/things/{id}/"),
    } <= served
    assert not any(path == "/healthz/" for _, path in served)


async def test_a_slashed_request_counts_as_its_route(api: Api, pbx: FakePbx) -> None:
    """Metrics and logs name the route without the slash, whichever the client used."""
    await api.client.get("/uapi/extensions/@me/", headers=api.auth())
    await api.client.get("/uapi/extensions/@me", headers=api.auth())
    text = await (await api.client.get("/metrics")).text()
    counted = [
        line
        for line in text.splitlines()
        if line.startswith("uapi_http_requests_total{") and "extensions" in line
    ]
    assert len(counted) == 1, counted
    assert 'route="/uapi/extensions/{userId}"' in counted[0]
    assert counted[0].endswith(" 2.0")
