"""bridge/api/openapi.yaml: a valid OpenAPI 3.1 document, served, and the router's exact mirror."""

from __future__ import annotations

import yaml
from openapi_spec_validator import validate

from bridge.api.docs import document
from bridge.calls.control import ACTIONS
from tests.conftest import Api

METHODS = ("get", "put", "post", "delete", "patch")
PREFIXES = ("/uapi", "/unifiedapi")


def documented_routes() -> set[tuple[str, str]]:
    """(METHOD, full path pattern) of every operation: root paths once, API paths per server."""
    doc = document()
    out = set()
    for key, item in doc["paths"].items():
        servers = [s["url"] for s in item.get("servers", doc["servers"])]
        for method in METHODS:
            if method in item:
                out |= {(method.upper(), f"{server.rstrip('/')}{key}") for server in servers}
    return out


def router_routes(api: Api) -> set[tuple[str, str]]:
    """(METHOD, path pattern) of every route the app has, trailing-slash twins included."""
    app = api.app
    return {
        (r.method, r.resource.canonical)
        for r in app.router.routes()
        if r.method != "HEAD" and r.resource is not None
    }


def served_routes(api: Api) -> set[tuple[str, str]]:
    """The router's routes with each API route's trailing-slash twin folded into it."""
    return {(method, fold(path)) for method, path in router_routes(api)}


def fold(path: str) -> str:
    """`/uapi/x/` -> `/uapi/x` (the twin add_trailing_slashes() adds); other paths unchanged."""
    if path.startswith(PREFIXES) and path.endswith("/") and path.strip("/") not in PREFIXES:
        return path.rstrip("/")
    return path


def test_the_document_is_valid_openapi_3_1() -> None:
    doc = document()
    assert doc["openapi"].startswith("3.1.")
    validate(doc)  # raises on the first problem


async def test_every_route_is_documented_and_every_operation_served(api: Api) -> None:
    served, documented = served_routes(api), documented_routes()
    assert served - documented == set(), "served but not in openapi.yaml"
    assert documented - served == set(), "in openapi.yaml but not served"
    assert len(served) > 40  # both prefixes, every operation


async def test_every_documented_api_path_also_answers_with_a_trailing_slash(api: Api) -> None:
    """Each documented /uapi and /unifiedapi operation has its `/`-suffixed twin in the router
    (same method), and the router has no twin the document does not account for."""
    routes = router_routes(api)
    api_ops = {(m, p) for m, p in documented_routes() if p.startswith(PREFIXES)}
    twins = {(m, f"{p}/") for m, p in api_ops}
    assert twins - routes == set(), "documented, but the slashed path is not served"
    slashed = {(m, p) for m, p in routes if p.startswith(PREFIXES) and p.endswith("/")}
    assert slashed == twins
    assert len(twins) > 40


async def test_the_document_is_served_without_a_token(api: Api) -> None:
    """JSON and YAML under both prefixes, no token; the rest of /uapi still needs one."""
    for prefix in PREFIXES:
        resp = await api.client.get(f"{prefix}/openapi.json")
        assert (resp.status, await resp.json()) == (200, document())
        resp = await api.client.get(f"{prefix}/openapi.yaml")
        assert resp.status == 200
        assert yaml.safe_load(await resp.text()) == document()
    resp = await api.client.get("/uapi/extensions/@me")
    assert resp.status == 401


def test_every_api_operation_lists_its_error_codes() -> None:
    """Each /uapi operation answers 401 and names the exact codes of its 400s (an enum)."""
    doc = document()
    for key, item in doc["paths"].items():
        if "servers" in item or key.startswith("/openapi."):
            continue
        for method in METHODS:
            if method not in item:
                continue
            responses = item[method]["responses"]
            assert "401" in responses, (method, key)
            schema = responses["400"]["content"]["application/json"]["schema"]
            codes = schema["allOf"][1]["properties"]["error"]["properties"]["code"]["enum"]
            assert codes, (method, key)
            assert all(c == c.lower() for c in codes), (method, key)


def test_put_has_one_schema_per_action() -> None:
    """The call-control body is a oneOf discriminated by `action`, one schema per action."""
    action = document()["components"]["schemas"]["PhoneCallAction"]
    mapping = action["discriminator"]["mapping"]
    assert action["discriminator"]["propertyName"] == "action"
    assert len(action["oneOf"]) == len(mapping) == len(ACTIONS)
    assert set(mapping) == set(ACTIONS)


def test_the_501_for_a_method_the_api_lacks_is_documented_once() -> None:
    """TRACE, PATCH, ... on any API path answer 501 `request_not_implemented`: one answer in
    components.responses, named by the document's description, and no operation repeats it
    (the paths list only the methods they serve)."""
    doc = document()
    answer = doc["components"]["responses"]["NotImplemented"]
    schema = answer["content"]["application/json"]["schema"]
    codes = schema["allOf"][1]["properties"]["error"]["properties"]["code"]["enum"]
    assert codes == ["request_not_implemented"]
    assert "#/components/responses/NotImplemented" in doc["info"]["description"]
    for key, item in doc["paths"].items():
        assert "trace" not in item, key
        for method in METHODS:
            assert "501" not in item.get(method, {}).get("responses", {}), (method, key)
