"""HTTPS served by the bridge itself: `http.tls` in the config, and its TLS context."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge.config_reader import Reader


@dataclass(frozen=True)
class TlsConfig:
    cert: str  # PEM certificate chain
    key: str  # PEM private key


def read_tls(r: Reader, raw: Any) -> TlsConfig | None:
    """`http.tls: {cert: PATH, key: PATH}`, or None when absent (plain HTTP)."""
    if raw is None:
        return None
    sec = r.section(raw, "http.tls", {"cert", "key"})
    tls = TlsConfig(r.get(sec, "cert", "http.tls", str, ""), r.get(sec, "key", "http.tls", str, ""))
    for name in ("cert", "key"):
        if isinstance(raw, dict) and not getattr(tls, name):
            r.problem(f"http.tls.{name}", "must be the path of a PEM file")
    return tls


def server_context(tls: TlsConfig) -> ssl.SSLContext:
    """A server-side context with the certificate chain and its key; OSError if unusable."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(tls.cert, tls.key)
    return context


def tls_problems(tls: TlsConfig | None) -> list[str]:
    """Why the certificate or key cannot serve HTTPS (unreadable, not PEM, not a pair)."""
    if tls is None:
        return []
    for name in ("cert", "key"):
        path = getattr(tls, name)
        try:
            Path(path).read_bytes()
        except OSError as exc:
            return [f"http.tls.{name}: cannot read {path}: {exc.strerror}"]
    try:
        server_context(tls)
    except (OSError, ValueError) as exc:
        return [f"http.tls: {tls.cert} and {tls.key} are not a usable certificate and key: {exc}"]
    return []
