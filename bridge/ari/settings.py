"""`ami.ari:` of a node (read and checked by bridge.config): where its ARI answers, and as whom."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from bridge.config_reader import Reader


@dataclass(frozen=True)
class AriConfig:
    url: str  # e.g. http://127.0.0.1:8088/ari (Asterisk's http.conf prefix + /ari)
    username: str
    password: str
    timeout: float = 5.0  # seconds to connect, and between two reads of an answer


def read_ari(r: Reader, raw: Any, where: str) -> AriConfig | None:
    """The node's `ari:` mapping, or None when it has none (recordings then answer 501)."""
    if raw is None:
        return None
    path = f"{where}.ari"
    sec = r.section(raw, path, {"url", "username", "password", "timeout"})
    if not sec:
        return None
    url = r.get(sec, "url", path, str, "").rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        r.problem(f"{path}.url", "must be an absolute http(s) URL like http://127.0.0.1:8088/ari")
    username = r.get(sec, "username", path, str, "")
    if not username or ":" in username:
        r.problem(f"{path}.username", "must not be empty or hold ':'")
    password = r.get(sec, "password", path, str, "")
    if not password and not any(p.startswith(f"{path}.password:") for p in r.problems):
        r.problem(f"{path}.password", "must not be empty")
    timeout = r.get(sec, "timeout", path, float, AriConfig.timeout)
    if timeout <= 0:
        r.problem(f"{path}.timeout", "must be greater than 0")
    return AriConfig(url, username, password, timeout)
