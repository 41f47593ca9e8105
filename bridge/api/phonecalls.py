"""`POST /uapi/phoneCalls/{userId}/simple`: validate, place the call through AMI, answer 202."""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import structlog
from aiohttp import web
from panoramisk.message import Message

from bridge.ami.actions import ActionFields, CallPlan, originate
from bridge.api.common import read_json
from bridge.api.context import Services, api_prefix, base_url, current_app, services
from bridge.api.idempotency import idempotent
from bridge.config import App, Extension, User
from bridge.directory import Directory, is_public_number
from bridge.domain.views import iso
from bridge.errors import PbxUnavailable, invalid
from bridge.store import calls as calls_store

log = structlog.get_logger("bridge.calls")

# UAPI-Caller-Id as the pages use it ("John Doe <+3334444>"), limited to characters that are
# safe inside AMI Variable headers and dialplan arguments (no comma, quote, pipe or newline).
CALLER_ID = re.compile(r"[A-Za-z0-9 ._'-]{0,64}<\+?[0-9*#]{1,32}>")
NONCE = re.compile(r"[\x21-\x7e]{1,128}")
MAX_WAIT = 3600
MAX_DURATION = 86400


class Pbx(Protocol):
    """What the make-call route needs of the AMI link."""

    @property
    def connected(self) -> bool: ...

    async def send(
        self,
        action: ActionFields,
        timeout: float | None = None,  # noqa: ASYNC109 - mirrors AmiClient.send (per action)
    ) -> Message: ...

    async def send_list(
        self,
        action: ActionFields,
        timeout: float | None = None,  # noqa: ASYNC109 - mirrors AmiClient.send_list
    ) -> list[Message]: ...


def _seconds(raw: str | None, default: int | None, high: int, code: str) -> int | None:
    if raw is None:
        return default
    if not raw.strip().isdigit() or not 0 < int(raw) <= high:
        raise invalid(code, f"Must be a whole number of seconds from 1 to {high}, got {raw!r}.")
    return int(raw)


def _flag(raw: str | None, code: str) -> bool:
    if raw is None:
        return False
    if raw.lower() not in ("true", "false", "1", "0"):
        raise invalid(code, f"Must be true or false, got {raw!r}.")
    return raw.lower() in ("true", "1")


def _numbers(raw: Any, code: str, what: str) -> list[str]:
    """A list of numbers (a plain string is accepted as a list of one)."""
    items = [raw] if isinstance(raw, str | int) and not isinstance(raw, bool) else raw
    if not isinstance(items, list) or not items or len(items) > 16:
        raise invalid(code, f"{what} must be a list of 1 to 16 numbers.")
    if not all(isinstance(i, str | int) and not isinstance(i, bool) for i in items):
        raise invalid(code, f"{what} must hold extension or public numbers.")
    return [str(i).strip() for i in items]


def caller_id_or(raw: Any, default: str) -> str:
    """A request's callerId (UAPI-Caller-Id), or `default` when absent."""
    if raw is None:
        return default
    if not isinstance(raw, str) or not CALLER_ID.fullmatch(raw.strip()):
        raise invalid("pc_callerid_invalid", "callerId must look like 'John Doe <+3334444>'.")
    return raw.strip()


class _Resolver:
    """Turns numbers into dial targets inside the organization of the call's user."""

    def __init__(self, directory: Directory, user: User | None, app: App, public: str) -> None:
        self.directory = directory
        org = directory.organization_of_user(user) if user else directory.home_organization(app)
        self.org = org
        self.public = public

    def extension(self, number: str) -> Extension | None:
        return self.directory.find_extension(number, self.org)

    def party(self, number: str) -> str:
        """How the call tracker names this party: the extended number, or the number."""
        ext = self.extension(number)
        return ext.number if ext else number

    def target(self, number: str, code: str, what: str) -> str:
        ext = self.extension(number)
        if ext is not None:
            return ext.channel
        if self.directory.extended(number, self.org) is None and is_public_number(number):
            return self.public.format(number=number)
        raise invalid(code, f"{what} {number!r} is neither an extension nor a public number.")


def _view(body: Any) -> Mapping[str, Any]:
    if not isinstance(body, dict):
        raise invalid("pc_source_invalid", "The body must be a PhoneCall object.")
    views = body.get("phoneCallView")
    if isinstance(views, dict):
        views = [views]
    if not isinstance(views, list) or not views or not isinstance(views[0], dict):
        raise invalid("pc_source_invalid", "phoneCallView must hold one view with source.")
    view: Mapping[str, Any] = views[0]
    return view


def _charged_extension(
    body: Mapping[str, Any], sources: list[str], res: _Resolver, app: App, user: User | None
) -> Extension:
    number = body.get("extension", sources[0])
    if not isinstance(number, str | int) or isinstance(number, bool) or str(number) == "@self":
        raise invalid("extension_invalid", "extension must be a phone terminal number.")
    ext = res.extension(str(number))
    if ext is None or ext.type != "phone_terminal":
        raise invalid("extension_invalid", f"{number!r} is not a phone terminal extension.")
    owner = res.directory.owner(ext)
    allowed = owner.id == user.id if user else res.directory.may_act_for(app, owner)
    if not allowed:
        raise invalid("extension_invalid", f"Extension {ext.number} is not the user's.")
    return ext


@dataclass(frozen=True)
class Placement:
    """A validated make-call request: the AMI plan and what the API remembers of it."""

    plan: CallPlan
    extension: Extension
    nonce: str | None
    remembered: dict[str, Any]  # stored with the call (store.calls.PlacedCall.plan)


def plan_call(
    body: Any, query: Mapping[str, str], *, directory: Directory, app: App, user: User | None,
    public: str,
) -> Placement:
    """Validates a make-call request in the order of the page's failure table."""
    wait = _seconds(query.get("waitForPickup"), 25, MAX_WAIT, "pc_timeout_invalid")
    duration = _seconds(query.get("callDuration"), None, MAX_DURATION, "pc_duration_invalid")
    public_transfer = _flag(query.get("allowPublicTransfer"), "pc_transfer_invalid")
    _flag(query.get("video"), "pc_video_invalid")
    view = _view(body)
    res = _Resolver(directory, user, app, public)
    sources = _numbers(view.get("source"), "pc_source_invalid", "source")
    destinations = _numbers(view.get("destination"), "pc_destination_invalid", "destination")
    ext = _charged_extension(body, sources, res, app, user)
    nonce = body.get("nonce")
    if nonce is not None and (not isinstance(nonce, str) or not NONCE.fullmatch(nonce)):
        raise invalid("pc_nonce_invalid", "nonce must be 1-128 printable characters.")
    dest_raw = view.get("callerIdDestination", view.get("callerDestination"))
    plan = CallPlan(
        call_id=secrets.token_hex(10),
        sources=tuple(res.target(n, "pc_source_invalid", "source") for n in sources),
        destinations=tuple(
            res.target(n, "pc_destination_invalid", "destination") for n in destinations
        ),
        source_caller_id=caller_id_or(view.get("callerId"), ext.caller_id),
        destination_caller_id=caller_id_or(dest_raw, ext.caller_id),
        wait=wait or 25,
        duration=duration,
    )
    remembered = {
        "sources": [res.party(n) for n in sources],
        "destinations": [res.party(n) for n in destinations],
        "source_caller_id": plan.source_caller_id,
        "destination_caller_id": plan.destination_caller_id,
        "allow_public_transfer": public_transfer,
    }
    return Placement(plan, ext, nonce, remembered)


async def _place(svc: Services, record: calls_store.PlacedCall, plan: CallPlan) -> None:
    """Sends the Originate while the call is written down; undoes both if Asterisk refuses.

    The 202 does not wait for the row: the nonce is already held in memory, and the row only
    matters to a later restart (CallStore.drain() waits for it at shutdown).
    """
    assert svc.pbx is not None
    svc.calls.hold(record, svc.tracker.calls.__contains__)
    # Known to the tracker before Asterisk's first event about it can arrive.
    svc.tracker.annotate(plan.call_id, record.meta())
    saving = svc.calls.save_soon(record)
    try:
        await svc.pbx.send(originate(plan))
    except Exception:
        svc.tracker.forget(plan.call_id)
        await asyncio.gather(saving, return_exceptions=True)
        await svc.calls.forget(record)
        raise
    log.info("call.originated", call_id=plan.call_id, extension=record.extension,
             sources=plan.sources, destinations=plan.destinations)


async def make_simple_call(request: web.Request) -> web.Response:
    """Places the call and answers 202 with its id before anybody picks up."""
    svc = services(request)
    app = current_app(request)
    user = svc.directory.resolve_user(app, request.match_info["userId"], "extension_invalid")
    body = await read_json(request)
    placing = plan_call(body, request.query, directory=svc.directory, app=app, user=user,
                        public=svc.config.dialing.public)
    plan, ext = placing.plan, placing.extension
    if svc.pbx is None or not svc.pbx.connected:
        raise PbxUnavailable("not connected")
    now = time.time()
    record = calls_store.PlacedCall(
        plan.call_id, ext.number, svc.directory.owner(ext).id, app.name, placing.nonce,
        iso(now), now, placing.remembered,
    )
    placed = svc.calls.reuse(app.name, placing.nonce, svc.tracker.calls.__contains__)
    if placed is None:
        placed = record
        await _place(svc, record, plan)
    else:
        log.info("call.nonce.reused", call_id=placed.id, extension=placed.extension)
    link = f"{base_url(request)}{api_prefix(request)}/phoneCalls/{request.match_info['userId']}"
    return web.json_response(
        [{"id": placed.id, "extension": placed.extension,
          "link": {"self": f"{link}/{placed.extension}/{placed.id}"}}],
        status=202,
    )


def add_routes(app: web.Application, prefix: str) -> None:
    app.router.add_post(f"{prefix}/phoneCalls/{{userId}}/simple", idempotent(make_simple_call))
