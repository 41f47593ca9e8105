"""Fair share over the API (#21): 429 rate_limited per app for requests and calls, 409
pc_limit_exceeded at max_calls, 503 pbx_busy from a full Originate queue; the headers, the
metrics and the log line; a refused request never reaches Asterisk and uses up no allowance."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
import structlog

from bridge import config as config_mod
from bridge.ami.message import AmiMessage
from bridge.ami.pacing import Pacer
from tests.api.conftest import FakePbx
from tests.api.test_calllist import live
from tests.conftest import ADMIN, HELPDESK, Api
from tests.domain.replay import load, replay

SIMPLE = "/uapi/phoneCalls/@me/simple"
LIST = "/uapi/phoneCalls/@me/210"
SLOW = 0.001  # tokens a second: none come back during a test


def call(destination: str = "5551234") -> dict[str, Any]:
    return {"phoneCallView": [{"source": ["210"], "destination": [destination]}]}


Make = Callable[..., Any]


@pytest.fixture
def make(make_api: Callable[..., Any], raw_config: dict[str, Any]) -> Make:
    """Builds the API over the demo config with `limits`, app overrides and max_calls."""

    async def build(
        limits: dict[str, Any] | None = None, pbx: FakePbx | None = None, **changes: Any
    ) -> tuple[Api, FakePbx]:
        raw_config["limits"] = limits or {}
        for app in raw_config["apps"]:
            if app["name"] in changes:
                app["limits"] = changes[app["name"]]
        if "org_max" in changes:
            raw_config["organizations"][0]["max_calls"] = changes["org_max"]
        if "user_max" in changes:
            raw_config["users"][0]["max_calls"] = changes["user_max"]
        raw_config["extensions"].append({"number": "0003*261", "user": "13", "type": "conference"})
        api: Api = await make_api(config_mod.parse(raw_config, env={}))
        fake = pbx or FakePbx()
        api.plug(fake)
        return api, fake

    return build


async def status_of(
    api: Api, method: str, url: str, token: str | None = None, body: Any = None
) -> tuple[int, Any, Any]:
    resp = await api.client.request(
        method, url, json=body, headers=api.auth(token) if token else api.auth()
    )
    raw = await resp.read()
    return resp.status, resp.headers, (await resp.json()) if raw else None


def originates(pbx: FakePbx) -> int:
    return sum(1 for a in pbx.sent if a["Action"] == "Originate")


async def test_over_the_requests_limit_is_429_with_headers(make: Make) -> None:
    """burst 3: three answers with RateLimit headers, then 429 rate_limited with Retry-After,
    counted and logged once; another app of the same organization is not touched."""
    api, _ = await make({"requests": {"rate": SLOW, "burst": 3}})
    for left in (2, 1, 0):
        status, headers, _ = await status_of(api, "GET", LIST)
        assert status == 204
        assert headers["RateLimit-Policy"] == '"requests";q=3;w=3000, "calls";q=20;w=4'
        assert headers["RateLimit"].startswith(f'"requests";r={left};')
    with structlog.testing.capture_logs() as logs:
        status, headers, body = await status_of(api, "GET", LIST)
    assert (status, body["error"]["code"]) == (429, "rate_limited")
    assert int(headers["Retry-After"]) >= 1
    assert headers["RateLimit"].startswith('"requests";r=0;')
    refusals = [e for e in logs if e["event"] == "limit.refused"]
    assert [(e["app"], e["limit"]) for e in refusals] == [("crm", "requests")]
    assert (await status_of(api, "GET", "/uapi/phoneCalls/@owner/210", HELPDESK))[0] != 429
    metrics = await (await api.client.get("/metrics")).text()
    assert 'uapi_limited_total{app="crm",limit="requests"} 1.0' in metrics


async def test_a_make_call_over_the_requests_limit_sends_nothing(make: Make) -> None:
    """Refused at the door (requests): no Originate, no calls token taken."""
    api, pbx = await make(
        {"requests": {"rate": SLOW, "burst": 1}, "calls": {"rate": SLOW, "burst": 1}}
    )
    assert (await status_of(api, "GET", LIST))[0] == 204
    status, headers, body = await status_of(api, "POST", SIMPLE, body=call())
    assert (status, body["error"]["code"]) == (429, "rate_limited")
    assert '"calls";r=1;' in headers["RateLimit"]
    assert originates(pbx) == 0


async def test_no_app_no_headers(make: Make) -> None:
    """A request without a valid token belongs to no app: 401 without RateLimit headers."""
    api, _ = await make()
    resp = await api.client.get(LIST, headers={"Authorization": "Bearer nope-nope-nope-nope"})
    assert resp.status == 401
    assert "RateLimit" not in resp.headers


async def test_over_the_calls_limit_never_reaches_asterisk(make: Make) -> None:
    """calls burst 2: two make-calls Originate, the next three are 429 with nothing sent, and
    those refusals used up none of the app's requests allowance."""
    api, pbx = await make(
        {"calls": {"rate": SLOW, "burst": 2}, "requests": {"rate": SLOW, "burst": 7}}
    )
    for _ in range(2):
        assert (await status_of(api, "POST", SIMPLE, body=call()))[0] == 202
    for _ in range(3):
        status, headers, body = await status_of(api, "POST", SIMPLE, body=call())
        assert (status, body["error"]["code"]) == (429, "rate_limited")
        assert "calls limit" in body["error"]["message"]
        assert int(headers["Retry-After"]) >= 1
    assert originates(pbx) == 2
    for _ in range(5):  # 7 - the 2 placed: the 3 refused took nothing
        assert (await status_of(api, "GET", LIST))[0] == 200
    assert (await status_of(api, "GET", LIST))[0] == 429


async def test_a_bad_request_takes_no_calls_token(make: Make) -> None:
    """A 400 (nothing placed) leaves the calls allowance as it was."""
    api, pbx = await make({"calls": {"rate": SLOW, "burst": 1}})
    for _ in range(3):
        assert (await status_of(api, "POST", SIMPLE, body=call("nope!")))[0] == 400
    assert (await status_of(api, "POST", SIMPLE, body=call()))[0] == 202
    assert originates(pbx) == 1


async def test_an_app_override_and_the_admin_app(make: Make) -> None:
    """crm's own calls burst; the admin app is limited like any other, by its own override."""
    api, _ = await make(
        {"calls": {"rate": SLOW, "burst": 1}},
        crm={"calls": {"burst": 3}},
        admin={"requests": {"burst": 2, "rate": SLOW}},
    )
    for _ in range(3):
        assert (await status_of(api, "POST", SIMPLE, body=call()))[0] == 202
    assert (await status_of(api, "POST", SIMPLE, body=call()))[0] == 429
    for _ in range(2):
        assert (await status_of(api, "GET", "/uapi/phoneCalls/12/210", ADMIN))[0] != 429
    status, headers, _ = await status_of(api, "GET", "/uapi/phoneCalls/12/210", ADMIN)
    assert status == 429
    assert headers["RateLimit-Policy"].startswith('"requests";q=2;')


async def test_conference_invites_take_one_token_per_destination(make: Make) -> None:
    """burst 3: two destinations pass, two more do not (only one left; nothing sent), one does."""
    api, pbx = await make({"calls": {"rate": SLOW, "burst": 3}})
    url = "/uapi/phoneCalls/@me/conferenceInvite"

    def invite(*dests: str) -> dict[str, Any]:
        return {"extension": "260", "phoneCallView": [{"destination": list(dests)}]}

    assert (await status_of(api, "POST", url, body=invite("5551111", "5552222")))[0] == 202
    status, _, body = await status_of(api, "POST", url, body=invite("5553333", "5554444"))
    assert (status, body["error"]["code"]) == (429, "rate_limited")
    assert originates(pbx) == 2
    assert (await status_of(api, "POST", url, body=invite("5555555")))[0] == 202
    assert originates(pbx) == 3


async def test_callback_takes_a_calls_token(make: Make) -> None:
    """Callback calls count against limits.calls like simple calls."""
    api, pbx = await make({"calls": {"rate": SLOW, "burst": 1}})
    url = "/uapi/phoneCalls/@me/callback"
    cb = {
        "extension": "250",
        "phoneCallView": [{"source": ["5551234"], "destination": ["5559876"]}],
    }
    assert (await status_of(api, "POST", url, body=cb))[0] == 202
    assert (await status_of(api, "POST", url, body=cb))[0] == 429
    assert originates(pbx) == 1


async def test_dialing_control_actions_take_a_calls_token(make: Make) -> None:
    """BargeIn dials (one token; a second is 429 with nothing sent); StartRecording does not."""
    api, pbx = await make({"calls": {"rate": SLOW, "burst": 1}})
    call_id = live(api)
    url = f"/uapi/phoneCalls/@me/210/{call_id}"
    barge = {"action": "BargeIn", "phoneCallViewId": "00", "sendCallTo": "024"}
    assert (await status_of(api, "PUT", url, body={**barge, "sendCallTo": "0004*300"}))[0] == 400
    assert (await status_of(api, "PUT", url, body=barge))[0] == 200
    sent = len(pbx.sent)
    status, _, body = await status_of(api, "PUT", url, body=barge)
    assert (status, body["error"]["code"]) == (429, "rate_limited")
    assert len(pbx.sent) == sent
    status, _, _ = await status_of(
        api, "PUT", url, body={"action": "StartRecording", "phoneCallViewId": "00"}
    )
    assert status != 429


async def test_an_attended_transfer_dials_so_it_takes_a_calls_token(make: Make) -> None:
    """AttendedTransfer rings sendCallTo (#26): with the one token spent, 429, nothing sent."""
    api, pbx = await make({"calls": {"rate": SLOW, "burst": 1}})
    call_id = live(api)
    url = f"/uapi/phoneCalls/@me/210/{call_id}"
    barge = {"action": "BargeIn", "phoneCallViewId": "00", "sendCallTo": "024"}
    assert (await status_of(api, "PUT", url, body=barge))[0] == 200
    sent = len(pbx.sent)
    status, _, body = await status_of(
        api,
        "PUT",
        url,
        body={"action": "AttendedTransfer", "phoneCallViewId": "00", "sendCallTo": "024"},
    )
    assert (status, body["error"]["code"]) == (429, "rate_limited")
    assert len(pbx.sent) == sent


async def test_an_organization_at_max_calls_gets_409_until_a_call_ends(make: Make) -> None:
    """Organization 3 at max_calls 2: the third is 409 pc_limit_exceeded naming it, nothing
    sent, no calls token used; once a call ends the next one is placed."""
    api, pbx = await make({"calls": {"rate": SLOW, "burst": 3}}, org_max=2)
    ids = [(await status_of(api, "POST", SIMPLE, body=call()))[2][0]["id"] for _ in range(2)]
    for _ in range(4):
        status, _, body = await status_of(api, "POST", SIMPLE, body=call())
        assert (status, body["error"]["code"]) == (409, "pc_limit_exceeded")
        assert "organization 3" in body["error"]["message"]
    assert originates(pbx) == 2
    api.services.nodes.first.tracker.forget(ids[0])  # the call ended
    assert (await status_of(api, "POST", SIMPLE, body=call()))[0] == 202
    metrics = await (await api.client.get("/metrics")).text()
    assert 'uapi_limited_total{app="crm",limit="max_calls"} 4.0' in metrics


async def test_calls_not_placed_through_the_api_count(make: Make) -> None:
    """A call Asterisk reported (a phone dialed it) counts against the user's max_calls."""
    api, pbx = await make(user_max=1)
    script = load("two_party")
    for _ in replay(
        api.services.nodes.first.tracker, script, 1.0
    ):  # no annotate: not the API's call
        pass
    status, _, body = await status_of(api, "POST", SIMPLE, body=call())
    assert (status, body["error"]["code"]) == (409, "pc_limit_exceeded")
    assert "user 12" in body["error"]["message"]
    assert originates(pbx) == 0


class PacedPbx(FakePbx):
    """A FakePbx whose Originates queue like the AMI client's (rate 1/s, one may wait)."""

    def __init__(self) -> None:
        super().__init__()
        self.pacer = Pacer(1.0, 1)

    async def send(
        self,
        action: Any,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> AmiMessage:
        if action["Action"] == "Originate":
            async with self.pacer.turn():
                pass
        return await super().send(action, timeout)


async def test_a_full_originate_queue_is_503_pbx_busy(make: Make) -> None:
    """Three make-calls at once through a node with one turn a second and one waiting: two are
    placed (the second after its turn), one is 503 pbx_busy with Retry-After; its calls token is
    given back."""
    api, pbx = await make({"calls": {"rate": SLOW, "burst": 3}}, pbx=PacedPbx())
    answers = await asyncio.gather(*(status_of(api, "POST", SIMPLE, body=call()) for _ in range(3)))
    assert sorted(a[0] for a in answers) == [202, 202, 503]
    busy = next(a for a in answers if a[0] == 503)
    assert busy[2]["error"]["code"] == "pbx_busy"
    assert int(busy[1]["Retry-After"]) >= 1
    assert originates(pbx) == 2
    assert busy[1]["RateLimit"].startswith('"requests";')
    assert '"calls";r=1;' in busy[1]["RateLimit"]  # 3 - 2 placed: the refused one took none
    metrics = await (await api.client.get("/metrics")).text()
    assert 'uapi_limited_total{app="crm",limit="originate_queue"} 1.0' in metrics
    assert 'uapi_originate_queue{node="default"} 0.0' in metrics
