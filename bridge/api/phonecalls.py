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
from bridge.api.fields import caller_id_or, flag, numbers, optional_number, whole_number
from bridge.api.idempotency import idempotent
from bridge.config import App, Extension, Organization, User
from bridge.directory import Directory, is_public_number
from bridge.domain.views import iso
from bridge.errors import PbxUnavailable, invalid
from bridge.store import calls as calls_store

log = structlog.get_logger("bridge.calls")

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


class _Resolver:
    """Turns numbers into dial targets inside one organization, for one app.

    Tenant rule: a source is an extension the app may act for, or a public number; a
    destination is an extension of the same organization, or a public number. Another
    organization's extension gets exactly the answer an unknown number gets.
    """

    def __init__(
        self, directory: Directory, app: App, org: Organization | None, public: str
    ) -> None:
        self.directory = directory
        self.app = app
        self.org = org
        self.public = public

    def extension(self, number: str) -> Extension | None:
        """The extension `number` names, if the app may know of it."""
        return self.directory.visible_extension(self.app, number, self.org)

    def local(self, number: str) -> Extension | None:
        """The extension `number` names inside this organization."""
        ext = self.extension(number)
        if ext is None or self.org is None:
            return ext
        return ext if self.directory.owner(ext).organization == self.org.id else None

    def party(self, number: str) -> str:
        """How the call tracker names this party: the extended number, or the number."""
        ext = self.local(number)
        return ext.number if ext else number

    def target(self, number: str, code: str, what: str, *, acting: bool = False) -> str:
        """The dial target of a party; `acting`: the app must be allowed to act for it."""
        ext = self.local(number)
        if ext is not None:
            if acting and not self.directory.may_act_for(self.app, self.directory.owner(ext)):
                raise invalid(code, f"{what} {ext.number} is an extension this app may not "
                                    "act for.")
            return ext.channel
        if self.directory.extended(number, self.org) is None and is_public_number(number):
            return self.public.format(number=number)
        raise invalid(code, f"{what} {number!r} is neither an extension of the organization nor "
                            "a public number.")


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
    wait = whole_number(query.get("waitForPickup"), 25, 1, MAX_WAIT, "pc_timeout_invalid")
    duration = optional_number(query.get("callDuration"), 1, MAX_DURATION, "pc_duration_invalid")
    public_transfer = flag(query.get("allowPublicTransfer"), "pc_transfer_invalid")
    flag(query.get("video"), "pc_video_invalid")
    view = _view(body)
    home = directory.organization_of_user(user) if user else directory.home_organization(app)
    sources = numbers(view.get("source"), "pc_source_invalid", "source")
    destinations = numbers(view.get("destination"), "pc_destination_invalid", "destination")
    ext = _charged_extension(body, sources, _Resolver(directory, app, home, public), app, user)
    org = directory.organization_of_user(directory.owner(ext))
    res = _Resolver(directory, app, org, public)
    nonce = body.get("nonce")
    if nonce is not None and (not isinstance(nonce, str) or not NONCE.fullmatch(nonce)):
        raise invalid("pc_nonce_invalid", "nonce must be 1-128 printable characters.")
    dest_raw = view.get("callerIdDestination", view.get("callerDestination"))
    plan = CallPlan(
        call_id=secrets.token_hex(10),
        sources=tuple(res.target(n, "pc_source_invalid", "source", acting=True)
                      for n in sources),
        destinations=tuple(
            res.target(n, "pc_destination_invalid", "destination") for n in destinations
        ),
        source_caller_id=caller_id_or(view.get("callerId"), ext.caller_id),
        destination_caller_id=caller_id_or(dest_raw, ext.caller_id),
        wait=wait,
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
    placed = await svc.calls.claim(record, svc.tracker.calls.__contains__, now)
    if placed is record:
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
