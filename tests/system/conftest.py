"""Fixtures for the system tests: the real Asterisk sandbox of scripts/asterisk-sandbox."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge.ami.client import AmiClient
from bridge.config import AmiConfig
from tests.polling import wait_for
from tests.system.daemon import RunningBridge

REPO = Path(__file__).resolve().parents[2]
SANDBOX_SCRIPT = REPO / "scripts" / "asterisk-sandbox"


class Sandbox:
    """Handle on the running sandbox: Asterisk CLI, its channels, AMI coordinates."""

    ami_host = "127.0.0.1"
    ami_port = 15038
    ami_user = "uapi"
    ami_secret = "sandbox-secret"
    sip_port = 15060

    def __init__(self, script: Path = SANDBOX_SCRIPT) -> None:
        self.script = script
        self.root = Path(os.environ.get("UAPI_SANDBOX_DIR", "/var/tmp/uapi-bridge")) / "sid-root"

    def _run(self, *args: str, timeout: float = 180) -> str:
        try:
            proc = subprocess.run(
                [str(self.script), *args],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            pytest.fail(
                f"asterisk-sandbox {' '.join(args)} did not finish within {timeout} s: {exc}"
            )
        if proc.returncode != 0:
            pytest.fail(
                f"asterisk-sandbox {' '.join(args)} failed (exit {proc.returncode})\n"
                f"--- stdout\n{proc.stdout}--- stderr\n{proc.stderr}"
            )
        return proc.stdout

    def cli(self, cmd: str) -> str:
        """Run one Asterisk CLI command (asterisk -rx) and return its output."""
        return self._run("cli", cmd, timeout=60)

    def channels(self) -> list[list[str]]:
        """`core show channels concise`, one list of `!`-separated fields per channel.

        Fields: name, context, exten, priority, state, application, data, caller id,
        account code, peer account, AMA flags, duration, bridge id, uniqueid.
        """
        out = self.cli("core show channels concise")
        return [line.split("!") for line in out.splitlines() if "!" in line]

    def channel_names(self) -> set[str]:
        """Names of the channels that exist right now."""
        return {fields[0] for fields in self.channels()}

    def status(self) -> str:
        """`asterisk-sandbox status` output (fails the test unless everything runs)."""
        return self._run("status", timeout=60)

    def stop_asterisk(self) -> None:
        """Stop Asterisk only (the phones keep running); start() brings it back."""
        self._run("stop-asterisk", timeout=60)

    def start(self) -> None:
        """`asterisk-sandbox up`: start whatever is not running and wait until ready."""
        self._run("up", timeout=600)


@pytest.fixture(scope="session")
def sandbox() -> Sandbox:
    """The real Asterisk sandbox, brought up once per test session."""
    box = Sandbox()
    box.start()
    return box


class Node2(Sandbox):
    """Node 2 of `asterisk-sandbox up --nodes 2`: the same handle, its own ports and CLI."""

    ami_port = 15138
    sip_port = 15160

    def cli(self, cmd: str) -> str:
        """Run one CLI command on node 2 (`cli --node 2`)."""
        return self._run("cli", "--node", "2", cmd, timeout=60)

    def stop_asterisk(self) -> None:
        """Stop node 2's Asterisk only (`stop-asterisk --node 2`)."""
        self._run("stop-asterisk", "--node", "2", timeout=60)

    def start(self) -> None:
        """`asterisk-sandbox up --nodes 2`: both nodes up, whatever was not running started."""
        self._run("up", "--nodes", "2", timeout=600)

    def status_exit(self) -> tuple[int, str]:
        """`asterisk-sandbox status` exit code and output, whatever the code."""
        proc = subprocess.run(
            [str(self.script), "status"], capture_output=True, text=True, timeout=60, check=False
        )
        return proc.returncode, proc.stdout


@pytest.fixture
def node2(sandbox: Sandbox) -> Node2:
    """Both nodes up (node 1 through the session's sandbox fixture, node 2 here)."""
    box = Node2()
    box.start()
    return box


@pytest.fixture(name="wait_for")
def _wait_for_fixture() -> Callable[..., object]:
    """The wait_for helper, for tests that prefer a fixture to an import."""
    return wait_for


@pytest.fixture
def bridge(tmp_path: Path, sandbox: Sandbox) -> Iterator[RunningBridge]:
    """A bridge process logged in to the sandbox Asterisk."""
    running = RunningBridge(tmp_path, sandbox)
    try:
        wait_for(lambda: running.health()[0] == 200, 20)
        yield running
    finally:
        running.stop()
        sandbox.start()  # a test may have stopped Asterisk: leave it up for the next one


@contextlib.asynccontextmanager
async def own_link(node: Sandbox, name: str) -> AsyncIterator[AmiClient]:
    """An AMI link of the test's own to a sandbox node, logged in."""
    client = AmiClient(AmiConfig(port=node.ami_port, secret=node.ami_secret), events=(), name=name)
    await client.start()
    assert await client.wait_connected(10)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def ami(sandbox: Any) -> AsyncIterator[AmiClient]:
    """An AMI link of the test's own, to look at (and clean up) the calls the bridge placed."""
    async with own_link(sandbox, "make-call-test") as client:
        yield client
