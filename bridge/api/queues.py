"""`GET|PUT /uapi/extensions/{userId}/{queue}/queue/agents[/{identifier}]`: log agents of a
Queue extension in, out, or pause them (app_queue), and list them. uapi.md Part 3 §15.

PUT parses the status and runs bridge.calls.queues (whose tenant rules GET shares); agents'
states come from what bridge.feeds.queues keeps of the QueueMember* events.
"""

from __future__ import annotations

from aiohttp import web

from bridge.api.common import collection_response, json_ok, read_json
from bridge.api.context import Services, base_url, current_app, services
from bridge.api.fields import one_of
from bridge.api.listing import parse_list_query
from bridge.calls.queues import SetAgent
from bridge.directory import SELF
from bridge.domain.queues import LOGGED_OUT, STATUSES
from bridge.errors import invalid
from bridge.tenants import Extension

FIELDS = ("agentNumber", "status", "queue", "type", "identifier")
_ORDERS = {"asc": "ascending", "desc": "descending"}


def _queue(request: web.Request) -> tuple[Extension, str]:
    number = _queue_number(request)
    svc, app = services(request), current_app(request)
    user = svc.directory.resolve_user(app, request.match_info["userId"], "extension_invalid")
    return svc.queues.queue(app, user, number)


def _queue_number(request: web.Request) -> str:
    number = request.match_info["extension"]
    if number == SELF:
        raise invalid("extension_invalid", "Name one queue extension; @self is not allowed.")
    return number


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
        ext = svc.queues.agent(current_app(request), queue, wanted)
        agents = {ext.channel: agents.get(ext.channel, LOGGED_OUT)}
    items = [_item(svc, queue, i, s) for i, s in agents.items()]
    self_url = f"{base_url(request)}{request.path}"
    return collection_response(request, items, q, self_url=self_url, sort_key="status")


async def set_agent(request: web.Request) -> web.Response:
    """Logs the agent in (1), out (0) or pauses it (2); 200 with `[QueueAgent]`."""
    svc = services(request)
    queue, name = _queue(request)
    body = await read_json(request)
    raw = body.get("status") if isinstance(body, dict) else None
    want = one_of(raw, STATUSES, "status_invalid", "status")
    identifier = request.match_info["identifier"]
    state = await svc.queues.run(SetAgent(current_app(request), queue, name, identifier, want))
    return json_ok([_item(svc, state.queue, state.interface, state.status)])


def add_routes(app: web.Application, prefix: str) -> None:
    base = f"{prefix}/extensions/{{userId}}/{{extension}}/queue/agents"
    app.router.add_get(base, list_agents)
    app.router.add_get(f"{base}/{{identifier}}", list_agents)
    app.router.add_put(f"{base}/{{identifier}}", set_agent)
