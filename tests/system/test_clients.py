"""4PSA's own clients against the demo config on the real sandbox, over HTTPS: the requests
they send (method, path with its trailing slash, query, body, headers; spec Part 3 §16 and
Part 2) and what each needs of the answers. Written from those facts, not from their code.

- mcp-voipnow (4PSA's MCP server): client-credentials token; every path ends in `/`; every 2xx
  body goes through JSON.parse (so the `mcp` app has `empty_as_200`); one nonce for every call
  of a session; Transfer and TransferToVoicemail without phoneCallViewId.
- The Python UAPI examples: the same token request; the token as `accessRequestToken=Bearer
  <token>` in the query; a public call, a call, park on `/unifiedapi/phoneCalls/@me/@self/{id}`,
  transfer and record with a phoneCallViewId; an agent logged into a queue of the app's user.
"""

from __future__ import annotations

import json
import secrets
import ssl
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.polling import wait_for
from tests.system.conftest import Sandbox
from tests.system.daemon import RunningBridge

pytestmark = pytest.mark.system
MCP = ("mcp-demo", "mcp-demo-secret-0123456789")  # the demo's app with empty_as_200
CRM = ("crm-demo", "crm-demo-secret-0123456789")


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    raw: bytes

    def json(self) -> Any:
        """The body as JSON.parse would take it: an empty or non-JSON body fails the test."""
        try:
            return json.loads(self.raw)
        except ValueError as exc:
            pytest.fail(f"{self.status} body is not JSON ({exc}): {self.raw[:200]!r}")


@dataclass
class Https:
    """A client speaking HTTPS only, trusting the demo's self-signed certificate."""

    base: str
    context: ssl.SSLContext
    token: str = ""
    in_query: bool = False  # accessRequestToken=Bearer <token> instead of the header
    parse_2xx: bool = False  # JSON.parse every 2xx body, as mcp-voipnow does
    sent: list[str] = field(default_factory=list)

    def call(
        self, method: str, path: str, body: Any = None, *, form: dict[str, str] | None = None
    ) -> Answer:
        headers = {"Accept": "application/json"}
        data = None
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.token and self.in_query:
            sep = "&" if "?" in path else "?"
            path += f"{sep}accessRequestToken=Bearer%20{self.token}"
        elif self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        self.sent.append(f"{method} {path}")
        req = urllib.request.Request(self.base + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=15, context=self.context) as resp:
                answer = Answer(resp.status, dict(resp.headers), resp.read())
        except urllib.error.HTTPError as exc:
            return Answer(exc.code, dict(exc.headers), exc.read())
        if self.parse_2xx and 200 <= answer.status < 300:
            answer.json()
        return answer

    def log_in(self, client: tuple[str, str]) -> None:
        """POST /oauth/token.php as both clients send it (4PSA's redirect_uri typo included)."""
        answer = self.call(
            "POST",
            "/oauth/token.php",
            form={
                "client_id": client[0],
                "client_secret": client[1],
                "grant_type": "client_credentials",
                "type": "unifiedapi",
                "redirect_uri": f"{self.base}/ouath/token.php",
            },
        )
        assert answer.status == 200, answer.raw
        token = answer.json()
        assert token["expires_in"] > 0
        self.token = token["access_token"]


@pytest.fixture
def https(tmp_path: Path, sandbox: Sandbox) -> Iterator[Https]:
    """The daemon on the demo config with `http.tls` and a certificate of scripts/make-cert."""
    certs = tmp_path / "tls"
    subprocess.run(
        [str(ROOT / "scripts" / "make-cert"), str(certs)], check=True, capture_output=True
    )
    tls = {"cert": str(certs / "cert.pem"), "key": str(certs / "key.pem")}
    running = RunningBridge(tmp_path, sandbox, overrides={"http": {"tls": tls}})
    client = Https(
        f"https://127.0.0.1:{running.port}", ssl.create_default_context(cafile=tls["cert"])
    )
    try:
        wait_for(lambda: _healthy(client), 20, message="the bridge over HTTPS")
        yield client
    finally:
        client.token, client.in_query = "demo-admin-token-0123456789", False
        client.parse_2xx = False
        if running.proc.poll() is None:  # whatever a failed test left ringing
            client.call("DELETE", "/uapi/phoneCalls/12/@self/")
            client.call("DELETE", "/uapi/phoneCalls/13/@self/")
        running.stop()


def _healthy(client: Https) -> bool:
    try:
        return client.call("GET", "/healthz").status == 200
    except OSError:
        return False


def views_of(client: Https, path: str) -> dict[str, dict[str, Any]]:
    """The views of the one call List shows at `path`, by extension ({} when none)."""
    answer = client.call("GET", path)
    if answer.status == 204:
        return {}
    assert answer.status == 200, answer.raw
    entry = answer.json()["entry"]
    return {v["extension"]: v for v in entry[0]["phoneCallView"]} if entry else {}


def poll(client: Https, path: str, want: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Polls List until the views have these statuses ({extension: status})."""
    latest: dict[str, dict[str, Any]] = {}

    def reached() -> bool:
        nonlocal latest
        latest = views_of(client, path)
        return {k: latest.get(k, {}).get("status") for k in want} == want

    wait_for(reached, 15, interval=0.2, message=f"{want} at {path}; last {latest}")
    return latest


def test_mcp_voipnow_session(https: Https) -> None:
    """A session of 4PSA's MCP server: trailing slashes everywhere, JSON in every 2xx, one
    nonce for two calls (two real calls), Transfer/TransferToVoicemail without a view, hang-up
    of a call that left 210 (charged to it), and PhoneCallEvents."""
    https.log_in(MCP)
    https.parse_2xx = True
    nonce = secrets.token_urlsafe(16)  # computed once per process by the server
    empty = https.call("GET", "/uapi/phoneCalls/@me/210/?count=20")
    assert empty.status == 200
    assert empty.json() == {"totalResults": 0, "startIndex": 0, "itemsPerPage": 0, "entry": []}

    first = _mcp_call(https, nonce)
    moved = https.call(
        "PUT",
        f"/uapi/phoneCalls/@me/210/{first}/",
        {"action": "Transfer", "sendCallTo": "024", "transferFromNumber": "210"},
    )
    assert moved.status == 200, moved.raw
    assert moved.json()["id"] == first
    views = poll(https, f"/uapi/phoneCalls/@me/210/{first}/", {"0003*024": "5", "5551234": "5"})
    assert views["0003*210"]["status"] == "0"  # 210 left; the call is still charged to it
    hung = https.call("DELETE", f"/uapi/phoneCalls/@me/210/{first}/")
    assert (hung.status, hung.json()) == (200, [{"id": first}])
    wait_for(lambda: not views_of(https, f"/uapi/phoneCalls/@me/210/{first}/"), 10)

    second = _mcp_call(https, nonce)  # same nonce, first call over: a new call rings
    assert second != first
    to_box = https.call(
        "PUT",
        f"/uapi/phoneCalls/@me/210/{second}/",
        {
            "action": "TransferToVoicemail",
            "sendCallTo": "024",
            "transferFromNumber": "210",
            "transferNumber": "5551234",
        },
    )
    assert to_box.status == 200, to_box.raw
    https.call("DELETE", f"/uapi/phoneCalls/@me/210/{second}/").json()
    wait_for(lambda: not views_of(https, "/uapi/phoneCalls/@me/210/"), 10)
    nothing = https.call("DELETE", "/uapi/phoneCalls/@me/210/")
    assert (nothing.status, nothing.json()) == (200, [])
    _mcp_events(https)


def _mcp_call(https: Https, nonce: str) -> str:
    """mcp-voipnow's make-call (POST .../simple/ with the session nonce); returns the id once
    both parties talk."""
    placed = https.call(
        "POST",
        "/uapi/phoneCalls/@me/simple/?waitForPickup=20",
        {
            "extension": "210",
            "nonce": nonce,
            "phoneCallView": [
                {
                    "source": ["210"],
                    "destination": ["5551234"],
                    "callerId": "John Doe <210>",
                    "callerDestination": "John Doe <210>",
                }
            ],
        },
    )
    assert placed.status == 202, placed.raw
    [call] = placed.json()
    assert call["extension"] == "0003*210"
    views = poll(
        https, f"/uapi/phoneCalls/@me/210/{call['id']}/", {"0003*210": "5", "5551234": "5"}
    )
    assert views["0003*210"]["flow"] == "4"
    listed = https.call("GET", "/uapi/phoneCalls/@me/210/?count=20").json()
    assert (listed["totalResults"], listed["itemsPerPage"]) == (1, 1)
    assert listed["entry"][0]["nonce"] == nonce
    call_id: str = call["id"]
    return call_id


def _mcp_events(https: Https) -> None:
    """PhoneCallEvents as mcp-voipnow sends them: type in the body, `sortOder` (sic)."""
    base = "/uapi/extensions/@me/210/phoneCallEvents"
    made = https.call(
        "POST",
        f"{base}/",
        {
            "type": "1",
            "method": "0",
            "status": "0",
            "url": "http://127.0.0.1:9/dialout",
            "note": "mcp",
        },
    )
    assert made.status == 201, made.raw
    event = made.json()
    listed = https.call("GET", f"{base}/?count=10&sortOder=ascending&fields=id,url").json()
    assert listed["totalResults"] == 1
    assert listed["entry"][0]["id"] == event["id"]
    changed = https.call("PUT", f"{base}/1/{event['id']}/", {"method": "1", "note": "again"})
    assert (changed.status, changed.json()["method"]) == (200, "1")
    gone = https.call("DELETE", f"{base}/1/{event['id']}/")
    assert (gone.status, gone.json()) == (200, [{"id": event["id"]}])
    none = https.call("GET", f"{base}/1/")
    assert (none.status, none.json()["totalResults"]) == (200, 0)


def test_python_examples(https: Https) -> None:
    """4PSA's Python examples: token, then `accessRequestToken=Bearer <token>` on a public
    call (hung up through the extension it is charged to), a call with recording and
    transfer, and a call parked on `/unifiedapi/phoneCalls/@me/@self/{id}`."""
    https.log_in(CRM)
    https.in_query = True
    first = len(https.sent)
    public = _example_call(
        https,
        {
            "extension": "210",
            "phoneCallView": [{"source": ["5550001"], "destination": ["5551234"]}],
        },
        {"5550001": "5", "5551234": "5"},
    )
    flows = {v["flow"] for v in views_of(https, f"/uapi/phoneCalls/@me/@self/{public}").values()}
    assert flows == {"4"}  # the PBX called both public numbers out
    hung = https.call("DELETE", f"/uapi/phoneCalls/@me/210/{public}")
    assert (hung.status, hung.json()) == (200, [{"id": public}])

    call = _example_call(
        https,
        {
            "phoneCallView": [
                {"source": ["210"], "destination": ["024"], "callerId": "Example <4242425>"}
            ]
        },
        {"0003*210": "5", "0003*024": "5"},
    )
    record = https.call(
        "PUT",
        f"/uapi/phoneCalls/@me/@self/{call}",
        {"action": "StartRecording", "phoneCallViewId": "00", "format": "wav"},
    )
    assert record.status == 200, record.raw
    assert "recording" in {v["id"]: v for v in record.json()["phoneCallView"]}["00"]
    moved = https.call(
        "PUT",
        f"/uapi/phoneCalls/@me/@self/{call}",
        {"action": "Transfer", "sendCallTo": "026", "phoneCallViewId": "00"},
    )
    assert moved.status == 200, moved.raw
    https.call("DELETE", f"/uapi/phoneCalls/@me/@self/{call}")

    parked = _example_call(
        https,
        {"phoneCallView": [{"source": ["210"], "destination": ["5551234"]}]},
        {"0003*210": "5", "5551234": "5"},
    )
    park = https.call(
        "PUT",
        f"/unifiedapi/phoneCalls/@me/@self/{parked}",
        {"action": "Park", "phoneCallViewId": "00"},
    )
    assert park.status == 200, park.raw
    [shown] = park.json()
    assert shown["id"] == parked
    trunk = {v["extension"]: v for v in shown["phoneCallView"]}["5551234"]
    assert trunk["parkedBy"] == "0003*210"
    assert trunk["parkedPos"]
    hung = https.call("DELETE", f"/unifiedapi/phoneCalls/@me/@self/{parked}")
    assert (hung.status, hung.json()) == (200, [{"id": parked}])
    assert len(https.sent) - first > 10
    assert all("accessRequestToken=Bearer%20" in line for line in https.sent[first:])


def test_python_example_logs_an_agent_into_a_queue(https: Https, sandbox: Sandbox) -> None:
    """4PSA's Python example for queue agents, as shipped, with the demo's user app (crm, user
    12): PUT `@me/{queue}/queue/agents/{agent}` logs 210 into the user's own queue (0003*212,
    app_queue queue 212) and out again; the demo's other queue (500) is user 14's."""
    https.log_in(CRM)
    https.in_query = True
    agents = "/uapi/extensions/@me/0003*212/queue/agents/"
    try:
        login = https.call("PUT", f"{agents}0003*210", {"status": "1"})
        assert login.status == 200, login.raw
        assert login.json()[0]["status"] == "1"
        assert "PJSIP/210" in sandbox.cli("queue show 212")
        listed = https.call("GET", agents)
        assert listed.status == 200, listed.raw
        assert [a["agentNumber"] for a in listed.json()["entry"]] == ["0003*210"]
        other = https.call(
            "PUT", "/uapi/extensions/@me/0003*500/queue/agents/0003*210", {"status": "1"}
        )
        assert (other.status, other.json()["error"]["code"]) == (400, "extension_invalid")
    finally:
        out = https.call("PUT", f"{agents}0003*210", {"status": "0"})
    assert out.status == 200, out.raw
    assert "PJSIP/210" not in sandbox.cli("queue show 212")


def _example_call(https: Https, body: dict[str, Any], want: dict[str, str]) -> str:
    placed = https.call("POST", "/uapi/phoneCalls/@me/simple", body)
    assert placed.status == 202, placed.raw
    call_id: str = placed.json()[0]["id"]
    poll(https, f"/uapi/phoneCalls/@me/@self/{call_id}", want)
    return call_id
