"""Builds the aiohttp application: middleware, both API prefixes, ops and OAuth routes."""

from __future__ import annotations

from aiohttp import web

from bridge.api import (
    board,
    callback,
    callcontrol,
    calllist,
    cdr,
    conference,
    docs,
    extensions,
    faxes,
    hangup,
    oauth,
    ops,
    participants,
    phonecallevents,
    phonecalls,
    presence,
    queues,
    recordings,
    stream,
)
from bridge.api.context import SERVICES, Services
from bridge.api.idempotency import KEYS
from bridge.api.middleware import API_PREFIXES, rate_limit_headers, request_middleware
from bridge.live.hub import Hub

PREFIXES = ("/uapi", "/unifiedapi")


def build_app(svc: Services, hub: Hub | None = None) -> web.Application:
    """The web app for `svc`; every UAPI route is served under /uapi/ and /unifiedapi/.
    `hub` feeds the live streams (a bridge passes the one its calls feed drives)."""
    app = web.Application(
        middlewares=[request_middleware], client_max_size=svc.config.http.max_body
    )
    app[SERVICES] = svc
    app.on_response_prepare.append(rate_limit_headers)
    app[KEYS] = svc.keys
    app[stream.HUB] = hub or stream.hub_for(svc)
    app.on_shutdown.append(stream.end_streams)
    ops.add_routes(app)
    docs.add_routes(app, PREFIXES)
    oauth.add_routes(app)
    board.add_routes(app)
    for prefix in PREFIXES:
        extensions.add_routes(app, prefix)
        phonecalls.add_routes(app, prefix)
        hangup.add_routes(app, prefix)
        stream.add_routes(app, prefix)  # before List's .../{extension}/{phoneCallId}
        calllist.add_routes(app, prefix)
        callcontrol.add_routes(app, prefix)
        phonecallevents.add_routes(app, prefix)
        cdr.add_routes(app, prefix)
        callback.add_routes(app, prefix)
        conference.add_routes(app, prefix)
        presence.add_routes(app, prefix)
        queues.add_routes(app, prefix)
        recordings.add_routes(app, prefix)
        participants.add_routes(app, prefix)
        faxes.add_routes(app, prefix)
    add_trailing_slashes(app.router)  # last: it covers every API route added above
    return app


def add_trailing_slashes(router: web.UrlDispatcher) -> None:
    """Serves every API route also with a trailing `/`, same methods and handlers.

    VoipNow's own pages and 4PSA's clients end paths in `/` (`POST .../@me/simple/`) and POST
    to them, so a redirect would not do: the slashed path is a route of its own.
    """
    for resource in list(router.resources()):
        path = resource.canonical
        if not path.startswith(API_PREFIXES) or path.endswith("/"):
            continue
        twin = router.add_resource(f"{path}/")
        for route in resource:
            twin.add_route(route.method, route.handler)
