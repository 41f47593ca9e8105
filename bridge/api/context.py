"""What the HTTP handlers share: the services the composition root (bridge.app) hands them."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from bridge.auth import TokenStore
from bridge.calls.control import CallControl
from bridge.calls.faxes import Faxes
from bridge.calls.hangup import Hangups
from bridge.calls.limits import Limiter, Ticket
from bridge.calls.nodes import Nodes
from bridge.calls.phoneless import Callbacks, Invites
from bridge.calls.placing import Placing
from bridge.calls.queues import QueueMembers
from bridge.calls.recordings import Recordings
from bridge.calls.watch import TrackerWatch
from bridge.config import Config
from bridge.directory import Directory
from bridge.metrics import Metrics
from bridge.reload_plan import ConfigState
from bridge.store.db import Database
from bridge.store.history import HistoryStore
from bridge.store.hooks import Outbox, Registrations
from bridge.store.idempotency import Keys
from bridge.store.placed import CallStore
from bridge.tenants import App, Extension, User


@dataclass
class Services:
    """Everything a handler may use; built by `bridge.app.build_services`, never here."""

    config: Config
    directory: Directory
    tokens: TokenStore
    metrics: Metrics
    db: Database
    nodes: Nodes  # every node: its link, calls, presence and queues, and which holds what
    calls: CallStore
    registrations: Registrations
    outbox: Outbox
    keys: Keys  # Idempotency-Key answers, stored and in flight
    watch: TrackerWatch
    hangups: Hangups
    placing: Placing
    callbacks: Callbacks
    invites: Invites  # conference invites
    queues: QueueMembers  # queue agents
    control: CallControl
    history: HistoryStore  # the call history (CDR)
    limiter: Limiter  # per-app requests and calls buckets (#21); apply() on a config reload
    recordings: Recordings  # stopped recordings: listed from the store, served through ARI
    faxes: Faxes  # sent and received faxes (issue 25)
    started_at: float = field(default_factory=time.monotonic)
    tasks: Callable[[], dict[str, str]] = dict  # supervised task -> state (bridge.supervisor)
    config_state: ConfigState = field(default_factory=ConfigState)  # kept by bridge.reload


SERVICES = web.AppKey("services", Services)
APP_KEY = web.RequestKey("uapi.app", App)  # the authenticated App of a request
TICKET_KEY = web.RequestKey("uapi.ticket", Ticket)  # its `requests` token (given back if refused)


def services(request: web.Request) -> Services:
    return request.app[SERVICES]


def current_app(request: web.Request) -> App:
    """The app that authenticated this request (set by the auth middleware)."""
    return request[APP_KEY]


@dataclass(frozen=True)
class CallScope:
    """What a `/phoneCalls/{userId}/{extension}` path names, checked for the app."""

    user_ref: str
    user: User | None  # None: @owner
    extensions: list[Extension]  # the extension, or all of the user's for @self


def call_scope(request: web.Request) -> CallScope:
    """Resolves userId and extension (400 extension_invalid if the app may not use them)."""
    directory = services(request).directory
    app = current_app(request)
    user_ref = request.match_info["userId"]
    user = directory.resolve_user(app, user_ref, "extension_invalid")
    return CallScope(
        user_ref, user, directory.scope_extensions(app, user, request.match_info["extension"])
    )


def base_url(request: web.Request) -> str:
    """Where links point: `http.public_url`, else the scheme and host the client used."""
    public = services(request).config.http.public_url
    if public:
        return public.rstrip("/")
    return f"{request.scheme}://{request.host}"


def api_prefix(request: web.Request) -> str:
    """`/uapi` or `/unifiedapi`, whichever the client called."""
    return "/unifiedapi" if request.path.startswith("/unifiedapi/") else "/uapi"
