"""PhoneCallEvents against the real sandbox: a real aiohttp receiver gets the webhooks of
real calls, once, even when it is down for a while or the bridge is killed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from aiohttp import web
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from bridge.ami.client import AmiClient
from tests.conftest import ADMIN, CRM, HELPDESK
from tests.contract.openapi_check import webhook_problem
from tests.polling import wait_for
from tests.system.daemon import RunningBridge, free_port
from tests.system.test_list_calls import poll_views
from tests.system.test_make_call import delete, hang_up, make_call, view

pytestmark = pytest.mark.system
SECRETS: dict[str, str] = {}  # registration URL -> the `secret` its 201 answered
TYPES = {"DialIn": 0, "DialOut": 1, "Hangup": 2, "AnswerIn": 3, "AnswerOut": 4}


class Receiver:
    """An aiohttp app on loopback that keeps every webhook it gets, by path."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.got: list[dict[str, Any]] = []
        self.invalid: list[str] = []  # deliveries not as the document says
        self.runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.text()
        payload = body if request.method == "POST" else request.rel_url.raw_query_string
        self.got.append(
            {
                "path": request.path,
                "method": request.method,
                "payload": payload,
                "params": dict(parse_qsl(payload)),
                "headers": dict(request.headers),
            }
        )
        problem = webhook_problem(
            request.method, request.rel_url.raw_query_string, request.headers, body
        )  # openapi.yaml's webhooks: section
        if problem:
            self.invalid.append(problem)
        return web.Response(status=200)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    def at(self, path: str) -> list[dict[str, Any]]:
        return [g for g in self.got if g["path"] == path]


@pytest.fixture
def hooked(tmp_path: Path, sandbox: Any) -> Iterator[RunningBridge]:
    """The bridge with loopback allow-listed for webhooks and quick retries."""
    running = RunningBridge(
        tmp_path,
        sandbox,
        {"webhooks": {"allow_networks": ["127.0.0.0/8"], "backoff_min": 1, "backoff_max": 4}},
    )
    try:
        wait_for(lambda: running.health()[0] == 200, 20)
        yield running
    finally:
        running.stop()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver(free_port())
    yield rec
    await rec.stop()
    assert not rec.invalid, rec.invalid


async def register(
    bridge: RunningBridge,
    path: str,
    kind: str,
    url: str,
    method: int = 1,
    token: str = CRM,
    status: int = 0,
) -> str:
    code, body = await asyncio.to_thread(
        bridge.request,
        "POST",
        f"/uapi/extensions/{path}/phoneCallEvents",
        {"type": TYPES[kind], "method": method, "url": url, "status": status},
        token,
    )
    assert code == 201, body
    SECRETS[url] = body["secret"]
    return str(body["id"])


def signed(hook: dict[str, Any], port: int) -> bool:
    """Whether the reference Standard Webhooks library verifies the delivery with the
    secret of the registration it was sent for."""
    secret = SECRETS[f"http://127.0.0.1:{port}{hook['path']}"]
    try:
        Webhook(secret).verify(hook["payload"], hook["headers"], json_parse=False)
    except WebhookVerificationError:
        return False
    return True


async def soon(check: Any, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "condition not met"
        await asyncio.sleep(0.1)


async def test_a_call_fires_dial_answer_and_hangup_for_both_extensions(
    hooked: RunningBridge,
    receiver: Receiver,
    ami: AmiClient,
) -> None:
    """210 calls 024 through the API: DialOut/AnswerOut for 210, DialIn/AnswerIn for 024,
    Hangup ANSWER for both after DELETE; GET hooks get a query string, POST ones a form body;
    every delivery verifies with `standardwebhooks` and its registration's secret (the app's
    webhook_secret for the CRM and helpdesk, a secret of its own for the admin app's); the
    disabled registration gets nothing."""
    await receiver.start()
    base = f"http://127.0.0.1:{receiver.port}"
    await register(hooked, "@me/210", "DialOut", f"{base}/210/dialout", method=0)
    await register(hooked, "@me/210", "AnswerOut", f"{base}/210/answerout")
    await register(hooked, "@me/210", "Hangup", f"{base}/210/hangup")
    await register(hooked, "@me/210", "DialOut", f"{base}/210/disabled", status=1)
    admin_id = await register(hooked, "12/210", "AnswerOut", f"{base}/210/admin", token=ADMIN)
    for kind in ("DialIn", "AnswerIn", "Hangup"):
        await register(hooked, "13/024", kind, f"{base}/024/{kind.lower()}", token=HELPDESK)
    _, body = await asyncio.to_thread(make_call, hooked, view(["210"], "024"))
    call_id = body[0]["id"]
    try:
        await poll_views(hooked, f"@me/210/{call_id}", {"0003*210": "5", "0003*024": "5"})
        await soon(lambda: len(receiver.got) >= 5)
        status, _ = await asyncio.to_thread(delete, hooked, f"210/{call_id}")
        assert status == 200
        await soon(lambda: len(receiver.got) >= 7)
        await asyncio.sleep(1)
    finally:
        await hang_up(ami, call_id)
    paths = sorted(g["path"] for g in receiver.got)
    assert paths == [
        "/024/answerin",
        "/024/dialin",
        "/024/hangup",
        "/210/admin",
        "/210/answerout",
        "/210/dialout",
        "/210/hangup",
    ]
    [dial_out] = receiver.at("/210/dialout")
    assert dial_out["method"] == "GET"
    assert (dial_out["params"]["CallFlow"], dial_out["params"]["CallStatus"]) == ("OUT", "CALLING")
    assert dial_out["params"]["CallAPIID"] == call_id
    [dial_in] = receiver.at("/024/dialin")
    assert dial_in["method"] == "POST"
    assert (dial_in["params"]["CallFlow"], dial_in["params"]["CalledExtension"]) == (
        "IN",
        "0003*024",
    )
    for path in ("/210/hangup", "/024/hangup"):
        assert receiver.at(path)[0]["params"]["CallStatus"] == "ANSWER"
        assert receiver.at(path)[0]["params"]["Duration"].isdigit()  # seconds talking
    for hook in receiver.got:
        assert signed(hook, receiver.port), hook["path"]
    admin_secret = SECRETS[f"{base}/210/admin"]
    assert admin_secret not in (SECRETS[f"{base}/210/hangup"], SECRETS[f"{base}/024/hangup"])
    code, body = await asyncio.to_thread(
        hooked.request,
        "GET",
        f"/uapi/extensions/12/210/phoneCallEvents/4/{admin_id}/secret",
        None,
        ADMIN,
    )
    assert (code, body) == (200, {"secret": admin_secret})


async def hangup_while_nobody_listens(
    bridge: RunningBridge, receiver: Receiver, ami: AmiClient, path: str
) -> str:
    """Registers a Hangup hook for 210 at the (not yet started) receiver, then makes a call
    210 -> 024 and ends it. Returns the registration id."""
    hook_id = await register(bridge, "@me/210", "Hangup", f"http://127.0.0.1:{receiver.port}{path}")
    _, body = await asyncio.to_thread(make_call, bridge, view(["210"], "024"))
    call_id = body[0]["id"]
    try:
        await poll_views(bridge, f"@me/210/{call_id}", {"0003*210": "5"})
    finally:
        await hang_up(ami, call_id)
    return hook_id


async def test_receiver_down_for_10_s_gets_the_delivery_once(
    hooked: RunningBridge,
    receiver: Receiver,
    ami: AmiClient,
) -> None:
    """The Hangup fires while nothing listens; the receiver comes up 10 s later: it arrives,
    once, and the deliveries log shows the failed attempts before it."""
    hook_id = await hangup_while_nobody_listens(hooked, receiver, ami, "/late")
    await asyncio.sleep(10)
    await receiver.start()
    await soon(lambda: len(receiver.got) == 1, within=15)
    await asyncio.sleep(3)
    assert len(receiver.got) == 1
    code, log = await asyncio.to_thread(
        hooked.request, "GET", f"/uapi/extensions/@me/210/phoneCallEvents/2/{hook_id}/deliveries"
    )
    assert code == 200
    outcomes = [a["outcome"] for a in log["entry"]]
    assert outcomes[0] == "delivered"
    assert "retry" in outcomes[1:]


async def test_killed_bridge_delivers_after_restart(
    hooked: RunningBridge,
    receiver: Receiver,
    ami: AmiClient,
) -> None:
    """SIGKILL while the Hangup waits to be retried; after a restart it arrives."""
    hook_id = await hangup_while_nobody_listens(hooked, receiver, ami, "/after-kill")

    def attempted() -> bool:
        code, _ = hooked.request(
            "GET", f"/uapi/extensions/@me/210/phoneCallEvents/2/{hook_id}/deliveries"
        )
        return code == 200

    await asyncio.to_thread(wait_for, attempted, 10)
    hooked.proc.kill()
    hooked.proc.wait(5)
    await receiver.start()
    hooked.start()
    await soon(lambda: len(receiver.got) == 1, within=20)
    assert receiver.got[0]["params"]["CallStatus"] == "ANSWER"


@pytest.fixture
def strict(tmp_path: Path, sandbox: Any) -> Iterator[RunningBridge]:
    """The bridge with the default guard (no network allow-listed)."""
    (tmp_path / "strict").mkdir()
    running = RunningBridge(tmp_path / "strict", sandbox, {"webhooks": {"allow_networks": []}})
    try:
        wait_for(lambda: running.health()[0] == 200, 20)
        yield running
    finally:
        running.stop()


async def test_loopback_is_refused_unless_allow_listed(
    hooked: RunningBridge, strict: RunningBridge
) -> None:
    """With 127.0.0.0/8 allow-listed a loopback URL is accepted; by default it is refused,
    and so is a private address that is not in the list."""
    code, body = await asyncio.to_thread(
        strict.request,
        "POST",
        "/uapi/extensions/@me/210/phoneCallEvents",
        {"type": 2, "url": "http://127.0.0.1:9999/x"},
    )
    assert (code, body["error"]["code"]) == (400, "pce_url_invalid")
    code, _ = await asyncio.to_thread(
        hooked.request,
        "POST",
        "/uapi/extensions/@me/210/phoneCallEvents",
        {"type": 2, "url": "http://127.0.0.1:9999/x"},
    )
    assert code == 201
    code, body = await asyncio.to_thread(
        hooked.request,
        "POST",
        "/uapi/extensions/@me/210/phoneCallEvents",
        {"type": 2, "url": "http://10.1.2.3/x"},
    )
    assert (code, body["error"]["code"]) == (400, "pce_url_invalid")
