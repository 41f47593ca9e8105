"""Operations endpoints: /healthz for load balancers and systemd, /metrics for Prometheus."""

from __future__ import annotations

import time

from aiohttp import web

from bridge.api.context import services


async def healthz(request: web.Request) -> web.Response:
    """200 while AMI is logged in, 503 otherwise."""
    svc = services(request)
    connected = bool(svc.ami and svc.ami.connected)
    body = {
        "status": "ok" if connected else "degraded",
        "ami": "connected" if connected else "disconnected",
        "uptime_s": round(time.monotonic() - svc.started_at, 1),
        "ami_reconnects": svc.ami.reconnects if svc.ami else 0,
    }
    return web.json_response(body, status=200 if connected else 503)


async def metrics(request: web.Request) -> web.Response:
    body = services(request).metrics.render()
    return web.Response(body=body, content_type="text/plain", charset="utf-8",
                        headers={"X-Prometheus-Format": "0.0.4"})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
