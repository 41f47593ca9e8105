"""The one place that builds error bodies, authenticates apps and logs one line per request."""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

from bridge.api.context import APP_KEY, TICKET_KEY, services
from bridge.errors import AmiActionFailed, ApiError, PbxBusy, PbxUnavailable, Refused
from bridge.store.db import StoreUnavailable

log = structlog.get_logger("bridge.http")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
API_PREFIXES = ("/uapi/", "/unifiedapi/")
# The contract (bridge/api/docs.py) is public: a client generator fetches it without a token.
UNAUTHENTICATED = frozenset(f"{p}openapi.{ext}" for p in API_PREFIXES for ext in ("json", "yaml"))
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def error_response(status: int, code: str, message: str) -> web.Response:
    body = {"error": {"code": code, "message": message}}
    headers = {}
    if status == 401:  # RFC 6750's code; the body speaks VoipNow's (access_denied)
        headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    response = web.json_response(body, status=status, headers=headers)
    if status in (408, 413):
        response.force_close()  # the rest of an unread body must not be taken for a request
    return response


def _from_http_exception(request: web.Request, exc: web.HTTPException) -> web.Response:
    unrouted = isinstance(exc, web.HTTPNotFound | web.HTTPMethodNotAllowed)
    if unrouted and request.path.startswith(API_PREFIXES):
        # VoipNow's common return codes: a request the API does not have is 501.
        return error_response(
            501,
            "request_not_implemented",
            f"{request.method} {request.path}: the operation is not implemented.",
        )
    if isinstance(exc, web.HTTPNotFound):
        return error_response(404, "not_found", "No such resource.")
    if isinstance(exc, web.HTTPMethodNotAllowed):
        resp = error_response(405, "method_not_allowed", f"{exc.method} is not allowed here.")
        resp.headers["Allow"] = ",".join(sorted(exc.allowed_methods))
        return resp
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return error_response(413, "request_too_large", "The request body is over 64 KiB.")
    code = re.sub(r"\W+", "_", exc.reason.lower()).strip("_") or "http_error"
    return error_response(exc.status, code, exc.reason)


def _token_of(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    query = request.query.get("accessRequestToken", "").strip()
    if query.lower().startswith("bearer "):
        query = query[7:].strip()
    return query


async def _authenticate(request: web.Request) -> None:
    if not request.path.startswith(API_PREFIXES) or request.path in UNAUTHENTICATED:
        return
    app = await services(request).tokens.find_app(_token_of(request))
    if app is None:
        raise ApiError(401, "access_denied", "The access token is missing, unknown or expired.")
    request[APP_KEY] = app
    structlog.contextvars.bind_contextvars(app=app.name)
    request[TICKET_KEY] = services(request).limiter.take(app.name, "requests")


def _route_name(request: web.Request) -> str:
    info = request.match_info
    if info.http_exception is not None or info.route.resource is None:
        return "unmatched"
    canonical = info.route.resource.canonical
    return canonical.rstrip("/") or canonical  # a trailing-slash twin counts as its route


def _unavailable(exc: PbxUnavailable | StoreUnavailable) -> web.Response:
    if isinstance(exc, PbxUnavailable):
        return error_response(503, "pbx_unavailable", f"Asterisk is not reachable: {exc}")
    log.warning("http.store.unavailable", error=str(exc))
    return error_response(
        503, "store_unavailable", "The bridge's database is not reachable; try again shortly."
    )


async def _dispatch(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        if request.match_info.http_exception is None:
            await _authenticate(request)
        return await handler(request)
    except ApiError as exc:
        return (
            _refused(request, exc)
            if isinstance(exc, Refused)
            else error_response(exc.status, exc.code, exc.message)
        )
    except AmiActionFailed as exc:
        return error_response(502, "pbx_error", f"Asterisk refused the action: {exc.message}")
    except (PbxUnavailable, StoreUnavailable, PbxBusy) as exc:
        return _refused(request, exc) if isinstance(exc, PbxBusy) else _unavailable(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _from_http_exception(request, exc)
    except Exception:
        log.exception("http.handler.failed")
        return error_response(500, "internal_server_error", "Internal error; see the bridge's log.")


@web.middleware
async def request_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Request id, auth, UAPI error envelope, metrics and the canonical log line."""
    incoming = request.headers.get("X-Request-Id", "")
    request_id = incoming if _REQUEST_ID.fullmatch(incoming) else secrets.token_hex(8)
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id)
    started = time.perf_counter()
    response = await _dispatch(request, handler)
    elapsed = time.perf_counter() - started
    response.headers["X-Request-Id"] = request_id
    route = _route_name(request)
    services(request).metrics.observe_request(route, request.method, response.status, elapsed)
    app = request.get(APP_KEY)
    fields = {
        "method": request.method,
        "route": route,
        "status": response.status,
        "duration_ms": round(elapsed * 1000, 2),
        "request_id": request_id,
        "app": app.name if app else None,
    }
    if response.status >= 400 and isinstance(response, web.Response) and response.body:
        fields["error"] = _error_code(response)
    log.info("http.request", **fields)
    return response


def _refused(request: web.Request, exc: Refused | PbxBusy) -> web.Response:
    """A request refused for a limit (#21): counted, logged once, its request token given
    back (a refused request uses up no allowance), Retry-After when there is one."""
    if isinstance(exc, Refused):
        status, code, message, limit = exc.status, exc.code, exc.message, exc.limit
    else:
        status, code, message, limit = 503, "pbx_busy", str(exc), "originate_queue"
    svc = services(request)
    app = request.get(APP_KEY)
    name = app.name if app else "-"
    ticket = request.get(TICKET_KEY)
    if ticket is not None and limit != "requests":
        svc.limiter.give(ticket)
    svc.metrics.limited.labels(name, limit).inc()
    log.warning("limit.refused", app=name, limit=limit, status=status, retry_after=exc.retry_after)
    response = error_response(status, code, message)
    if exc.retry_after is not None:
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


async def rate_limit_headers(request: web.Request, response: web.StreamResponse) -> None:
    """RateLimit-Policy and RateLimit on every answer to an app (on_response_prepare: the
    streams' answers too)."""
    app = request.get(APP_KEY)
    if app is not None:
        response.headers.update(services(request).limiter.headers(app.name))


def _error_code(response: web.Response) -> str:
    try:
        body = response.body
        data = json.loads(body if isinstance(body, bytes) else b"{}")
        return str(data["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return "unknown"
