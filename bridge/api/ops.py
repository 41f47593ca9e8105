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
_NO = ("0", "false", "no")  # `?strict=false` is not strict


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


async def _ari(svc: Services) -> dict[str, str]:
    """Each node's ARI: `ok`, `unavailable` (no answer, or credentials refused) or
    `not_configured` (no `ami.ari`), asked at once."""
    clients = [(n.name, n.ari) for n in svc.nodes.all]
    pings = await asyncio.gather(*(c.ping() for _, c in clients if c is not None))
    answers = iter(pings)
    return {
        name: "not_configured" if c is None else "ok" if next(answers) else "unavailable"
        for name, c in clients
    }


async def healthz(request: web.Request) -> web.Response:
    """Each part of the bridge: the AMI link of each node, the store, the webhook backlog and
    the supervised background tasks. 200 while the store and the tasks work and at least one
    node is connected (`?strict`: every node), 503 otherwise; `status` says `degraded` when
    anything is down. `config`: the serving config and how the last reload went."""
    svc = services(request)
    nodes = {n.name: n.pbx.stats for n in svc.nodes.all}
    up = [name for name, stats in nodes.items() if stats.connected]
    store, backlog = await _store(svc)
    ari = await _ari(svc)
    tasks = svc.tasks()
    strict = "strict" in request.query and request.query["strict"].lower() not in _NO
    broken = (
        not up or (strict and len(up) < len(nodes)) or store != "ok" or FAILED in tasks.values()
    )
    ari_down = "unavailable" in ari.values()  # shown, but recordings are no reason for 503
    body = {
        "status": "ok" if len(up) == len(nodes) and not broken and not ari_down else "degraded",
        "ami": ("connected" if len(up) == len(nodes) else "partial" if up else "disconnected"),
        "nodes": {
            name: {
                "ami": "connected" if stats.connected else "disconnected",
                "reconnects": stats.reconnects,
                "ari": ari[name],
            }
            for name, stats in nodes.items()
        },
        "store": store,
        "webhooks": backlog,
        "tasks": tasks,
        "uptime_s": round(time.monotonic() - svc.started_at, 1),
        "ami_reconnects": sum(stats.reconnects for stats in nodes.values()),
        "config": svc.config_state.shown(),  # a failed reload keeps the old config: still 200
    }
    return web.json_response(body, status=503 if broken else 200)


async def metrics(request: web.Request) -> web.Response:
    body = services(request).metrics.render()
    return web.Response(
        body=body,
        content_type="text/plain",
        charset="utf-8",
        headers={"X-Prometheus-Format": "0.0.4"},
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
