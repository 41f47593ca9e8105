"""schemathesis against the daemon (config/demo.yaml on the fake AMI server), every operation.

Bounded: `MAX_EXAMPLES` cases per operation and phase, a fixed seed (UAPI_FUZZ_SEED overrides
it), and the whole run killed after `DEADLINE` seconds. The checks are schemathesis.toml's
`[checks]` (tests/contract/test_check.py holds the list): no 5xx (a 501
`request_not_implemented` to a method the document lacks aside: tests/contract/fuzz_checks.py);
every answer's status, content type, headers and body as the document says; what the document
calls invalid is refused (`negative_data_rejection`), also without a required header; and no
operation answers without a valid token (`ignored_auth`). The stateful phase follows the
document's links (create event -> get/update -> delete; make call -> get/control/hang up).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from tests.ami.fake_ami import FakeAmi
from tests.ari.fake import FakeAri
from tests.ari.fake import start as start_ari
from tests.conftest import CRM, ROOT
from tests.system.daemon import RunningBridge, get

MAX_EXAMPLES = 10
DEADLINE = 170  # seconds for the whole run (CI: under 3 minutes)
SEED = os.environ.get("UAPI_FUZZ_SEED", "20261123")


class _Ami:
    def __init__(self, port: int) -> None:
        self.ami_port = port


async def _until_healthy(url: str) -> None:
    for _ in range(100):
        if (await asyncio.to_thread(get, f"{url}/healthz"))[0] == 200:
            return
        await asyncio.sleep(0.1)
    pytest.fail("the daemon did not become healthy on the fake AMI server")


async def _schemathesis(url: str, report: Path) -> tuple[int, str]:
    """Runs `st run` in the report's folder (it keeps a .schemathesis/ cache where it runs)."""
    args = [
        str(ROOT / ".venv" / "bin" / "st"),
        "--config-file",
        str(Path(__file__).with_name("schemathesis.toml")),
        "run",
        f"{url}/uapi/openapi.json",
        "-H",
        f"Authorization: Bearer {CRM}",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        SEED,
        "--workers",
        "1",
        "--request-timeout",
        "10",
        "--max-response-time",
        "8",
        "--suppress-health-check",
        "too_slow",
        "--report",
        "json",
        "--report-json-path",
        str(report),
        "--no-color",
        # The live stream never ends, so schemathesis would wait on it until its timeout;
        # it is covered by tests/live and by tests/api/test_fuzz.py (status and envelope).
        "--exclude-operation-id",
        "streamCalls",
    ]
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.contract.fuzz_checks",
        "PYTHONPATH": str(ROOT),
    }
    proc = await asyncio.create_subprocess_exec(
        *args,
        cwd=report.parent,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), DEADLINE)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        pytest.fail(f"schemathesis ran over {DEADLINE} s")
    return proc.returncode or 0, out.decode(errors="replace")


async def test_schemathesis_finds_nothing(tmp_path: Path) -> None:
    """Every operation fuzzed against the real daemon; no failure, no 5xx in its log."""
    ami = FakeAmi(secret="fuzz-secret")
    await ami.start()
    ari = await start_ari(FakeAri())  # the recordings routes answer from it (issue 25)
    ari_config = ari.config()
    bridge = RunningBridge(
        tmp_path,
        _Ami(ami.port),
        overrides={
            "ami": {
                "secret": "fuzz-secret",
                "ari": {
                    "url": ari_config.url,
                    "username": ari_config.username,
                    "password": ari_config.password,
                },
            }
        },
    )
    try:
        await _until_healthy(bridge.url)
        code, out = await _schemathesis(bridge.url, tmp_path / "report.json")
    finally:
        bridge.proc.terminate()
        await asyncio.to_thread(bridge.proc.wait, 10)
        await ami.close()
        assert ari.server is not None
        await ari.server.close()
    report: dict[str, Any] = json.loads((tmp_path / "report.json").read_text())
    cases = report["test_cases"]["generated"]
    ops = report["operations"]
    links = re.search(r"API Links:\s+(\d+) covered", out)
    print(
        f"schemathesis: {ops['tested']} operations, {cases} cases, seed {SEED}, "
        f"{links.group(1) if links else '?'} links followed"
    )
    assert code == 0, out[-6000:]
    assert report["failures"] == [], out[-6000:]
    assert report["errors"] == [], out[-6000:]
    assert ops["tested"] == ops["selected"] >= 20
    assert cases >= 20 * MAX_EXAMPLES
    assert "http.handler.failed" not in bridge.log.read_text()
    assert links is not None, out[-3000:]
    assert int(links.group(1)) >= 3  # create event -> get, update, delete at least
