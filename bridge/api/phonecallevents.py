"""`/uapi/extensions/{userId}/{extension}/phoneCallEvents[/{eventType}[/{eventId}]]`: webhook
registrations (PhoneCallEvents), `.../{eventType}/{eventId}/deliveries`, their attempts,
`.../deliveries/{deliveryId}/replay` and `.../recover` (send again), and `.../secret` (with
`.../secret/rotate`), the secret that signs them.

An app sees and changes the registrations it made; each has its own `whsec_` secret (the app's
`webhook_secret` when the config gives one), shown by create and by the secret route only.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from aiohttp import web

from bridge.api import hookfields
from bridge.api.common import collection_response, nothing, read_json
from bridge.api.context import api_prefix, base_url, current_app, services
from bridge.api.fields import one_of
from bridge.api.idempotency import idempotent
from bridge.api.listing import Item, parse_list_query
from bridge.calls import hookcare
from bridge.domain.phonecallevents import TYPES
from bridge.domain.views import iso
from bridge.errors import ApiError, invalid
from bridge.store.hooks import ENABLED, Registration, new_id
from bridge.tenants import WITH_PHONE_CALL_EVENTS, Extension
from bridge.webhooks.guard import normalize, url_problem
from bridge.webhooks.signing import new_secret

FIELDS = (
    "type",
    "id",
    "method",
    "note",
    "url",
    "status",
    "modified",
    "extension",
    "disabledReason",
    "ordered",
    "maxRate",
    "headers",
    "links",
)
FILTERABLE = ("type", "id", "method", "note", "url", "status", "modified", "extension")
ATTEMPT_FIELDS = ("deliveryId", "attempt", "at", "status", "durationMs", "error", "outcome")
MAX_NOTE, MAX_URL = 1024, 2048


def _extension(request: web.Request) -> Extension:
    """The path's extension, if the app may manage its events."""
    svc, app = services(request), current_app(request)
    directory = svc.directory
    user = directory.resolve_user(app, request.match_info["userId"], "pce_access_denied")
    number = request.match_info["extension"]
    if number == "@self":
        raise invalid("extension_invalid", "Name one extension; @self is not allowed here.")
    org = directory.organization_of_user(user) if user else directory.home_organization(app)
    ext = directory.visible_extension(app, number, org)  # another organization's: unknown
    if ext is None or ext.type not in WITH_PHONE_CALL_EVENTS:
        raise invalid(
            "extension_invalid",
            f"{number!r} is not a phone terminal, queue, conference, IVR or callback extension.",
        )
    owner = directory.owner(ext)
    if not directory.may_act_for(app, owner):
        raise invalid("pce_access_denied", f"This app may not manage {ext.number}'s events.")
    if user is not None and owner.id != user.id:
        raise invalid("extension_invalid", f"{ext.number} is not user {user.id}'s.")
    return ext


def _note(raw: Any) -> str:
    if not isinstance(raw, str) or len(raw) > MAX_NOTE:
        raise invalid(
            "pce_note_invalid", f"note must be a string of at most {MAX_NOTE} characters."
        )
    return raw


def _url(request: web.Request, raw: Any) -> str:
    """The URL normalized (as it will be stored and called), if the SSRF guard accepts it."""
    if not isinstance(raw, str) or not raw or len(raw) > MAX_URL:
        raise invalid("pce_url_invalid", "url must be an absolute http or https URL.")
    problem = url_problem(raw, services(request).config.webhooks.allow_networks)
    if problem is not None:
        raise invalid("pce_url_invalid", f"url {problem}.")
    return normalize(raw)


def _base(request: web.Request, ext: Extension) -> str:
    return (
        f"{base_url(request)}{api_prefix(request)}/extensions/"
        f"{request.match_info['userId']}/{ext.number}/phoneCallEvents"
    )


def _view(reg: Registration, base: str) -> Item:
    """The PhoneCallEvent; of its custom headers only the names (values are never shown)."""
    view: Item = {
        "type": str(reg.type),
        "id": reg.id,
        "method": str(reg.method),
        "note": reg.note,
        "url": reg.url,
        "status": str(reg.status),
        "modified": reg.modified,
        "extension": reg.extension,
        "ordered": reg.ordered,
    }
    if reg.disabled_reason:
        view["disabledReason"] = reg.disabled_reason
    if reg.max_rate:
        view["maxRate"] = reg.max_rate
    if reg.headers:
        view["headers"] = [name for name, _ in reg.headers]
    view["links"] = {"self": f"{base}/{reg.type}/{reg.id}"}
    return view


def _mine(request: web.Request, ext: Extension) -> list[Registration]:
    """The app's registrations on the extension, of the path's type if it names one."""
    raw_type = request.match_info.get("eventType")
    type_ = None if raw_type is None else one_of(raw_type, TYPES, "pce_type_invalid", "type")
    app = current_app(request).name
    return [r for r in services(request).registrations.of(ext.number, type_) if r.app == app]


def _one(request: web.Request, ext: Extension) -> Registration:
    event_id = request.match_info["eventId"]
    found = [r for r in _mine(request, ext) if r.id == event_id]
    if not found:
        raise invalid("pce_id_invalid", f"{event_id!r} is not an event of this extension and type.")
    return found[0]


async def create(request: web.Request) -> web.Response:
    """201 with the whole PhoneCallEvent."""
    ext = _extension(request)
    body = await read_json(request)
    if not isinstance(body, dict):
        raise invalid("pcet_type_invalid", "The body must be a PhoneCallEvent object.")
    raw_type = request.match_info.get("eventType", body.get("type"))
    reg = Registration(
        id=new_id(),
        app=current_app(request).name,
        extension=ext.number,
        type=one_of(raw_type, TYPES, "pcet_type_invalid", "type"),
        method=one_of(body.get("method", 0), (0, 1), "pce_method_invalid", "method"),
        url=_url(request, body.get("url")),
        note=_note(body.get("note", "")),
        status=one_of(body.get("status", ENABLED), (0, 1), "pce_status_invalid", "status"),
        modified=iso(time.time()),
        secret=current_app(request).webhook_secret or new_secret(),
        headers=hookfields.headers(body.get("headers")),
        max_rate=hookfields.max_rate(body.get("maxRate")),
        ordered=hookfields.ordered(body.get("ordered")),
    )
    svc = services(request)
    limit = svc.config.webhooks.max_registrations
    if not await svc.registrations.add(reg, limit):
        raise ApiError(
            409,
            "pce_limit_exceeded",
            f"This app already has {limit} "
            f"PhoneCallEvents on {ext.number} (webhooks.max_registrations).",
        )
    return web.json_response({**_view(reg, _base(request, ext)), "secret": reg.secret}, status=201)


async def update(request: web.Request) -> web.Response:
    """Merges the given fields; 200 with the whole PhoneCallEvent."""
    ext = _extension(request)
    reg = _one(request, ext)
    body = await read_json(request)
    if not isinstance(body, dict):
        raise invalid("pce_type_invalid", "The body must be a PhoneCallEvent object.")
    changes: dict[str, Any] = {"modified": iso(time.time())}
    if "type" in body:
        changes["type"] = one_of(body["type"], TYPES, "pce_type_invalid", "type")
    if "method" in body:
        changes["method"] = one_of(body["method"], (0, 1), "pce_method_invalid", "method")
    if "note" in body:
        changes["note"] = _note(body["note"])
    if "url" in body:
        changes["url"] = _url(request, body["url"])
    if "headers" in body:
        changes["headers"] = hookfields.headers(body["headers"])
    if "maxRate" in body:
        changes["max_rate"] = hookfields.max_rate(body["maxRate"])
    if "ordered" in body:
        changes["ordered"] = hookfields.ordered(body["ordered"])
    if "status" in body:
        status = one_of(body["status"], (0, 1), "pce_status_invalid", "status")
        reg = hookcare.with_status(reg, status, time.time())
    reg = dataclasses.replace(reg, **changes)
    await services(request).registrations.save(reg)
    return web.json_response(_view(reg, _base(request, ext)))


async def list_events(request: web.Request) -> web.Response:
    ext = _extension(request)
    regs = [_one(request, ext)] if "eventId" in request.match_info else _mine(request, ext)
    q = parse_list_query(
        request.query, fields=FIELDS, filterable=FILTERABLE, date_fields=("modified",)
    )
    base = _base(request, ext)
    return collection_response(
        request,
        [_view(r, base) for r in regs],
        q,
        self_url=f"{base_url(request)}{request.path}",
        sort_key="modified",
    )


async def delete(request: web.Request) -> web.Response:
    """200 with the ids deleted; 204 when there was none."""
    ext = _extension(request)
    regs = [_one(request, ext)] if "eventId" in request.match_info else _mine(request, ext)
    if not regs:
        return nothing(request, [])
    await services(request).registrations.delete(r.id for r in regs)
    return web.json_response([{"id": r.id} for r in regs])


async def deliveries(request: web.Request) -> web.Response:
    """The attempts to call this registration's URL, newest first (why did my hook not fire?)."""
    ext = _extension(request)
    reg = _one(request, ext)
    q = parse_list_query(
        request.query,
        fields=ATTEMPT_FIELDS,
        filterable=("deliveryId", "status", "outcome", "at"),
        date_fields=("at",),
    )
    attempts = await services(request).outbox.attempts(reg.id)
    for attempt in attempts:
        attempt["at"] = iso(attempt["at"])
        attempt["status"] = "" if attempt["status"] is None else str(attempt["status"])
        attempt["attempt"] = str(attempt["attempt"])
    return collection_response(request, attempts, q, self_url=f"{base_url(request)}{request.path}")


async def secret(request: web.Request) -> web.Response:
    """`{"secret": "whsec_..."}`: what the registration's deliveries are signed with (and,
    during a rotation's overlap, `previous` and `previousExpires`)."""
    reg = _one(request, _extension(request))
    answer = {"secret": reg.secret}
    if len(reg.signing_secrets(time.time())) > 1:
        answer |= {"previous": reg.previous_secret, "previousExpires": iso(reg.previous_expires)}
    return web.json_response(answer)


async def rotate(request: web.Request) -> web.Response:
    """200 `{"secret", "previousExpires"}`: a new secret; the old one signs too until then."""
    reg = _one(request, _extension(request))
    body = await _object(request, "pce_overlap_invalid")
    svc = services(request)
    done = await hookcare.rotate(
        svc.registrations,
        reg,
        hookfields.overlap(body.get("overlap"), svc.config.webhooks.rotation_overlap),
        time.time(),
    )
    return web.json_response({"secret": done.secret, "previousExpires": iso(done.previous_expires)})


async def replay(request: web.Request) -> web.Response:
    """202 `{"deliveryId"}`: that delivery is queued again, with the same webhook-id."""
    reg = _one(request, _extension(request))
    delivery_id = request.match_info["deliveryId"]
    await hookcare.replay(services(request).outbox, reg, delivery_id, time.time())
    return web.json_response({"deliveryId": delivery_id}, status=202)


async def recover(request: web.Request) -> web.Response:
    """202 `{"queued": N}`: the deliveries of [since, until] not delivered go out again."""
    reg = _one(request, _extension(request))
    body = await _object(request, "pce_since_invalid")
    since = hookfields.date(body.get("since"), "pce_since_invalid", "since")
    until = (
        None
        if body.get("until") is None
        else hookfields.date(body["until"], "pce_until_invalid", "until")
    )
    svc = services(request)
    queued = await hookcare.recover(
        svc.outbox, svc.config.webhooks, reg, since=since, until=until, now=time.time()
    )
    return web.json_response({"queued": queued}, status=202)


async def _object(request: web.Request, code: str) -> dict[str, Any]:
    """The JSON object body (an empty body: {})."""
    body = await read_json(request) if request.can_read_body else {}
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise invalid(code, "The body must be a JSON object.")
    return body


def add_routes(app: web.Application, prefix: str) -> None:
    base = f"{prefix}/extensions/{{userId}}/{{extension}}/phoneCallEvents"
    for path in (base, f"{base}/{{eventType}}"):
        app.router.add_post(path, idempotent(create))
    for path in (base, f"{base}/{{eventType}}", f"{base}/{{eventType}}/{{eventId}}"):
        app.router.add_get(path, list_events)
        app.router.add_delete(path, delete)
    app.router.add_put(f"{base}/{{eventType}}/{{eventId}}", update)
    app.router.add_get(f"{base}/{{eventType}}/{{eventId}}/deliveries", deliveries)
    app.router.add_get(f"{base}/{{eventType}}/{{eventId}}/secret", secret)
    one = f"{base}/{{eventType}}/{{eventId}}"
    app.router.add_post(f"{one}/secret/rotate", rotate)
    app.router.add_post(f"{one}/deliveries/{{deliveryId}}/replay", replay)
    app.router.add_post(f"{one}/recover", recover)
