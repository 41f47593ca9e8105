"""SSRF guard: webhooks go to public addresses only, unless a network is allow-listed."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_BLOCKED = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4",
    "240.0.0.0/4", "::/128", "::1/128", "::ffff:0:0/96", "64:ff9b::/96", "fc00::/7",
    "fe80::/10", "ff00::/8",
))


class BlockedAddress(OSError):
    """The receiver resolves to an address the bridge may not call."""


def allowed(address: Address, allow: Sequence[Network]) -> bool:
    """Public unicast only (Python's special-purpose registry plus CGNAT and NAT64), unless
    allow-listed."""
    if any(address.version == n.version and address in n for n in allow):
        return True
    if (address.is_private or address.is_loopback or address.is_link_local
            or address.is_multicast or address.is_unspecified or address.is_reserved):
        return False
    return not any(address.version == n.version and address in n for n in _BLOCKED)


def url_problem(url: str, allow: Sequence[Network]) -> str | None:
    """Why a registration URL is refused (None: acceptable). Names are checked when used."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "not a URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an absolute http:// or https:// URL"
    if port == 0 or parts.username or parts.password:
        return "must not carry a port 0 or credentials"
    host = parts.hostname
    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(
            ".localhost"):
        host = "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if not allowed(address, allow):
        return f"{address} is a loopback, private or reserved address (webhooks.allow_networks)"
    return None


class GuardedResolver(AbstractResolver):
    """Resolves like aiohttp, then drops every address the guard refuses (checked at connect
    time, after DNS: a name cannot smuggle a private address in)."""

    def __init__(self, allow: Sequence[Network]) -> None:
        self._inner = ThreadedResolver()
        self._allow = tuple(allow)

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        kept = [r for r in found if allowed(ipaddress.ip_address(r["host"]), self._allow)]
        if not kept:
            raise BlockedAddress(f"{host} resolves only to refused addresses")
        return kept

    async def close(self) -> None:
        await self._inner.close()
