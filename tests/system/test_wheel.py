"""The bridge as a user installs it: `python -m build`, the wheel in a fresh venv, a real call."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.polling import wait_for
from tests.system.conftest import Sandbox
from tests.system.daemon import RunningBridge

pytestmark = pytest.mark.system

DIALPLAN = ROOT / "config" / "asterisk" / "extensions_uapi.conf"
RUNTIME_SUFFIXES = {".yaml", ".json", ".html", ".css", ".js", ".conf"}
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def run(*cmd: str | Path, timeout: float = 300, cwd: Path | None = None) -> str:
    proc = subprocess.run(
        [str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, check=False, cwd=cwd
    )
    assert proc.returncode == 0, f"{cmd} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def runtime_files() -> set[str]:
    """Every non-Python file under bridge/ the daemon may read at run time (relative names)."""
    return {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "bridge").rglob("*")
        if p.is_file()
        and "__pycache__" not in p.parts
        and (p.suffix in RUNTIME_SUFFIXES or "static" in p.parts)
    }


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`python -m build` (sdist, then the wheel built from that sdist) into a temporary folder."""
    out = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "build", "--outdir", out, ROOT, timeout=600)
    return out


@pytest.fixture(scope="module")
def venv(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with nothing but the wheel (and its dependencies) installed."""
    where = tmp_path_factory.mktemp("venv")
    run(sys.executable, "-m", "venv", where)
    run(where / "bin" / "pip", "install", "-q", next(dist.glob("*.whl")), timeout=600)
    return where


def test_wheel_carries_every_runtime_file(dist: Path) -> None:
    """The wheel holds bridge/'s data files and the dialplan snippet, byte for byte."""
    with zipfile.ZipFile(next(dist.glob("*.whl"))) as whl:
        names = set(whl.namelist())
        shipped = whl.read("bridge/data/extensions_uapi.conf")
    assert runtime_files() <= names, runtime_files() - names
    assert shipped == DIALPLAN.read_bytes()


def test_sdist_rebuilds_the_same_wheel_contents(dist: Path) -> None:
    """The sdist has the sources the wheel is built from, the dialplan snippet included."""
    with tarfile.open(next(dist.glob("*.tar.gz"))) as sdist:
        names = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
    assert "config/asterisk/extensions_uapi.conf" in names
    assert runtime_files() <= names, runtime_files() - names


def test_installed_version(venv: Path) -> None:
    """`uapi-bridge --version` from the wheel prints the version of pyproject.toml."""
    assert run(venv / "bin" / "uapi-bridge", "--version").strip() == f"uapi-bridge {VERSION}"


class WheelBridge(RunningBridge):
    """RunningBridge, but the daemon is the venv's entry point, run outside the checkout."""

    def __init__(self, tmp: Path, sandbox: Any, exe: Path) -> None:
        self.exe = exe
        super().__init__(tmp, sandbox)

    def _spawn(self) -> subprocess.Popen[bytes]:
        with self.log.open("a") as log:  # the child keeps its own copy of the descriptor
            return subprocess.Popen(
                [str(self.exe), "--config", str(self.cfg)],
                stdout=subprocess.DEVNULL,
                stderr=log,
                cwd=self.tmp,
            )


@pytest.fixture
def wheel_bridge(tmp_path: Path, sandbox: Sandbox, venv: Path) -> Iterator[WheelBridge]:
    running = WheelBridge(tmp_path, sandbox, venv / "bin" / "uapi-bridge")
    try:
        wait_for(lambda: running.health()[0] == 200, 20, message="/healthz 200")
        yield running
    finally:
        assert running.stop() == 0


def phone_up(sandbox: Sandbox, name: str) -> bool:
    return any(f[0].startswith(f"{name}-") and f[4] == "Up" for f in sandbox.channels())


def test_installed_daemon_places_a_real_call(
    wheel_bridge: WheelBridge, sandbox: Sandbox, venv: Path
) -> None:
    """From the wheel: /healthz 200, then 210 -> 024 rings real phones; DELETE ends it."""
    where = run(
        venv / "bin" / "python", "-c", "import bridge; print(bridge.__file__)", cwd=wheel_bridge.tmp
    )
    assert where.startswith(str(venv)), where
    body = {"extension": "210", "phoneCallView": [{"source": ["210"], "destination": ["024"]}]}
    status, answer = wheel_bridge.request("POST", "/uapi/phoneCalls/@me/simple", body)
    assert status == 202, answer
    call_id = answer[0]["id"]
    wait_for(lambda: phone_up(sandbox, "PJSIP/024"), 10, message="024 answered")
    status, answer = wheel_bridge.request("DELETE", f"/uapi/phoneCalls/@me/210/{call_id}")
    assert (status, answer) == (200, [{"id": call_id}])
    wait_for(
        lambda: not any(f[0].startswith(("PJSIP/210-", "PJSIP/024-")) for f in sandbox.channels()),
        10,
        message="the call gone",
    )
