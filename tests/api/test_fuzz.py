"""Bounded fuzzing of every route (issue 9): thousands of generated requests against the real
aiohttp app, whose AMI port is the real client logged in to a fake AMI server.

Asserted for every answer: never a 5xx (the documented 501 aside); every 4xx is the JSON
error envelope (or the OAuth shape on /oauth/token.php); and nothing the client sent with CR,
LF or NUL reached the AMI server (values carry an `Action: Injected` line: a leak would show up
there as an action or header the bridge never writes).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import quote

from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge import config as config_mod
from bridge.ami.client import AmiClient
from bridge.ami.events import TRACKED_EVENTS
from bridge.api.server import build_app
from bridge.app import build_services
from bridge.auth import TokenStore
from bridge.directory import Directory
from bridge.store.db import Database
from bridge.store.sqlite import SqliteDatabase
from tests.ami.conftest import ami_config
from tests.ami.fake_ami import FakeAmi, frame
from tests.api.test_calllist import live
from tests.conftest import ADMIN, CRM, HELPDESK, Api, BridgeServer, Clock

EXAMPLES = 3000
INJECTED = "x\r\nAction: Injected\r\nX: \x00"
JUNK = [
    "",
    " ",
    "0",
    "-1",
    "\u00b2",
    "\u0663",
    "\uff11",
    "9" * 5000,
    "1e9",
    "true",
    "null",
    "@self",
    "@me",
    "%",
    "a" * 300,
    INJECTED,
    "\r\n",
    "\x00",
    "\u202e",
    "\ud7ff",
    "0004*300",
    "0003*210",
    "210",
    "+15551234",
    "John <210>",
]
SENT_KEYS = {  # every header name the bridge writes in any action
    "Action",
    "ActionID",
    "Username",
    "Secret",
    "Events",
    "Operation",
    "Filter",
    "Channel",
    "Context",
    "Exten",
    "Priority",
    "Async",
    "ChannelId",
    "OtherChannelId",
    "Variable",
    "CallerID",
    "Timeout",
    "Application",
    "Data",
    "TimeoutChannel",
    "Parkinglot",
    "ExtraChannel",
    "ExtraContext",
    "ExtraExten",
    "ExtraPriority",
    "Channel1",
    "Channel2",
    "Value",
    "File",
    "Options",
    "Cause",
    "Codecs",
    "Account",
    "Direction",
    "Id",
    "",
}


class PermissiveAmi(FakeAmi):
    """Answers every action Asterisk would accept with Success (502s would hide bugs)."""

    def _simple(self, name: str, aid: str) -> bytes:
        return frame(("Response", "Success"), ("ActionID", aid), ("Message", f"{name} ok"))


def _text() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(JUNK), st.text(max_size=40))


def _json(keys: list[str]) -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.integers(-(10**30), 10**30),
        st.floats(allow_nan=False),
        _text(),
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(keys), inner, max_size=6)
        ),
        max_leaves=12,
    )


BODY_KEYS = [
    "action",
    "phoneCallViewId",
    "sendCallTo",
    "callerId",
    "maxInParking",
    "waitForPickup",
    "format",
    "private",
    "transferNumber",
    "transferFromNumber",
    "extension",
    "phoneCallView",
    "source",
    "destination",
    "callerIdDestination",
    "callerDestination",
    "nonce",
    "type",
    "method",
    "url",
    "note",
    "status",
]
QUERY_KEYS = [
    "count",
    "startIndex",
    "filterBy",
    "filterOp",
    "filterValue",
    "sortOrder",
    "fields",
    "waitForPickup",
    "callDuration",
    "allowPublicTransfer",
    "video",
    "phoneNumber",
]
ACTIONS = [
    "Park",
    "UnPark",
    "Transfer",
    "TransferToVoicemail",
    "OnHold",
    "OffHold",
    "StartRecording",
    "StopRecording",
    "PickUp",
    "BargeIn",
    "Whisper",
    "Monitor",
]


def _body() -> st.SearchStrategy[Any]:
    """Mostly plausible PhoneCall / PhoneCallAction / PhoneCallEvent bodies with bad values."""
    number = st.one_of(st.sampled_from(["210", "024", "0003*026", "5551234"]), _text())
    view = st.fixed_dictionaries(
        {
            "source": st.lists(number, max_size=3),
            "destination": st.one_of(number, st.lists(number, max_size=3)),
        },
        optional={"callerId": _text(), "callerIdDestination": _text()},
    )
    plausible = st.fixed_dictionaries(
        {"phoneCallViewId": st.sampled_from(["00", "01", 1, "02"])},
        optional={
            "action": st.sampled_from(ACTIONS),
            "sendCallTo": number,
            "callerId": _text(),
            "maxInParking": _json(BODY_KEYS),
            "waitForPickup": _json(BODY_KEYS),
            "transferNumber": number,
            "transferFromNumber": number,
            "private": _json(BODY_KEYS),
            "format": _text(),
            "phoneCallView": st.lists(view, max_size=2),
            "extension": number,
            "nonce": _text(),
            "type": _json(BODY_KEYS),
            "method": _json(BODY_KEYS),
            "url": _text(),
            "note": _json(BODY_KEYS),
            "status": _json(BODY_KEYS),
        },
    )
    return st.one_of(_mutated(), plausible, _json(BODY_KEYS))


CALL = "/uapi/phoneCalls/{userId}/{extension}/{phoneCallId}"
# Requests that pass every check, to be mutated in one body field.
VALID: list[tuple[str, str, dict[str, Any]]] = [
    (
        "POST",
        "/uapi/phoneCalls/{userId}/simple",
        {
            "extension": "210",
            "phoneCallView": [
                {"source": ["210"], "destination": ["5551234"], "callerId": "Big Corp <5551234>"}
            ],
        },
    ),
    ("PUT", CALL, {"action": "Transfer", "phoneCallViewId": "00", "sendCallTo": "024"}),
    ("PUT", CALL, {"action": "Transfer", "sendCallTo": "024", "transferFromNumber": "210"}),
    (
        "PUT",
        CALL,
        {"action": "BargeIn", "phoneCallViewId": "00", "sendCallTo": "024", "callerId": "A <1>"},
    ),
    ("PUT", CALL, {"action": "Park", "phoneCallViewId": "00", "maxInParking": "60"}),
    ("PUT", CALL, {"action": "StartRecording", "phoneCallViewId": "00", "format": "wav49"}),
    (
        "POST",
        "/uapi/extensions/{userId}/{extension}/phoneCallEvents",
        {"type": "0", "method": "1", "url": "https://hooks.example.com/x", "status": "0"},
    ),
]


@st.composite
def _mutated(draw: st.DrawFn) -> Any:
    """A valid body with at most one top-level field replaced by a generated value."""
    body = dict(draw(st.sampled_from(VALID))[2])
    if draw(st.booleans()):
        body[draw(st.sampled_from(sorted(body)))] = draw(_json(BODY_KEYS))
    return body


@st.composite
def _valid_request(draw: st.DrawFn, call_id: str) -> dict[str, Any]:
    """One of VALID as the CRM app sends it, its body mutated in one field half the time."""
    method, path, body = draw(st.sampled_from(VALID))
    body = dict(body)
    if draw(st.booleans()):
        body[draw(st.sampled_from(sorted(body)))] = draw(_json(BODY_KEYS))
    return {
        "route": (method, path),
        "body": body,
        "query": {},
        "raw": None,
        "token": CRM,
        "path": {"userId": "@me", "extension": "210", "phoneCallId": call_id},
    }


class Env:
    """The app with a real AMI client on the fake server, and one live call in the tracker."""

    def __init__(
        self,
        client: TestClient[Any, Any],
        ami: AmiClient,
        fake: FakeAmi,
        db: Database,
        call_id: str,
    ) -> None:
        self.client, self.ami, self.fake, self.db, self.call_id = client, ami, fake, db, call_id

    @classmethod
    async def start(cls, cfg: config_mod.Config) -> Env:
        fake = PermissiveAmi(secret="s3cret")
        await fake.start()
        ami = AmiClient(ami_config(fake.port), events=TRACKED_EVENTS, name="fuzz")
        await ami.start()
        assert await ami.wait_connected(3)
        db = SqliteDatabase(cfg.storage.path)
        await db.open()
        directory = Directory(cfg)
        tokens = TokenStore(directory, db, cfg.auth.token_ttl, clock=Clock())
        # settle=0: the fake sends no events, so nothing an action waits for ever comes
        svc = build_services(cfg, db, {n.name: ami for n in cfg.nodes}, tokens=tokens, settle=0)
        await svc.registrations.load()
        client: TestClient[Any, Any] = TestClient(BridgeServer(build_app(svc)))
        await client.start_server()
        call_id = live(Api(client, svc, Clock(), ami.stats))
        return cls(client, ami, fake, db, call_id)

    async def close(self) -> None:
        await self.client.close()
        await self.ami.close()
        await self.fake.close()
        await self.db.close()

    def routes(self) -> list[tuple[str, str]]:
        app = self.client.app
        assert app is not None
        found = set()
        for route in app.router.routes():
            info = route.resource.get_info() if route.resource else {}
            path = info.get("formatter") or info.get("path")
            if path and route.method not in ("HEAD", "*"):
                found.add((route.method, path))
        return sorted(found)


def _fill(path: str, values: dict[str, str]) -> str:
    out = path
    for name, value in values.items():
        out = out.replace("{" + name + "}", quote(value, safe="@*") or "x")
    return out


def test_no_route_answers_5xx_or_leaks_into_ami(raw_config: dict[str, Any]) -> None:
    """Generated requests over every route: no 5xx, 4xx always the envelope, no AMI leak."""
    loop = asyncio.new_event_loop()
    env = loop.run_until_complete(Env.start(config_mod.parse(raw_config, env={})))
    routes = env.routes()
    assert len(routes) >= 15
    path_values = {
        "userId": st.one_of(
            st.sampled_from(["@me", "@owner", "@viewer", "12", "13", "30", "999"]), _text()
        ),
        "extension": st.one_of(
            st.sampled_from(
                ["210", "0003*210", "@self", "024", "0004*300", "\u0660\u0660\u0660\u0663*210"]
            ),
            _text(),
        ),
        "phoneCallId": st.one_of(st.just(env.call_id), st.just("0" * 20), _text()),
        "eventType": st.one_of(st.sampled_from(["0", "2", "4", "\u00b2", "9" * 50]), _text()),
        "eventId": st.one_of(st.just("a" * 30), _text()),
    }
    request = st.one_of(
        _valid_request(env.call_id),
        st.fixed_dictionaries(
            {
                "route": st.sampled_from(routes),
                "path": st.one_of(
                    st.just(
                        {
                            "userId": "@me",
                            "extension": "210",
                            "phoneCallId": env.call_id,
                            "eventType": "0",
                            "eventId": "a" * 30,
                        }
                    ),
                    st.fixed_dictionaries(path_values),
                ),
                "query": st.dictionaries(st.sampled_from(QUERY_KEYS), _text(), max_size=4),
                "body": _body(),
                "raw": st.one_of(st.none(), st.binary(max_size=64)),
                "token": st.one_of(
                    st.just(CRM), st.sampled_from([HELPDESK, ADMIN, "", "Bearer " + CRM, INJECTED])
                ),
            }
        ),
    )
    seen: dict[int, int] = {}

    async def send(req: dict[str, Any]) -> tuple[int, str, bytes]:
        method, path = req["route"]
        headers = {"Authorization": f"Bearer {req['token']}"} if req["token"] else {}
        headers = {
            k: v.replace("\r", "").replace("\n", "").replace("\x00", "") for k, v in headers.items()
        }
        if req["raw"] is not None:
            data = req["raw"]
        elif path == "/oauth/token.php":
            data = "&".join(f"{quote(k)}={quote(str(v))}" for k, v in req["query"].items())
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        else:
            data = json.dumps(req["body"]).encode()
            headers["Content-Type"] = "application/json"
        resp = await env.client.request(
            method,
            _fill(path, req["path"]),
            params=req["query"],
            data=data if method in ("POST", "PUT") else None,
            headers=headers,
        )
        if resp.content_type == "text/event-stream":  # the live stream never ends by itself
            resp.close()
            return resp.status, resp.content_type, b""
        return resp.status, resp.content_type, await resp.read()

    @settings(
        max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(req=request)
    def one(req: dict[str, Any]) -> None:
        status, ctype, body = loop.run_until_complete(send(req))
        seen[status] = seen.get(status, 0) + 1
        # 501 request_not_implemented is documented: a path that names no operation (an
        # unmatched segment such as "{" or an empty one).
        assert status < 500 or (status == 501 and b"request_not_implemented" in body), (
            req,
            status,
            body[:300],
        )
        if status >= 400 and req["route"][1] != "/oauth/token.php":
            assert ctype == "application/json", (req, status, body[:300])
            error = json.loads(body)["error"]
            assert isinstance(error["code"], str)
            assert isinstance(error["message"], str)

    try:
        one()
        received = env.fake.received
        names = {str(a.get("Action", "")) for a in received}
        assert "Injected" not in names
        assert all(k in SENT_KEYS for a in received for k in a), [
            k for a in received for k in a if k not in SENT_KEYS
        ]
        assert not any("\x00" in str(v) for a in received for v in a.values())
        assert {"Originate", "Redirect", "Park"} <= names  # it reached Asterisk, cleanly
        assert seen.get(200, 0) + seen.get(202, 0) + seen.get(204, 0) > 50, seen
    finally:
        loop.run_until_complete(env.close())
        loop.close()
