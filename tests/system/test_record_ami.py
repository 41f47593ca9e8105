"""scripts/record-ami against the real sandbox: a fresh recording matches the stored fixture."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.system.conftest import REPO

pytestmark = pytest.mark.system

SCRIPT = REPO / "scripts" / "record-ami"
FIXTURES = REPO / "tests" / "fixtures" / "ami"


def per_channel(path: Path) -> tuple[dict[str, list[str]], list[str]]:
    """({channel role: its event names in order}, all event names sorted) of a transcript.

    Events of different channels interleave differently from run to run; each channel's own
    sequence does not. A role is the channel name without its per-call suffix
    (`PJSIP/027-0000002b` -> `PJSIP/027`, `Local/s@uapi-source-0000000c;1` -> `...;1`).
    """
    lines = path.read_text().splitlines()
    header = json.loads(lines[0])
    assert header["call_id"]
    names: list[str] = []
    seq: dict[str, list[str]] = {}
    for line in lines[1:]:
        event: dict[str, Any] = json.loads(line)["event"]
        names.append(event["Event"])
        for key, prefix in (("Channel", ""), ("DestChannel", "dest:")):
            if key in event:
                role = re.sub(r"-[0-9a-f]+(;\d)?$", lambda m: m.group(1) or "", event[key])
                seq.setdefault(prefix + role, []).append(event["Event"])
    return seq, sorted(names)


def test_rerecorded_busy_matches_fixture(sandbox: Any, tmp_path: Path) -> None:
    """Re-recording `busy` gives the same events, in the same order per channel, as the fixture."""
    out = tmp_path / "busy.jsonl"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "busy", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr
    header = json.loads(out.read_text().splitlines()[0])
    assert header["scenario"] == "busy"
    assert (
        header["call_id"]
        != json.loads((FIXTURES / "busy.jsonl").read_text().splitlines()[0])["call_id"]
    )
    assert per_channel(out) == per_channel(FIXTURES / "busy.jsonl")
    assert not [c for c in sandbox.channels() if header["call_id"] in "!".join(c)]
