"""The sandbox is a real Asterisk with SIPp phones that behave as pjsip.conf describes.

The sandbox is shared: other test sessions may place calls at the same time. So these tests never
use `channel request hangup all`. Calls are placed through AMI with a ChannelId of their own; the
first leg's Uniqueid is that id and every leg it dials carries it as Linkedid, which tells this
test's channels apart from anyone else's. Only the first test uses the CLI's `channel originate`
(a call the API did not place) and picks its two legs out by their shared bridge.

The last tests run node 2 (`asterisk-sandbox up --nodes 2`): a second Asterisk with its own AMI,
SIP port and phones, joined to node 1 by a PJSIP trunk. Node 2 is used by nobody else's calls.
"""

from __future__ import annotations

import itertools
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.system.conftest import Node2, Sandbox

WaitFor = Callable[..., Any]
Message = dict[str, str]

pytestmark = pytest.mark.system

# fields of `core show channels concise`
NAME, CONTEXT, EXTEN, PRIORITY, STATE, APP, DATA = range(7)
BRIDGE_ID = 12


class Ami:
    """A minimal blocking AMI client: actions with ActionID, and the events it receives."""

    def __init__(self, sandbox: Sandbox, events: str = "off") -> None:
        self.sock = socket.create_connection((sandbox.ami_host, sandbox.ami_port), timeout=5)
        self.buffer = b""
        self.ids = itertools.count(1)
        self.events: list[Message] = []
        reply = self.action(
            "Login", Username=sandbox.ami_user, Secret=sandbox.ami_secret, Events=events
        )
        assert reply["Response"] == "Success", reply

    def send(self, action: str, **fields: str) -> str:
        """Send an action; returns its ActionID."""
        action_id = f"t{next(self.ids)}"
        lines = [f"Action: {action}", f"ActionID: {action_id}"]
        lines += [f"{key}: {value}" for key, value in fields.items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        return action_id

    def action(self, action: str, **fields: str) -> Message:
        """Send an action and return its response."""
        action_id = self.send(action, **fields)
        return self.read_until(
            lambda msg: msg.get("ActionID") == action_id and "Response" in msg, 10
        )

    def read_until(self, done: Callable[[Message], bool], timeout: float) -> Message:
        """Read messages until done(message) is true; returns that message."""
        deadline = time.monotonic() + timeout
        while True:
            while b"\r\n\r\n" in self.buffer:
                raw, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
                msg: Message = {}
                for line in raw.decode(errors="replace").split("\r\n"):
                    key, sep, value = line.partition(": ")
                    if sep:
                        msg[key] = value
                if "Event" in msg:
                    self.events.append(msg)
                if done(msg):
                    return msg
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"no matching AMI message within {timeout} s")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                continue
            assert chunk, "AMI closed the connection"
            self.buffer += chunk

    def channels(self) -> list[Message]:
        """CoreShowChannels: one dict per channel (Channel, ChannelStateDesc, Linkedid, ...)."""
        action_id = self.send("CoreShowChannels")
        found: list[Message] = []
        while True:
            msg = self.read_until(lambda m: m.get("ActionID") == action_id, 10)
            if msg.get("Event") == "CoreShowChannel":
                found.append(msg)
            elif msg.get("Event") == "CoreShowChannelsComplete" or msg.get("Response") == "Error":
                return found

    def close(self) -> None:
        """Log off and close the socket."""
        try:
            self.sock.sendall(b"Action: Logoff\r\n\r\n")
        except OSError:
            pass
        finally:
            self.sock.close()


class Calls:
    """Places calls through AMI with known ids and finds (and finally hangs up) their legs."""

    def __init__(self, sandbox: Sandbox, ami: Ami) -> None:
        self.sandbox = sandbox
        self.ami = ami
        self.ids: list[str] = []
        self.names: set[str] = set()

    def originate(self, channel: str, exten: str) -> tuple[str, float]:
        """Async AMI Originate of CHANNEL to EXTEN@uapi-phones; returns (call id, time sent)."""
        call_id = uuid.uuid4().hex
        self.ids.append(call_id)
        sent = time.monotonic()
        reply = self.ami.action(
            "Originate",
            Channel=channel,
            Context="uapi-phones",
            Exten=exten,
            Priority="1",
            Async="true",
            Timeout="30000",
            ChannelId=call_id,
        )
        assert reply["Response"] == "Success", reply
        return call_id, sent

    def legs(self, call_id: str, prefix: str = "") -> list[Message]:
        """The channels of one call (Uniqueid or Linkedid = call id), optionally by name prefix."""
        return [
            ch
            for ch in self.ami.channels()
            if call_id in (ch.get("Uniqueid"), ch.get("Linkedid"))
            and ch["Channel"].startswith(prefix)
        ]

    def alive(self) -> list[str]:
        """Names of this test's channels that still exist."""
        ours = set(self.ids)
        return [
            ch["Channel"]
            for ch in self.ami.channels()
            if ch["Channel"] in self.names or ours & {ch.get("Uniqueid"), ch.get("Linkedid")}
        ]

    def hangup(self, *names: str) -> None:
        """Hang up the named channels (default: every channel of this test)."""
        for name in names or self.alive():
            self.sandbox.cli(f"channel request hangup {name}")


@pytest.fixture
def ami(sandbox: Sandbox) -> Iterator[Ami]:
    """A logged-in AMI connection to the sandbox, without events."""
    client = Ami(sandbox)
    yield client
    client.close()


@pytest.fixture
def calls(sandbox: Sandbox, ami: Ami, wait_for: WaitFor) -> Iterator[Calls]:
    """Call helper that hangs up whatever the test left behind."""
    helper = Calls(sandbox, ami)
    yield helper
    helper.hangup()
    wait_for(lambda: not helper.alive(), 10, message="the test's channels to go away")


def up(legs: list[Message]) -> list[Message]:
    """The legs among these that are Up."""
    return [leg for leg in legs if leg["ChannelStateDesc"] == "Up"]


def test_status_reports_everything_running(sandbox: Sandbox) -> None:
    """`asterisk-sandbox status` exits 0 and lists Asterisk and the seven phones as running."""
    out = sandbox.status()
    assert out.startswith("asterisk  running")
    for phone in ("210", "024", "trunk", "025", "026", "027", "300"):
        assert f"phone {phone:<5} running" in out


def test_cli_phone_to_phone_call_comes_up_and_hangs_up(
    sandbox: Sandbox, calls: Calls, wait_for: WaitFor
) -> None:
    """CLI `channel originate` 210 to 024 gives two Up legs in one bridge; a hangup ends both."""
    before = sandbox.channel_names()
    sandbox.cli("channel originate PJSIP/210 extension 024@uapi-phones")

    def both_up() -> tuple[list[str], list[str]] | None:
        new = [ch for ch in sandbox.channels() if ch[NAME] not in before and ch[STATE] == "Up"]
        callers = [ch for ch in new if ch[NAME].startswith("PJSIP/210-") and ch[EXTEN] == "024"]
        callees = [ch for ch in new if ch[NAME].startswith("PJSIP/024-")]
        for caller in callers:
            for callee in callees:
                if caller[BRIDGE_ID] and caller[BRIDGE_ID] == callee[BRIDGE_ID]:
                    return caller, callee
        return None

    caller, callee = wait_for(both_up, 10, message="210 and 024 Up in one bridge")
    calls.names |= {caller[NAME], callee[NAME]}
    assert caller[CONTEXT] == "uapi-phones"
    assert caller[APP] == "Dial"
    assert caller[DATA].startswith("PJSIP/024")

    calls.hangup(caller[NAME])
    legs = {caller[NAME], callee[NAME]}
    wait_for(lambda: not legs & sandbox.channel_names(), 10, message="both legs to hang up")


def test_late_phone_answers_after_three_seconds(calls: Calls, wait_for: WaitFor) -> None:
    """025 rings first and is Up only after about 3 seconds."""
    call_id, sent = calls.originate("PJSIP/210", "025")
    ringing = wait_for(lambda: calls.legs(call_id, "PJSIP/025-"), 5, message="a 025 leg")
    assert not up(ringing)

    # still not answered one second after the call was placed
    while time.monotonic() - sent < 1.0:
        assert not up(calls.legs(call_id, "PJSIP/025-")), "025 answered within the first second"
        time.sleep(0.1)

    wait_for(lambda: up(calls.legs(call_id, "PJSIP/025-")), 8, message="025 to answer")
    assert time.monotonic() - sent >= 2.5


def test_ringing_phone_never_answers(calls: Calls, wait_for: WaitFor) -> None:
    """026 rings and stays unanswered; hanging up the caller cancels it cleanly."""
    call_id, _ = calls.originate("PJSIP/210", "026")
    wait_for(
        lambda: [
            leg for leg in calls.legs(call_id, "PJSIP/026-") if leg["ChannelStateDesc"] == "Ringing"
        ],
        5,
        message="026 ringing",
    )
    # watch it for longer than the late phone needs to answer: it must keep ringing
    watch_until = time.monotonic() + 4.0
    while time.monotonic() < watch_until:
        callee = calls.legs(call_id, "PJSIP/026-")
        assert callee, "the 026 leg went away on its own"
        assert not up(callee), "026 answered"
        time.sleep(0.2)

    calls.hangup(*[leg["Channel"] for leg in calls.legs(call_id, "PJSIP/210-")])
    wait_for(lambda: not calls.legs(call_id), 10, message="caller and 026 to hang up (CANCEL/487)")


@pytest.mark.parametrize("number", ["0049301234567", "+4930555"])
def test_public_number_goes_out_through_the_trunk(
    calls: Calls, wait_for: WaitFor, number: str
) -> None:
    """A public number is dialled as PJSIP/{number}@trunk and the trunk answers."""
    call_id, _ = calls.originate("PJSIP/210", number)
    wait_for(lambda: up(calls.legs(call_id, "PJSIP/trunk-")), 10, message="the trunk leg Up")
    caller = wait_for(lambda: up(calls.legs(call_id, "PJSIP/210-")), 5, message="210 Up")[0]
    assert caller["Application"] == "Dial"
    assert caller["ApplicationData"].startswith(f"PJSIP/{number}@trunk")


def test_busy_phone_leaves_no_channel(sandbox: Sandbox, calls: Calls, wait_for: WaitFor) -> None:
    """027 answers 486 Busy: Dial ends BUSY and neither leg stays."""
    watcher = Ami(sandbox, events="call")
    try:
        call_id, _ = calls.originate("PJSIP/210", "027")
        end = watcher.read_until(
            lambda msg: msg.get("Event") == "DialEnd" and msg.get("Uniqueid") == call_id, 10
        )
    finally:
        watcher.close()
    assert end["DestChannel"].startswith("PJSIP/027-")
    assert end["DialStatus"] == "BUSY"
    legs = {end["Channel"], end["DestChannel"]}
    wait_for(
        lambda: not legs & sandbox.channel_names(), 5, message="both legs of the busy call gone"
    )


def bridged(node: Sandbox, before: set[str], first: str, second: str) -> tuple[list[str], ...]:
    """New Up channels named FIRST-* and SECOND-* on NODE that share a bridge, else ()."""
    new = [ch for ch in node.channels() if ch[NAME] not in before and ch[STATE] == "Up"]
    for one in (ch for ch in new if ch[NAME].startswith(first)):
        for two in (ch for ch in new if ch[NAME].startswith(second)):
            if one[BRIDGE_ID] and one[BRIDGE_ID] == two[BRIDGE_ID]:
                return one, two
    return ()


def hang_up(node: Sandbox, names: set[str], wait_for: WaitFor) -> None:
    """Hang up the channels NAMES on NODE and wait until they are gone."""
    for name in names & node.channel_names():
        node.cli(f"channel request hangup {name}")
    wait_for(lambda: not names & node.channel_names(), 10, message=f"{names} to hang up")


def test_node2_runs_beside_node1(node2: Node2) -> None:
    """status lists node 1 as before, then node 2's Asterisk and five phones, all running."""
    code, out = node2.status_exit()
    assert code == 0, out
    assert out.startswith("asterisk  running")
    assert "node2 asterisk  running  pid " in out
    assert "AMI 127.0.0.1:15138  SIP 127.0.0.1:15160" in out
    for phone, port in (
        ("410", 15161),
        ("411", 15162),
        ("412", 15163),
        ("413", 15164),
        ("trunk", 15165),
    ):
        assert f"node2 phone {phone:<5} running" in out
        assert f"127.0.0.1:{port}" in out


def test_node2_ami_is_node2(sandbox: Sandbox, node2: Node2) -> None:
    """AMI on 15138 takes the sandbox login and knows node 2's phones; node 1's does not."""
    ami2, ami1 = Ami(node2), Ami(sandbox)
    try:
        assert ami2.action("PJSIPShowEndpoint", Endpoint="410")["Response"] == "Success"
        assert ami2.action("PJSIPShowEndpoint", Endpoint="node1")["Response"] == "Success"
        assert ami1.action("PJSIPShowEndpoint", Endpoint="410")["Response"] == "Error"
        assert ami1.action("PJSIPShowEndpoint", Endpoint="node2")["Response"] == "Success"
    finally:
        ami2.close()
        ami1.close()


def test_node2_call_stays_on_node2(sandbox: Sandbox, node2: Node2, wait_for: WaitFor) -> None:
    """`cli --node 2` originates 410 to 411 on node 2; node 1 sees none of its channels."""
    before, before1 = node2.channel_names(), sandbox.channel_names()
    node2.cli("channel originate PJSIP/410 extension 411@uapi-phones")
    caller, callee = wait_for(
        lambda: bridged(node2, before, "PJSIP/410-", "PJSIP/411-"),
        10,
        message="410 and 411 Up in one bridge on node 2",
    )
    names = {caller[NAME], callee[NAME]}
    try:
        assert caller[CONTEXT] == "uapi-phones"
        assert caller[DATA].startswith("PJSIP/411")
        assert not names & sandbox.channel_names()
        assert not [n for n in sandbox.channel_names() - before1 if n.startswith("PJSIP/41")]
    finally:
        hang_up(node2, names, wait_for)


def test_trunk_node1_to_node2(sandbox: Sandbox, node2: Node2, wait_for: WaitFor) -> None:
    """Node 1's PJSIP/410@node2 arrives on node 2 as PJSIP/node1-*, which rings phone 410."""
    before1, before2 = sandbox.channel_names(), node2.channel_names()
    sandbox.cli("channel originate PJSIP/410@node2 application Wait 30")
    trunk, phone = wait_for(
        lambda: bridged(node2, before2, "PJSIP/node1-", "PJSIP/410-"),
        10,
        message="node1 trunk leg and 410 Up in one bridge on node 2",
    )
    assert (trunk[CONTEXT], trunk[EXTEN], trunk[APP]) == ("uapi-phones", "410", "Dial")
    ours = [
        ch
        for ch in sandbox.channels()
        if ch[NAME] not in before1 and ch[NAME].startswith("PJSIP/node2-")
    ]
    assert [(ch[STATE], ch[APP]) for ch in ours] == [("Up", "Wait")]
    hang_up(sandbox, {ours[0][NAME]}, wait_for)
    # the BYE crosses the trunk: node 2's legs end too
    wait_for(
        lambda: not {trunk[NAME], phone[NAME]} & node2.channel_names(),
        10,
        message="node 2's legs to hang up after node 1's",
    )


def test_trunk_node2_to_node1(sandbox: Sandbox, node2: Node2, wait_for: WaitFor) -> None:
    """Node 2's phone 411 dials PJSIP/210@node1: phone 210 on node 1 answers, caller id 411."""
    before1, before2 = sandbox.channel_names(), node2.channel_names()
    node2.cli("channel originate PJSIP/411 application Dial PJSIP/210@node1")
    trunk, phone = wait_for(
        lambda: bridged(sandbox, before1, "PJSIP/node2-", "PJSIP/210-"),
        10,
        message="node2 trunk leg and 210 Up in one bridge on node 1",
    )
    assert (trunk[CONTEXT], trunk[EXTEN]) == ("uapi-phones", "210")
    assert trunk[7] == "411", "the caller id (P-Asserted-Identity) did not cross the trunk"
    caller = [n for n in node2.channel_names() - before2 if n.startswith("PJSIP/411-")]
    assert caller
    hang_up(node2, set(caller), wait_for)
    wait_for(
        lambda: not {trunk[NAME], phone[NAME]} & sandbox.channel_names(),
        10,
        message="node 1's legs to hang up after node 2's",
    )


def test_stop_node2_only_then_up_again(sandbox: Sandbox, node2: Node2) -> None:
    """`stop-asterisk --node 2` leaves node 1 and node 2's phones; `up --nodes 2` restarts it."""
    node1_line = node2.status_exit()[1].splitlines()[0]
    node2.stop_asterisk()
    try:
        code, out = node2.status_exit()
        assert code == 3, out
        assert "node2 asterisk  stopped" in out
        assert "node2 phone 410   running" in out
        assert out.splitlines()[0] == node1_line  # node 1's Asterisk, same pid
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((node2.ami_host, node2.ami_port), timeout=2).close()
        assert "PJSIP" in sandbox.cli("core show channeltypes")
    finally:
        node2.start()
    code, out = node2.status_exit()
    assert code == 0, out
    Ami(node2).close()
