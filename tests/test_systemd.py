"""The shipped systemd unit: hardened as promised, and valid for systemd itself."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

UNIT = ROOT / "systemd" / "uapi-bridge.service"


def service_section() -> dict[str, str]:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(UNIT)
    return dict(parser["Service"])


def test_unit_has_the_promised_settings() -> None:
    """Own user, StateDirectory, ProtectSystem=strict, NoNewPrivileges, restart, /etc config."""
    svc = service_section()
    assert svc["User"] == "uapi-bridge"
    assert svc["StateDirectory"] == "uapi-bridge"
    assert svc["ProtectSystem"] == "strict"
    assert svc["NoNewPrivileges"] == "yes"
    assert svc["Restart"] == "on-failure"
    assert "--config /etc/uapi-bridge/bridge.yaml" in svc["ExecStart"]
    assert svc["ExecStartPre"].endswith("--check-config")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not here")
def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    """systemd-analyze verify finds nothing wrong (binary paths pointed at /bin/true)."""
    unit = tmp_path / "uapi-bridge.service"
    unit.write_text(UNIT.read_text().replace("/opt/uapi-bridge/.venv/bin/uapi-bridge", "/bin/true"))
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "uapi-bridge.service" not in result.stderr, result.stderr
