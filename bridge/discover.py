"""`uapi-bridge discover --config FILE [--node NAME]`: what each Asterisk node has that the
file does not list yet, printed as a YAML `extensions:` block to paste (nothing is written).

Each node is asked over AMI, with the file's credentials, for its PJSIP endpoints
(`PJSIPShowEndpoints`, and `PJSIPShowEndpoint` for each one's caller id), its queues
(`QueueStatus`) and its ConfBridge rooms (`ConfBridgeListRooms`: Asterisk answers an error
when there is none, which is an empty list). `survey` talks to Asterisk; `proposals` and
`render` only decide and write text.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from dataclasses import dataclass, field

from bridge import config as config_mod
from bridge.ami.client import AmiClient
from bridge.config import AmiConfig, Config
from bridge.errors import AmiActionFailed, BridgeError

FILL_ME = "FILL-ME"
_CALLERID = re.compile(r'^\s*"?([^"<>]*?)"?\s*<([0-9*+#]+)>\s*$')
_ROOM = re.compile(r"^uapi-([0-9]{4})-([0-9]{1,10})(?:-[0-9]+)?$")  # domain/conferences.room_name
_NO_MODULE = "invalid/unknown command"  # the module (app_queue, app_confbridge) is not loaded


class DiscoverError(BridgeError):
    """A node cannot be asked: unreachable, login refused, or too few rights."""


@dataclass(frozen=True)
class Endpoint:
    name: str
    callerid: str = ""  # as PJSIPShowEndpoint gives it: `"Phone 210" <210>`


@dataclass
class Survey:
    """What one node has."""

    node: str
    endpoints: list[Endpoint] = field(default_factory=list)
    queues: list[str] = field(default_factory=list)
    rooms: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Proposal:
    comment: str
    fields: dict[str, str]


# -- asking Asterisk ---------------------------------------------------------------------------


async def survey(node: AmiConfig, timeout: float) -> Survey:  # noqa: ASYNC109
    """Logs in to the node and lists what it has; DiscoverError when it cannot."""
    client = AmiClient(node, events=(), name=f"discover-{node.name}")
    await client.start()
    try:
        why = await client.wait_login(timeout)
        if why is not None:
            what = (
                "cannot be reached"
                if why.startswith("ami.connect.failed")
                else f"refused the login of {node.username!r}"
            )
            raise DiscoverError(
                f"node {node.name!r} (AMI {node.host}:{node.port}) {what}: "
                f"{why.partition(': ')[2] or why}"
            )
        return await _ask(client, node)
    finally:
        await client.close()


async def _ask(client: AmiClient, node: AmiConfig) -> Survey:
    out = Survey(node.name)
    for item in await _listing(client, node, "PJSIPShowEndpoints"):
        name = item.get("ObjectName", "")
        if name:
            detail = await _listing(client, node, "PJSIPShowEndpoint", Endpoint=name)
            callerid = next(
                (d.get("Callerid", "") for d in detail if d.get("Event") == "EndpointDetail"), ""
            )
            out.endpoints.append(Endpoint(name, callerid))
    queues = await _listing(client, node, "QueueStatus", empty_if_missing=True)
    out.queues = sorted({q["Queue"] for q in queues if q.get("Event") == "QueueParams"})
    rooms = await _listing(client, node, "ConfBridgeListRooms", empty_on_error=True)
    out.rooms = sorted({r.get("Conference", "") for r in rooms} - {""})
    return out


async def _listing(
    client: AmiClient,
    node: AmiConfig,
    action: str,
    *,
    empty_on_error: bool = False,
    empty_if_missing: bool = False,
    **fields: str,
) -> list[dict[str, str]]:
    try:
        items = await client.send_list({"Action": action, **fields})
    except AmiActionFailed as exc:
        message = exc.message.lower()
        if "permission denied" in message:
            raise DiscoverError(
                f"node {node.name!r}: the AMI user {node.username!r} may not run {action} "
                f"({exc.message}); give it read=system,call,agent,reporting in "
                "manager.conf"
            ) from None
        if empty_on_error or (empty_if_missing and _NO_MODULE in message):
            return []  # ConfBridgeListRooms: "No active conferences." is an empty list
        raise DiscoverError(f"node {node.name!r}: {action} failed: {exc.message}") from None
    return [dict(m) for m in items]


# -- deciding what to propose --------------------------------------------------------------------


def proposals(config: Config, found: list[Survey]) -> tuple[list[Proposal], list[str]]:
    """The extensions to add for what the nodes have and the file does not list; and the
    endpoints left out because the file uses them as trunks."""
    channels = {e.channel.lower() for e in config.extensions if e.channel}
    taken = {e.number for e in config.extensions}
    trunks = _trunk_endpoints(config)
    prefix = config.organizations[0].prefix if config.organizations else ""
    several = len(config.nodes) > 1
    out: list[Proposal] = []
    skipped: list[str] = []
    for node in found:
        where = f"node {node.node}" if several else "Asterisk"
        for ep in node.endpoints:
            if f"pjsip/{ep.name}".lower() in channels:
                continue
            if ep.name in trunks:
                skipped.append(f"PJSIP/{ep.name}" + (f" ({node.node})" if several else ""))
                continue
            fields = {
                "number": _number(prefix, ep.name, taken),
                "user": FILL_ME,
                "type": "phone_terminal",
                "channel": f"PJSIP/{ep.name}",
            }
            cid = _caller_id(ep.callerid)
            if cid:
                fields["caller_id"] = cid
            shown = f", callerid {ep.callerid}" if cid else ", no callerid"
            out.append(
                _proposal(
                    fields,
                    several,
                    node.node,
                    f"PJSIP endpoint {ep.name} on {where} (PJSIPShowEndpoints{shown})",
                )
            )
        for queue in node.queues:
            channel = f"Local/{queue}@uapi-queue"
            if channel.lower() in channels:
                continue
            fields = {
                "number": _number(prefix, queue, taken),
                "user": FILL_ME,
                "type": "queue",
                "channel": channel,
            }
            out.append(
                _proposal(
                    fields,
                    several,
                    node.node,
                    f"queue {queue} on {where} (QueueStatus); its channel is the "
                    "shipped uapi-queue context",
                )
            )
        out += _rooms(node, taken, prefix, several, where)
    return out, skipped


def _rooms(node: Survey, taken: set[str], prefix: str, several: bool, where: str) -> list[Proposal]:
    out = []
    for room in node.rooms:
        m = _ROOM.fullmatch(room)
        number = f"{m[1]}*{m[2]}" if m else _number(prefix, room, taken)
        if m and number in taken:
            continue  # the bridge's own room of a listed Conference extension
        taken.add(number)
        fields = {"number": number, "user": FILL_ME, "type": "conference"}
        out.append(
            _proposal(
                fields,
                several,
                node.node,
                f"ConfBridge room {room} on {where} (ConfBridgeListRooms)",
            )
        )
    return out


def _proposal(fields: dict[str, str], several: bool, node: str, comment: str) -> Proposal:
    if several:
        fields["node"] = node
    return Proposal(comment, fields)


def _number(prefix: str, name: str, taken: set[str]) -> str:
    """PREFIX*NAME when the name is digits and the number is free; else FILL-ME."""
    if prefix and name.isdigit() and len(name) <= 10:
        number = f"{prefix}*{name}"
        if number not in taken:
            taken.add(number)
            return number
    return FILL_ME


def _caller_id(raw: str) -> str:
    """`"Phone 211" <211>` -> `Phone 211 <211>` (the config's form); "" when it has none."""
    m = _CALLERID.fullmatch(raw or "")
    if not m:
        return ""
    return f"{m[1].strip()} <{m[2]}>".strip()


def _trunk_endpoints(config: Config) -> set[str]:
    """Endpoint names the file dials as trunks (dialing.public, a node's trunks)."""
    dials = [
        config.dialing.public,
        *(n.public or "" for n in config.nodes),
        *(d for n in config.nodes for _, d in n.trunks),
    ]
    return {d.rpartition("@")[2] for d in dials if d.startswith("PJSIP/") and "@" in d}


# -- writing it ----------------------------------------------------------------------------------


def render(path: str, found: list[Survey], items: list[Proposal], skipped: list[str]) -> str:
    nodes = ", ".join(s.node for s in found)
    lines = [
        f"# uapi-bridge discover: what Asterisk ({nodes}) has that {path} does not list.",
        f"# Set each user (and any {FILL_ME} number), then paste under `extensions:`.",
    ]
    if skipped:
        lines.append(f"# Left out (trunks in the file): {', '.join(skipped)}")
    lines.append("extensions:" if items else "extensions: []  # nothing new")
    for item in items:
        lines.append(f"  # {item.comment}")
        body = ", ".join(f"{k}: {_quoted(v)}" for k, v in item.fields.items())
        lines.append(f"  - {{{body}}}")
    return "\n".join(lines) + "\n"


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# -- the command ---------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="uapi-bridge discover",
        description="List what the Asterisk nodes have that the config does not (as YAML).",
    )
    p.add_argument("--config", required=True, help="the bridge's YAML file")
    p.add_argument("--node", help="ask only this node (default: every node)")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    cfg = config_mod.load_or_report(args.config)
    if cfg is None:
        return 1
    nodes = [n for n in cfg.nodes if args.node in (None, n.name)]
    if not nodes:
        names = ", ".join(n.name for n in cfg.nodes)
        print(
            f"uapi-bridge discover: no node {args.node!r} in {args.config} (nodes: {names})",
            file=sys.stderr,
        )
        return 1
    try:
        found = asyncio.run(_survey_all(nodes))
    except DiscoverError as exc:
        print(f"uapi-bridge discover: {exc}", file=sys.stderr)
        return 1
    items, skipped = proposals(cfg, found)
    sys.stdout.write(render(args.config, found, items, skipped))
    return 0


async def _survey_all(nodes: list[AmiConfig]) -> list[Survey]:
    return [await survey(n, n.action_timeout) for n in nodes]
