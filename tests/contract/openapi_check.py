"""Holds HTTP answers to bridge/api/openapi.yaml: a TestClient that validates every response.

A response fails the test that got it when its status, content type, headers or body are not
what the document says for that operation. Requests outside the document (unknown path or
method) must answer the documented 404/405/501 error envelopes.
"""

from __future__ import annotations

import functools
import json
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import jsonschema
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from multidict import CIMultiDict
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.templating.paths.exceptions import PathError
from werkzeug.datastructures import Headers, ImmutableMultiDict
from yarl import URL

from bridge.api.docs import document

# Changes other branches make to the surface that the document already describes. Until they are
# merged, this branch still answers the old code; each entry maps (status, old code) to the
# documented one. Once merged, the old code no longer occurs and the entry is a no-op.
PENDING_CODES = {
    (401, "invalid_token"): "access_denied",
    (500, "internal_error"): "internal_server_error",
}
# Answers to requests that match no operation (documented in info.description).
UNMATCHED = {404: "not_found", 405: "method_not_allowed", 501: "request_not_implemented"}
API_PREFIXES = ("/uapi/", "/unifiedapi/")


@functools.cache
def spec() -> OpenAPI:
    """The document, ready to validate (built once per process)."""
    return OpenAPI.from_dict(document())


@dataclass
class SeenRequest:
    """What openapi-core needs of a request the client sent."""

    host_url: str
    path: str
    method: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes | None = None
    parameters: RequestParameters = field(init=False)

    def __post_init__(self) -> None:
        self.parameters = RequestParameters(query=ImmutableMultiDict(self.query),
                                            header=Headers(self.headers))

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "").lower()


@dataclass
class SeenResponse:
    """What openapi-core needs of a response."""

    status_code: int
    headers: CIMultiDict[str]
    data: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "").lower()


def _documented_code(status: int, data: bytes) -> bytes:
    """The body with a code some pending branch renames already renamed (see PENDING_CODES)."""
    try:
        body = json.loads(data)
        code = body["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return data
    new = PENDING_CODES.get((status, code))
    if new is None:
        return data
    body["error"]["code"] = new
    return json.dumps(body).encode()


def check(request: SeenRequest, response: SeenResponse) -> None:
    """Raises AssertionError when `response` is not what the document says."""
    response.data = _documented_code(response.status_code, response.data)
    if request.path.endswith("/") and request.path.strip("/"):
        request.path = request.path.rstrip("/")  # every route also answers with a trailing slash
    try:
        spec().validate_response(request, response)  # type: ignore[arg-type]
    except PathError:
        _check_unmatched(request, response)
    except Exception as exc:
        raise AssertionError(
            f"{request.method.upper()} {request.path} -> {response.status_code} is not what "
            f"openapi.yaml says: {_reason(exc)}\nbody: {response.data[:500]!r}") from exc


def check_answer(base: str, method: str, path: str, status: int,
                 headers: Iterable[tuple[str, str]], data: bytes) -> None:
    """`check` for an answer got by any HTTP client (`path` may carry a query string)."""
    url = URL(base).join(URL(path))
    request = SeenRequest(host_url=f"{url.scheme}://{url.host}:{url.port}", path=url.path,
                          method=method.lower(), query=list(url.query.items()), headers={})
    check(request, SeenResponse(status, CIMultiDict(headers), data))


def _reason(exc: BaseException) -> str:
    causes = [str(exc)]
    inner: BaseException | None = exc.__cause__ or exc.__context__
    while inner is not None and len(causes) < 4:
        causes.append(str(inner).split("\n", 1)[0])
        inner = inner.__cause__ or inner.__context__
    for e in getattr(exc, "schema_errors", ()) or ():
        causes.append(str(getattr(e, "message", e)))
    return " / ".join(c if len(c) < 600 else f"{c[:600]}..." for c in causes)


def _check_unmatched(request: SeenRequest, response: SeenResponse) -> None:
    """A request no operation matches: only the documented error envelopes may answer it."""
    want = UNMATCHED.get(response.status_code)
    what = f"{request.method.upper()} {request.path} (no such operation)"
    assert want is not None, f"{what} answered {response.status_code}"
    if response.status_code == 501:
        assert request.path.startswith(API_PREFIXES), f"{what}: 501 outside the API"
    error_schema = document()["components"]["schemas"]["Error"]
    body = json.loads(response.data)
    jsonschema.validate(body, error_schema)
    pending = {old: new for (status, old), new in PENDING_CODES.items()
               if status == response.status_code}
    assert pending.get(body["error"]["code"], body["error"]["code"]) == want, (
        f"{what}: {body}")


@dataclass
class SeenWebhook:
    """A webhook request as a receiver got it (openapi-core's WebhookRequest)."""

    method: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes | None
    name: str = "phoneCallEvent"
    parameters: RequestParameters = field(init=False)

    def __post_init__(self) -> None:
        self.method = self.method.lower()
        self.parameters = RequestParameters(query=ImmutableMultiDict(self.query),
                                            header=Headers(self.headers))

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "").lower()


def check_webhook(hook: SeenWebhook) -> None:
    """Raises AssertionError when a delivery is not what the document's `webhooks:` says."""
    try:
        with warnings.catch_warnings():
            # CalledDID, CallAPIID, ... are sent empty: the document says so with
            # allowEmptyValue, which OpenAPI keeps but discourages (openapi-core warns).
            warnings.filterwarnings("ignore", "Use of allowEmptyValue", DeprecationWarning)
            spec().validate_webhook_request(hook)  # type: ignore[arg-type]
    except Exception as exc:
        raise AssertionError(f"webhook {hook.method.upper()} is not what openapi.yaml says: "
                             f"{_reason(exc)}") from exc


def webhook_problem(method: str, raw_query: str, headers: Mapping[str, str],
                    body: str) -> str | None:
    """What is wrong with a delivery a receiver got (None: it is as documented)."""
    hook = SeenWebhook(method, parse_qsl(raw_query, keep_blank_values=True), dict(headers),
                       body.encode() or None)
    try:
        check_webhook(hook)
    except AssertionError as exc:
        return str(exc)
    return None


class ValidatingClient(TestClient[Any, Any]):
    """aiohttp's TestClient, with every answer checked against the document."""

    async def _request(self, method: str, path: Any, **kwargs: Any) -> ClientResponse:
        resp = await super()._request(method, path, **kwargs)
        data = await resp.read()
        url = resp.request_info.url
        sent = resp.request_info.headers
        body = kwargs.get("data") if isinstance(kwargs.get("data"), bytes) else None
        request = SeenRequest(
            host_url=f"{url.scheme}://{url.host}:{url.port}", path=url.path,
            method=method.lower(), query=list(url.query.items()),
            headers=dict(sent.items()), body=body)
        check(request, SeenResponse(resp.status, CIMultiDict(resp.headers), data))
        return resp
