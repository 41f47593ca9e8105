"""Holds HTTP answers to bridge/api/openapi.yaml: a TestClient that validates every response.

A response fails the test that got it when its status, content type, headers or body are not
what the document says for that operation. A HEAD answer is held to its GET operation's status
and headers (HTTP: a HEAD answers what GET would, without the body; the document lists GETs only).
Requests outside the document (unknown path or method) must answer the documented 404/405/501
error envelopes, 501 only under the API prefixes; a 501 to a documented operation (one the
bridge is not set up to serve, e.g. the recordings without `ami.ari`) is held to the same
NotImplemented answer, documented once for every path.
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
from openapi_core.validation.response.validators import V31ResponseHeadersValidator
from werkzeug.datastructures import Headers, ImmutableMultiDict
from yarl import URL

from bridge.api.docs import document

# Answers to requests that match no operation (documented in info.description).
UNMATCHED = {404: "not_found", 405: "method_not_allowed", 501: "request_not_implemented"}
# ... and the document's components.responses each of them is held to.
UNMATCHED_ANSWERS = {404: "NotFound", 405: "MethodNotAllowed", 501: "NotImplemented"}
API_PREFIXES = ("/uapi/", "/unifiedapi/")


@functools.cache
def spec() -> OpenAPI:
    """The document, ready to validate (built once per process)."""
    return OpenAPI.from_dict(document())


@functools.cache
def head_validator() -> V31ResponseHeadersValidator:
    """Status and headers only: what a HEAD answer shares with its GET."""
    return V31ResponseHeadersValidator(spec().spec)


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
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(self.query), header=Headers(self.headers)
        )

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


def check(request: SeenRequest, response: SeenResponse) -> None:
    """Raises AssertionError when `response` is not what the document says."""
    sent_path = request.path
    if request.path.endswith("/") and request.path.strip("/"):
        request.path = request.path.rstrip("/")  # every route also answers with a trailing slash
    head = request.method == "head"
    if head:
        request.method = "get"
    if response.status_code == 501:
        # Documented once for every path (components.responses.NotImplemented): also the
        # answer of an operation the bridge is not set up to serve (no `ami.ari`, ...).
        _check_unmatched(request, response, sent_path, head=head)
        return
    # A live event stream never ends, so its body is not read: status and headers only.
    streaming = response.content_type.startswith("text/event-stream")
    try:
        if head or streaming:
            head_validator().validate(request, response)
        else:
            spec().validate_response(request, response)
    except PathError:
        _check_unmatched(request, response, sent_path, head=head)
    except Exception as exc:
        raise AssertionError(
            f"{request.method.upper()} {request.path} -> {response.status_code} is not what "
            f"openapi.yaml says: {_reason(exc)}\nbody: {response.data[:500]!r}"
        ) from exc


def check_answer(
    base: str, method: str, path: str, status: int, headers: Iterable[tuple[str, str]], data: bytes
) -> None:
    """`check` for an answer got by any HTTP client (`path` may carry a query string)."""
    url = URL(base).join(URL(path))
    request = SeenRequest(
        host_url=f"{url.scheme}://{url.host}:{url.port}",
        path=url.path,
        method=method.lower(),
        query=list(url.query.items()),
        headers={},
    )
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


def _check_unmatched(
    request: SeenRequest, response: SeenResponse, sent_path: str, *, head: bool = False
) -> None:
    """A request no operation matches, or any 501: only the documented error envelopes may
    answer it.

    `sent_path` is the path as sent (`/uapi/` is under the API; `/uapi` is not)."""
    want = UNMATCHED.get(response.status_code)
    method = "HEAD" if head else request.method.upper()
    what = f"{method} {sent_path} (no such operation)"
    assert want is not None, f"{what} answered {response.status_code}"
    if response.status_code == 501:
        assert sent_path.startswith(API_PREFIXES), f"{what}: 501 outside the API"
    else:
        assert not sent_path.startswith(API_PREFIXES), f"{what}: not 501 under the API"
    if head:
        return  # no body to hold to the envelope
    problem = answer_problem(UNMATCHED_ANSWERS[response.status_code], response.data)
    assert problem is None, f"{what}: {problem}"
    assert json.loads(response.data)["error"]["code"] == want, f"{what}: {response.data!r}"


def answer_problem(name: str, data: bytes | None) -> str | None:
    """Why `data` is not the JSON body of the document's components.responses `name`."""
    try:
        body = json.loads(data or b"")
    except ValueError:
        return f"not JSON: {(data or b'')[:80]!r}"
    schema = document()["components"]["responses"][name]["content"]["application/json"]
    # $refs in the answer's schema point into the document: validate with it as the root.
    root = {**schema["schema"], "components": document()["components"]}
    errors = jsonschema.Draft202012Validator(root).iter_errors(body)
    error = jsonschema.exceptions.best_match(errors)
    return None if error is None else f"not the document's {name} answer: {error.message}"


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
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(self.query), header=Headers(self.headers)
        )

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
            spec().validate_webhook_request(hook)
    except Exception as exc:
        raise AssertionError(
            f"webhook {hook.method.upper()} is not what openapi.yaml says: {_reason(exc)}"
        ) from exc


def webhook_problem(
    method: str, raw_query: str, headers: Mapping[str, str], body: str
) -> str | None:
    """What is wrong with a delivery a receiver got (None: it is as documented)."""
    hook = SeenWebhook(
        method, parse_qsl(raw_query, keep_blank_values=True), dict(headers), body.encode() or None
    )
    try:
        check_webhook(hook)
    except AssertionError as exc:
        return str(exc)
    return None


class ValidatingClient(TestClient[Any, Any]):
    """aiohttp's TestClient, with every answer checked against the document."""

    async def _request(self, method: str, path: Any, **kwargs: Any) -> ClientResponse:
        resp = await super()._request(method, path, **kwargs)
        # A live event stream never ends: its status and headers are checked, not its body.
        data = b"" if resp.content_type == "text/event-stream" else await resp.read()
        url = resp.request_info.url
        sent = resp.request_info.headers
        body = kwargs.get("data") if isinstance(kwargs.get("data"), bytes) else None
        request = SeenRequest(
            host_url=f"{url.scheme}://{url.host}:{url.port}",
            path=url.path,
            method=method.lower(),
            query=list(url.query.items()),
            headers=dict(sent.items()),
            body=body,
        )
        check(request, SeenResponse(resp.status, CIMultiDict(resp.headers), data))
        return resp
