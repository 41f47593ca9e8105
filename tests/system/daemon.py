"""The uapi-bridge daemon as a user runs it (a subprocess with a config file), for system tests."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import CRM, ROOT
from tests.contract.openapi_check import check_answer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


class RunningBridge:
    """`uapi-bridge` as a user runs it: a subprocess with a config file."""

    def __init__(
        self,
        tmp: Path,
        sandbox: Any,
        overrides: dict[str, Any] | None = None,
        config: str = "demo.yaml",
        ami_ports: dict[str, int] | None = None,
        edit: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        """`config`: a file of config/; `ami_ports`: node name -> AMI port (several nodes);
        `edit`: changes the raw config last (lists too, which `overrides` cannot)."""
        raw = yaml.safe_load((ROOT / "config" / config).read_text())
        for section, values in (overrides or {}).items():
            if isinstance(values, list):  # e.g. apps: added to the file's
                raw[section] = [*raw.get(section, []), *values]
            else:
                raw.setdefault(section, {}).update(values)
        self.port = free_port()
        raw["http"]["port"] = self.port
        if raw["storage"].get("url"):  # PostgreSQL (overrides): no SQLite file
            raw["storage"].pop("path", None)
        else:
            raw["storage"]["path"] = str(tmp / "bridge.sqlite3")
        quick = {"ping_interval": 1, "ping_timeout": 2, "reconnect_min": 0.2, "reconnect_max": 2}
        if isinstance(raw["ami"], list):  # several nodes
            for node in raw["ami"]:
                node.update(quick, port=(ami_ports or {}).get(node["name"], node["port"]))
        else:
            raw["ami"].update(quick, port=sandbox.ami_port)
        if edit is not None:
            edit(raw)
        cfg = tmp / "bridge.yaml"
        cfg.write_text(yaml.safe_dump(raw))
        self.cfg, self.tmp = cfg, tmp
        self.log = tmp / "bridge.log"
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = self._spawn()

    def _spawn(self) -> subprocess.Popen[bytes]:
        with self.log.open("a") as log:  # the child keeps its own copy of the descriptor
            return subprocess.Popen(
                [str(ROOT / ".venv" / "bin" / "uapi-bridge"), "--config", str(self.cfg)],
                stdout=subprocess.DEVNULL,
                stderr=log,
                cwd=self.tmp,
            )

    def start(self) -> None:
        """Starts the daemon again (same config, port and database) after stop()."""
        assert self.proc.poll() is not None, "still running"
        self.proc = self._spawn()

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        token: str = CRM,
    ) -> tuple[int, Any]:
        """One API request: (status, the JSON answer or None when there is no body)."""
        headers = {"Authorization": f"Bearer {token}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(f"{self.url}{path}", data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                status, answer, raw = resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as exc:
            status, answer, raw = exc.code, exc.headers, exc.read()
        check_answer(self.url, method, path, status, answer.items(), raw)  # as openapi.yaml says
        return status, json.loads(raw) if raw else None

    def health(self) -> tuple[int, dict[str, Any]]:
        status, body = get(f"{self.url}/healthz")
        return status, json.loads(body) if body else {}

    def log_lines(self) -> list[dict[str, Any]]:
        return [
            json.loads(line) for line in self.log.read_text().splitlines() if line.startswith("{")
        ]

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=15)
