"""The sandbox is a real Asterisk with SIPp phones that behave as pjsip.conf describes.

The sandbox is shared: other test sessions may place calls at the same time. So these tests never
use `channel request hangup all`. Calls are placed through AMI with a ChannelId of their own; the
first leg's Uniqueid is that id and every leg it dials carries it as Linkedid, which tells this
test's channels apart from anyone else's. Only the first test uses the CLI's `channel originate`
(a call the API did not place) and picks its two legs out by their shared bridge.
"""

from __future__ import annotations

import itertools
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.system.conftest import Sandbox

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
