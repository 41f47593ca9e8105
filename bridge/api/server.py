"""Builds the aiohttp application: middleware, both API prefixes, ops and OAuth routes."""

from __future__ import annotations

from aiohttp import web

from bridge.api import (
    callcontrol,
    calllist,
    docs,
    extensions,
    hangup,
    oauth,
    ops,
    phonecallevents,
    phonecalls,
)
from bridge.api.context import SERVICES, Services
from bridge.api.middleware import request_middleware

PREFIXES = ("/uapi", "/unifiedapi")


def build_app(svc: Services) -> web.Application:
    """The web app for `svc`; every UAPI route is served under /uapi/ and /unifiedapi/."""
    app = web.Application(
        middlewares=[request_middleware], client_max_size=svc.config.http.max_body
    )
    app[SERVICES] = svc
    ops.add_routes(app)
    docs.add_routes(app, PREFIXES)
    oauth.add_routes(app)
    for prefix in PREFIXES:
        extensions.add_routes(app, prefix)
        phonecalls.add_routes(app, prefix)
        hangup.add_routes(app, prefix)
        calllist.add_routes(app, prefix)
        callcontrol.add_routes(app, prefix)
        phonecallevents.add_routes(app, prefix)
    return app
