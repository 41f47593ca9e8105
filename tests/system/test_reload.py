"""SIGHUP against the running daemon and the sandbox: a live stream and a live call survive a
reload that adds 0003*211, which places a call at once; a removed app is refused within 1 s;
a broken file keeps everything working and /healthz says so. And `uapi-bridge discover`.

0003*211 rings the sandbox's existing `trunk` endpoint (a SIPp phone that answers at once,
which config/demo.yaml only uses for public numbers: none are dialled here), so the shared
sandbox needs no new phone.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
import yaml

from bridge.ami.client import AmiClient
from tests.conftest import CRM, HELPDESK, ROOT
from tests.live.conftest import Reader
from tests.polling import until, wait_for
from tests.system.daemon import RunningBridge, get
from tests.system.test_make_call import all_up, hang_up, make_call, view

pytestmark = pytest.mark.system
NEW = {
    "number": "0003*211",
    "user": "12",
    "type": "phone_terminal",
    "channel": "PJSIP/trunk",
    "caller_id": "John Doe <211>",
}


def edit(bridge: RunningBridge, change: Callable[[dict[str, Any]], None]) -> None:
    raw = yaml.safe_load(bridge.cfg.read_text())
    change(raw)
    bridge.cfg.write_text(yaml.safe_dump(raw))


def hup(bridge: RunningBridge) -> float:
    """Sends SIGHUP; returns when (time.monotonic)."""
    bridge.proc.send_signal(signal.SIGHUP)
    return time.monotonic()


def reloaded(bridge: RunningBridge, result: str, count: int = 1) -> dict[str, Any]:
    """Waits until /healthz reports the `count`-th reload with `result`; its config block."""

    def done() -> bool:
        return any(
            e.get("event") == f"config.reload.{result}" for e in bridge.log_lines()[-50:]
        ) and (bridge.health()[1].get("config", {}).get("last_reload") == result)

    wait_for(done, 10)
    assert sum(e.get("event") == f"config.reload.{result}" for e in bridge.log_lines()) == count
    config: dict[str, Any] = bridge.health()[1]["config"]
    return config


async def test_stream_and_call_survive_a_reload_that_adds_an_extension(
    bridge: RunningBridge, ami: AmiClient
) -> None:
    """John's `@self` stream and a 210-024 call are up; 0003*211 is added for John and the
    file reloaded: same process, the call still up and still streamed, then 211 places a
    call at once (PJSIP/trunk rings and answers) which the same stream shows."""
    pid = bridge.proc.pid
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            f"{bridge.url}/uapi/phoneCalls/@me/@self/stream",
            headers={"Authorization": f"Bearer {CRM}"},
        ) as resp,
    ):
        assert resp.status == 200
        reader = Reader(resp)
        await reader.until("ready", 5)
        _, body = await asyncio.to_thread(make_call, bridge, view(["210"], "024"))
        first = body[0]["id"]
        second = None
        try:
            await until(all_up(ami, first, "PJSIP/210", "PJSIP/024"), 10)
            edit(bridge, lambda raw: raw["extensions"].append(NEW))
            hup(bridge)
            await asyncio.to_thread(reloaded, bridge, "ok")
            assert bridge.proc.pid == pid
            assert bridge.proc.poll() is None
            assert await all_up(ami, first, "PJSIP/210", "PJSIP/024")()
            status, listed = bridge.request("GET", f"/uapi/phoneCalls/@me/210/{first}")
            assert status == 200, listed
            status, body = await asyncio.to_thread(
                make_call,
                bridge,
                {
                    "extension": "211",
                    "phoneCallView": [{"source": ["211"], "destination": ["024"]}],
                },
            )
            assert status == 202
            second = body[0]["id"]
            await until(all_up(ami, second, "PJSIP/trunk", "PJSIP/024"), 10)
            seen = await _stream_until(
                reader,
                lambda e: (
                    e.kind == "call"
                    and e.data["id"] == second
                    and e.data["extension"] == "0003*211"
                ),
            )
            assert seen
        finally:
            await hang_up(ami, first)
            if second is not None:
                await hang_up(ami, second)
        await _stream_until(reader, lambda e: e.kind == "ended" and e.data["id"] == first)


async def _stream_until(reader: Reader, want: Callable[[Any], bool]) -> bool:
    async with asyncio.timeout(15):
        while not want(await reader.next(15)):
            pass
    return True


def test_a_removed_app_is_refused_within_a_second(bridge: RunningBridge) -> None:
    """helpdesk removed from the file: its token answers 401 within 1 s of the SIGHUP; crm's
    still works."""
    assert bridge.request("GET", "/uapi/extensions/13", token=HELPDESK)[0] == 200
    edit(bridge, lambda raw: raw.update(apps=[a for a in raw["apps"] if a["name"] != "helpdesk"]))
    sent = hup(bridge)
    wait_for(
        lambda: bridge.request("GET", "/uapi/extensions/13", token=HELPDESK)[0] == 401,
        1.0,
        interval=0.02,
    )
    took = time.monotonic() - sent
    assert took < 1.0, took
    assert bridge.request("GET", "/uapi/extensions/@me")[0] == 200


def test_a_broken_file_changes_nothing_and_healthz_says_so(bridge: RunningBridge) -> None:
    """An extension of an unknown user and an unknown key: config.reload.failed with both,
    /healthz 200 with last_reload failed and the problems; the old directory still serves.
    Then a good file with a new http.port: applied, config.reload.restart_needed names it."""
    loaded = bridge.health()[1]["config"]
    assert loaded["hash"]
    assert loaded["last_reload"] is None
    good = bridge.cfg.read_text()
    added: list[int] = []  # the appended extension's index (the demo file's count may change)

    def broken(raw: dict[str, Any]) -> None:
        raw["extensions"].append({**NEW, "user": "99"})
        added.append(len(raw["extensions"]) - 1)
        raw["colour"] = "blue"

    edit(bridge, broken)
    hup(bridge)
    shown = reloaded(bridge, "failed")
    assert shown["problems"] == [
        "colour: unknown key",
        f"extensions[{added[0]}].user: unknown user '99'",
    ]
    assert (shown["loaded"], shown["hash"]) == (loaded["loaded"], loaded["hash"])
    [line] = [e for e in bridge.log_lines() if e.get("event") == "config.reload.failed"]
    assert line["problems"] == shown["problems"]
    assert bridge.health()[0] == 200
    assert bridge.request("GET", "/uapi/phoneCalls/@me/210")[0] == 204
    assert bridge.request("GET", "/uapi/phoneCalls/@me/211")[0] == 400  # not added
    bridge.cfg.write_text(good)
    edit(bridge, lambda raw: raw["http"].update(port=1))
    hup(bridge)
    shown = reloaded(bridge, "ok")
    assert shown["problems"] == []
    assert shown["hash"] != loaded["hash"]
    [needed] = [e for e in bridge.log_lines() if e.get("event") == "config.reload.restart_needed"]
    assert needed["keys"] == ["http.port"]
    assert bridge.health()[0] == 200  # still on its old port
    text = get(f"{bridge.url}/metrics")[1]
    assert 'uapi_config_reloads_total{result="failed"} 1.0' in text
    assert 'uapi_config_reloads_total{result="ok"} 1.0' in text


async def test_discover_lists_the_endpoints_demo_does_not(
    bridge: RunningBridge, ami: AmiClient
) -> None:
    """`uapi-bridge discover` on the demo config (with the sandbox's AMI port): every PJSIP
    endpoint of the sandbox that is neither an extension's channel nor the file's trunk, and
    nothing else; each with a comment; the YAML parses; exit 0."""
    endpoints = {e["ObjectName"] for e in await ami.send_list({"Action": "PJSIPShowEndpoints"})}
    demo = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    listed = {
        e["channel"].removeprefix("PJSIP/")
        for e in demo["extensions"]
        if e.get("channel", "").startswith("PJSIP/")
    }
    expected = endpoints - listed - {"trunk"}
    assert expected  # node2 at least: the sandbox's trunk to node 2
    result = await asyncio.to_thread(
        subprocess.run,
        [str(ROOT / ".venv/bin/uapi-bridge"), "discover", "--config", str(bridge.cfg)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    proposed = yaml.safe_load(result.stdout)["extensions"]
    assert {e["channel"].removeprefix("PJSIP/") for e in proposed} == expected
    assert result.stdout.count("  # PJSIP endpoint ") == len(expected)
    assert all(e["user"] == "FILL-ME" for e in proposed)
