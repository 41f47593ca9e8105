"""`GET|PUT /uapi/extensions/{userId}/{queue}/queue/agents[/{identifier}]`: log agents of a
Queue extension in, out, or pause them (app_queue), and list them. uapi.md Part 3 §15.

A Queue extension's `channel` is `Local/NAME@uapi-queue`: NAME is the Asterisk queue whose
members the bridge manages. Agents are phone terminals of the queue's organization, named by
extension number; their state comes from what the bridge keeps of the QueueMember* events.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

from aiohttp import web

from bridge.ami.message import ActionFields
from bridge.api.common import collection_response, json_ok, read_json
from bridge.api.context import Services, base_url, current_app, services
from bridge.api.fields import one_of, scalar_text
from bridge.api.listing import parse_list_query
from bridge.directory import SELF
from bridge.domain.queues import LOGGED_OUT, PAUSED, STATUSES
from bridge.errors import invalid
from bridge.tenants import Extension

FIELDS = ("agentNumber", "status", "queue", "type", "identifier")
_QUEUE_CHANNEL = re.compile(r"Local/([0-9A-Za-z_-]{1,64})@uapi-queue")
_ORDERS = {"asc": "ascending", "desc": "descending"}
SETTLE = 2.0  # seconds to wait for the QueueMember* event of an action


def queue_name(ext: Extension) -> str | None:
    match = _QUEUE_CHANNEL.fullmatch(ext.channel)
    return match[1] if ext.type == "queue" and match else None


def _queue(request: web.Request) -> tuple[Extension, str]:
    svc, app = services(request), current_app(request)
    number = request.match_info["extension"]
    if number == SELF:
        raise invalid("extension_invalid", "Name one queue extension; @self is not allowed.")
    user = svc.directory.resolve_user(app, request.match_info["userId"], "extension_invalid")
    ext = svc.directory.resolve_extension(app, user, number)
    name = queue_name(ext)
    if name is None:
        raise invalid("extension_invalid", f"{ext.number} is not a queue extension.")
    return ext, name


def _agent(svc: Services, queue: Extension, raw: Any) -> Extension:
    """An agent: a phone terminal of the queue's organization, by extension number."""
    number = scalar_text(raw)
    org = svc.directory.organization_of_user(svc.directory.owner(queue))
    ext = svc.directory.find_extension(number, org) if number else None
    if ext is None or ext.type != "phone_terminal" or ext.prefix != org.prefix:
        raise invalid(
            "qag_agent_invalid",
            f"{str(raw)[:40]!r} is not an agent extension of the queue's organization.",
        )
    if svc.directory.node_of(ext) != svc.directory.node_of(queue):
        raise invalid(
            "qag_agent_invalid", f"{ext.number} is on another Asterisk node than the queue."
        )
    return ext


def _item(svc: Services, queue: Extension, interface: str, status: int) -> dict[str, str]:
    ext = svc.directory.extension_by_channel(interface)
    number = ext.number if ext is not None else interface
    return {
        "agentNumber": number,
        "status": str(status),
        "queue": queue.number,
        "type": "local" if ext is not None else "remote",
        "identifier": number,
    }


async def list_agents(request: web.Request) -> web.Response:
    """200 with the queue's agents (one for `{identifier}`); 204 when none."""
    svc = services(request)
    queue, name = _queue(request)
    query = dict(request.query)
    if query.get("sortOrder") in _ORDERS:
        query["sortOrder"] = _ORDERS[query["sortOrder"]]
    if query.get("filterOp", "equals") != "equals":
        raise invalid("filterop_invalid", "filterOp must be equals.")
    q = parse_list_query(query, fields=FIELDS, filterable=("agentNumber", "status", "queue"))
    agents = svc.nodes.of_extension(queue).queue_agents.agents(name)
    wanted = request.match_info.get("identifier")
    if wanted is not None:
        ext = _agent(svc, queue, wanted)
        agents = {ext.channel: agents.get(ext.channel, LOGGED_OUT)}
    items = [_item(svc, queue, i, s) for i, s in agents.items()]
    self_url = f"{base_url(request)}{request.path}"
    return collection_response(request, items, q, self_url=self_url, sort_key="status")


def _actions(name: str, agent: Extension, now: int, want: int) -> list[ActionFields]:
    """The app_queue actions from state `now` to state `want`."""
    member = {"Queue": name, "Interface": agent.channel}
    if want == LOGGED_OUT:
        return [{"Action": "QueueRemove", **member}] if now != LOGGED_OUT else []
    paused = "true" if want == PAUSED else "false"
    if now == LOGGED_OUT:
        return [{"Action": "QueueAdd", **member, "MemberName": agent.number, "Paused": paused}]
    return [{"Action": "QueuePause", **member, "Paused": paused}] if now != want else []


async def set_agent(request: web.Request) -> web.Response:
    """Logs the agent in (1), out (0) or pauses it (2); 200 with `[QueueAgent]`."""
    svc = services(request)
    queue, name = _queue(request)
    agent = _agent(svc, queue, request.match_info["identifier"])
    body = await read_json(request)
    raw = body.get("status") if isinstance(body, dict) else None
    want = one_of(raw, STATUSES, "status_invalid", "status")
    node = svc.nodes.live_for([queue])[0]
    agents = node.queue_agents
    for action in _actions(name, agent, agents.status(name, agent.channel), want):
        await node.pbx.send(action)
    deadline = time.monotonic() + SETTLE
    # polled every 20 ms until the QueueMember* event changed the state (call control waits on
    # the feed instead: calls/watch.py)
    while agents.status(name, agent.channel) != want and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.02)
    return json_ok([_item(svc, queue, agent.channel, agents.status(name, agent.channel))])


def add_routes(app: web.Application, prefix: str) -> None:
    base = f"{prefix}/extensions/{{userId}}/{{extension}}/queue/agents"
    app.router.add_get(base, list_agents)
    app.router.add_get(f"{base}/{{identifier}}", list_agents)
    app.router.add_put(f"{base}/{{identifier}}", set_agent)
