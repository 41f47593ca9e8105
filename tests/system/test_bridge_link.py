"""The bridge against the real sandbox Asterisk: login, health, filtering, resync, reconnect."""

from __future__ import annotations

import contextlib
import secrets
import time
from typing import Any

import pytest

from bridge.ami.client import AmiClient
from bridge.ami.events import TRACKED_EVENTS
from bridge.ami.message import AmiMessage as Message
from bridge.config import AmiConfig
from bridge.errors import AmiActionFailed, AmiInjection
from tests.polling import until, wait_for
from tests.system.daemon import RunningBridge, get

pytestmark = pytest.mark.system


def test_bridge_logs_in_and_health_says_connected(bridge: RunningBridge) -> None:
    """The daemon logs in to the real Asterisk; /healthz says connected; metrics agree."""
    status, body = bridge.health()
    assert status == 200
    assert body["ami"] == "connected"
    _, metrics = get(f"{bridge.url}/metrics")
    assert 'uapi_ami_connected{node="default"} 1.0' in metrics
    events = [line["event"] for line in bridge.log_lines()]
    assert "ami.login.succeeded" in events
    assert "bridge.started" in events


def test_bridge_reconnects_after_asterisk_restart(bridge: RunningBridge, sandbox: Any) -> None:
    """Asterisk stopped: /healthz 503; started again: the bridge is back by itself within 15 s."""
    sandbox.stop_asterisk()
    wait_for(lambda: bridge.health()[0] == 503, 10)
    assert bridge.health()[1]["ami"] == "disconnected"
    sandbox.start()  # returns once Asterisk is fully booted
    booted = time.monotonic()
    wait_for(lambda: bridge.health()[0] == 200, 15)
    took = time.monotonic() - booted
    assert bridge.health()[1]["ami_reconnects"] >= 1
    _, metrics = get(f"{bridge.url}/metrics")
    reconnects = 'uapi_ami_reconnects_total{node="default"}'
    assert f"{reconnects} 1.0" in metrics or f"{reconnects} 2.0" in metrics
    print(f"reconnected {took:.1f} s after Asterisk was fully booted")


def test_sigterm_shuts_down_cleanly(bridge: RunningBridge) -> None:
    """SIGTERM stops the daemon with exit code 0, logging a clean stop and no traceback."""
    assert bridge.stop() == 0
    lines = bridge.log_lines()
    assert lines[-1]["event"] == "bridge.stopped"
    assert "Traceback" not in bridge.log.read_text()


def ami_config(sandbox: Any) -> AmiConfig:
    return AmiConfig(port=sandbox.ami_port, secret=sandbox.ami_secret, action_timeout=5)


async def originate(client: AmiClient, call_id: str) -> None:
    """A 210 -> 024 call of this test's own, found again by its Linkedid."""
    await client.send(
        {
            "Action": "Originate",
            "Channel": "PJSIP/210",
            "Context": "uapi-phones",
            "Exten": "024",
            "Priority": "1",
            "Async": "true",
            "ChannelId": call_id,
        }
    )


async def hangup_linked(client: AmiClient, call_id: str) -> None:
    """Hangs up only the channels of this test's call (other sessions share the sandbox)."""
    for chan in await client.send_list({"Action": "CoreShowChannels"}):
        if chan["Linkedid"] == call_id:
            # Hanging up one leg ends the other too, so it may be gone by its turn.
            with contextlib.suppress(AmiActionFailed):
                await client.send({"Action": "Hangup", "Channel": chan["Channel"]})


async def test_only_tracked_events_reach_python(sandbox: Any) -> None:
    """With the event mask and Filter, a real call brings Newchannel/Hangup but no VarSet."""
    client = AmiClient(ami_config(sandbox), events=TRACKED_EVENTS, name="filter-test")
    call_id = secrets.token_hex(10)
    seen: list[str] = []
    client.add_event_handler(
        lambda m: seen.append(m["Event"]) if m.get("Linkedid") == call_id else None
    )
    await client.start()
    try:
        assert await client.wait_connected(10)
        await originate(client, call_id)
        await until(lambda: seen.count("Newchannel") >= 2 and "BridgeEnter" in seen, 10)
        await hangup_linked(client, call_id)
        await until(lambda: seen.count("Hangup") >= 2, 10)
    finally:
        await client.close()
    assert set(seen) <= TRACKED_EVENTS, set(seen) - TRACKED_EVENTS
    assert "VarSet" not in seen
    assert "Newexten" not in seen
    assert {"Newchannel", "Newstate", "DialBegin", "Hangup"} <= set(seen)


async def test_resync_reads_live_channels_with_linkedid(sandbox: Any) -> None:
    """A (re)login reads back live channels by CoreShowChannels, Linkedid included."""
    call_id = secrets.token_hex(10)
    placer = AmiClient(ami_config(sandbox), events=(), name="placer")
    await placer.start()
    assert await placer.wait_connected(10)
    await originate(placer, call_id)
    client = AmiClient(ami_config(sandbox), events=TRACKED_EVENTS, name="resync-test")
    got: list[list[Message]] = []

    async def on_connect(channels: list[Message]) -> None:
        got.append([c for c in channels if c["Linkedid"] == call_id])

    try:
        await until(lambda: len([c for c in sandbox.channels() if call_id in c]) >= 1, 10)
        await until(
            lambda: (
                sum(
                    1
                    for line in sandbox.cli("core show channels concise").splitlines()
                    if "!Up!" in line and "PJSIP/024" in line
                )
                >= 1
            ),
            10,
        )
        client.add_connect_handler(on_connect)
        await client.start()
        await until(lambda: bool(got), 10)
    finally:
        await client.close()
        await hangup_linked(placer, call_id)
        await placer.close()
    names = sorted(m["Channel"].split("-")[0] for m in got[0])
    assert names == ["PJSIP/024", "PJSIP/210"]
    assert {m["Linkedid"] for m in got[0]} == {call_id}


async def test_action_round_trip_and_injection(sandbox: Any) -> None:
    """A real action answers; a CR/LF value is refused before Asterisk sees it."""
    client = AmiClient(ami_config(sandbox), events=TRACKED_EVENTS, name="action-test")
    await client.start()
    try:
        assert await client.wait_connected(10)
        pong = await client.send({"Action": "Ping"})
        assert pong["Response"] == "Success"
        with pytest.raises(AmiInjection):
            await client.send({"Action": "Hangup", "Channel": "PJSIP/210\r\nAction: Command"})
        assert client.connected
    finally:
        await client.close()
