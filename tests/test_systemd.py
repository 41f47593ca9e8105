"""The shipped systemd unit: hardened as promised, installed by the steps docs/operations.md
gives, and accepted by systemd itself (`systemd-analyze verify` and `security`, offline: CI has
no running systemd)."""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

UNIT = ROOT / "systemd" / "uapi-bridge.service"
MAX_EXPOSURE = 3.2  # `systemd-analyze security` when the unit was first measured; never worse
HOST_UNITS = Path("/usr/lib/systemd/system")  # sysinit.target and friends, for verify --root


def service_section() -> dict[str, str]:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(UNIT)
    return dict(parser["Service"])


def test_unit_has_the_promised_settings() -> None:
    """Own user, StateDirectory, ProtectSystem=strict, NoNewPrivileges, restart, /etc config,
    LimitNOFILE=65536, reload by SIGHUP."""
    svc = service_section()
    assert svc["User"] == "uapi-bridge"
    assert svc["StateDirectory"] == "uapi-bridge"
    assert svc["ProtectSystem"] == "strict"
    assert svc["NoNewPrivileges"] == "yes"
    assert svc["Restart"] == "on-failure"
    assert svc["LimitNOFILE"] == "65536"
    assert "--config /etc/uapi-bridge/bridge.yaml" in svc["ExecStart"]
    assert svc["ExecStartPre"].endswith("--check-config")
    assert svc["ExecReload"] == "/bin/kill -HUP $MAINPID"  # `systemctl reload`: SIGHUP


def readme_steps() -> list[str]:
    """The shell lines of docs/operations.md's "Running it as a service" block."""
    text = (ROOT / "docs" / "operations.md").read_text()
    section = text.split("## Running it as a service", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def under(root: Path, line: str) -> str | None:
    """One documented step as it runs under `root` without a running systemd (None: skipped)."""
    if line.startswith(("useradd ", "journalctl ")):
        return None  # the system's user database and journal: not in a throwaway root
    if line.startswith("systemctl daemon-reload && systemctl enable --now "):
        return f"systemctl --root={root} enable uapi-bridge"
    line = line.replace("-g uapi-bridge", f"-g {os.getgid()}")
    return re.sub(r"(?<![\w.])/(etc|opt|var)/", rf"{root}/\1/", line)


def clone_checkout(dest: Path) -> None:
    """`git clone <this repo>`: the checkout's files as they are now (tracked and new ones)."""
    names = (
        subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard", "-z"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, names):
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throwaway root after the documented steps (and the host's systemd units in usr/lib)."""
    root = tmp_path_factory.mktemp("root")
    shutil.copytree(HOST_UNITS, root / "usr/lib/systemd/system", symlinks=True)
    # ExecReload runs /bin/kill, there on every system (util-linux/procps), not in this root
    (root / "bin").mkdir()
    shutil.copy2("/bin/kill", root / "bin/kill")
    (root / "etc/systemd/system").mkdir(parents=True)
    for line in readme_steps():
        if line.startswith("git clone <this repo> "):
            clone_checkout(Path(under(root, line.split()[-1]) or ""))
            continue
        step = under(root, line)
        if step is not None:
            subprocess.run(
                ["bash", "-euo", "pipefail", "-c", step], check=True, timeout=600, cwd=root
            )
    return root


def test_readme_steps_install_the_unit(installed: Path) -> None:
    """The unit, config, env file and venv land where the unit expects them; enabled."""
    etc = installed / "etc"
    assert (etc / "systemd/system/uapi-bridge.service").read_text() == UNIT.read_text()
    assert (etc / "systemd/system/multi-user.target.wants/uapi-bridge.service").is_symlink()
    assert (etc / "uapi-bridge/env").stat().st_mode & 0o777 == 0o600
    assert (etc / "uapi-bridge/bridge.yaml").stat().st_mode & 0o777 == 0o640
    assert (etc / "uapi-bridge").stat().st_mode & 0o777 == 0o750


def test_installed_daemon_checks_the_installed_config(installed: Path) -> None:
    """The unit's ExecStartPre, run from the installed venv on the installed example config."""
    pre = service_section()["ExecStartPre"].replace("/", f"{installed}/", 1)
    pre = pre.replace(" /etc/", f" {installed}/etc/")
    env = {
        **os.environ,
        "UAPI_AMI_SECRET": "s",
        "UAPI_CRM_TOKEN": "t" * 24,
        "UAPI_CRM_SECRET": "c" * 24,
        "UAPI_CRM_WEBHOOK_SECRET": "whsec_" + "eg" * 16,
    }
    result = subprocess.run(
        pre.split(), capture_output=True, text=True, env=env, check=False, timeout=60, cwd=installed
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert ": OK (" in result.stdout


def test_systemd_verify_accepts_the_installed_unit(installed: Path) -> None:
    """`systemd-analyze verify --root=` finds nothing (the ExecStart binaries exist there)."""
    result = subprocess.run(
        ["systemd-analyze", "verify", f"--root={installed}", "uapi-bridge.service"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "uapi-bridge" not in result.stderr, result.stderr


def test_systemd_security_exposure_stays_ok(installed: Path) -> None:
    """`systemd-analyze security --offline=yes`: exposure at most 3.2 ("OK")."""
    result = subprocess.run(
        [
            "systemd-analyze",
            "security",
            "--offline=yes",
            f"--root={installed}",
            f"--threshold={round(MAX_EXPOSURE * 10)}",
            "uapi-bridge.service",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    found = re.search(
        r"Overall exposure level for uapi-bridge\.service: ([\d.]+) (\w+)", result.stdout
    )
    assert found, result.stdout + result.stderr
    assert float(found[1]) <= MAX_EXPOSURE, found[0]
    assert result.returncode == 0, result.stderr
