"""Operations endpoints: /healthz for load balancers and systemd, /metrics for Prometheus."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from typing import Any

from aiohttp import web

from bridge.api.context import Services, services
from bridge.errors import BridgeError
from bridge.supervisor import FAILED

STORE_TIMEOUT = 2.0


async def _store(svc: Services) -> tuple[str, dict[str, Any]]:
    """The store answers a trivial query, and what the webhook outbox holds that is due."""
    try:
        async with asyncio.timeout(STORE_TIMEOUT):
            await svc.db.fetchall("SELECT 1")
            due, oldest = await svc.outbox.backlog(time.time())
    except (TimeoutError, BridgeError, sqlite3.Error) as exc:
        return "unavailable", {"error": type(exc).__name__}
    age = round(time.time() - oldest, 1) if oldest is not None else 0.0
    return "ok", {"due": due, "oldest_due_age_s": max(0.0, age)}


async def healthz(request: web.Request) -> web.Response:
    """Each part of the bridge: the AMI link, the store, the webhook backlog and the
    supervised background tasks. 200 while all work, 503 when one is broken."""
    svc = services(request)
    stats = svc.pbx.stats
    connected = stats.connected
    store, backlog = await _store(svc)
    tasks = svc.tasks()
    broken = not connected or store != "ok" or FAILED in tasks.values()
    body = {
        "status": "degraded" if broken else "ok",
        "ami": "connected" if connected else "disconnected",
        "store": store,
        "webhooks": backlog,
        "tasks": tasks,
        "uptime_s": round(time.monotonic() - svc.started_at, 1),
        "ami_reconnects": stats.reconnects,
    }
    return web.json_response(body, status=503 if broken else 200)


async def metrics(request: web.Request) -> web.Response:
    body = services(request).metrics.render()
    return web.Response(body=body, content_type="text/plain", charset="utf-8",
                        headers={"X-Prometheus-Format": "0.0.4"})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
