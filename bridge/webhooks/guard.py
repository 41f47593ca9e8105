"""SSRF guard: webhooks go to public addresses only, unless a network is allow-listed."""

from __future__ import annotations

import ipaddress
import re
import socket
import unicodedata
from collections.abc import Sequence

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from yarl import URL

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_BLOCKED = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/128",
        "::1/128",
        "::ffff:0:0/96",
        "64:ff9b::/96",
        "fc00::/7",
        "fe80::/10",
        "ff00::/8",
    )
)
_NUMERIC_LABEL = re.compile(r"0x[0-9a-f]*|[0-9]+")
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_DOTTED_QUAD = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")
_NAME_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")


class BlockedAddress(OSError):
    """The receiver resolves to an address the bridge may not call."""


def allowed(address: Address, allow: Sequence[Network]) -> bool:
    """Public unicast only (Python's special-purpose registry plus CGNAT and NAT64), unless
    allow-listed."""
    if any(address.version == n.version and address in n for n in allow):
        return True
    if (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_unspecified
        or address.is_reserved
    ):
        return False
    return not any(address.version == n.version and address in n for n in _BLOCKED)


class UrlRefused(ValueError):
    """A webhook URL the bridge will not store or call (the message says why)."""


def normalize(url: str) -> str:
    """The URL as stored and called: scheme and host lower-case, IDNA, default port and
    fragment dropped. Refuses control characters and whitespace anywhere, and any host that
    is neither a name nor a canonical IP literal (`2130706433`, `0x7f000001`, `127.1`, `0`: a
    parser elsewhere may read them as an address the guard never saw)."""
    bad = next((ch for ch in url if _invisible(ch)), None)
    if bad is not None:
        raise UrlRefused(f"must not contain whitespace or control characters ({bad!r})")
    try:
        parsed = URL(url)
        port = parsed.explicit_port
    except (ValueError, TypeError) as exc:
        raise UrlRefused("is not a URL") from exc
    if parsed.scheme not in ("http", "https") or not parsed.raw_host:
        raise UrlRefused("must be an absolute http:// or https:// URL")
    if port == 0 or parsed.raw_user or parsed.raw_password:
        raise UrlRefused("must not carry a port 0 or credentials")
    _check_host(parsed.raw_host)
    return str(parsed.with_fragment(None))


def _invisible(ch: str) -> bool:
    return ch.isspace() or unicodedata.category(ch)[0] in "CZ"


def _check_host(host: str) -> None:
    if ":" in host:  # an IPv6 literal
        try:
            ipaddress.IPv6Address(host)
        except ValueError as exc:
            raise UrlRefused(f"host [{host}] is not an IPv6 address") from exc
        return
    labels = host.removesuffix(".").split(".")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):  # read as an IPv4 address by WHATWG parsers
        if not _DOTTED_QUAD.fullmatch(host):
            raise UrlRefused(
                f"host {host!r} is a numeric address spelling; write an IPv4 "
                "address as a dotted quad (like 93.184.216.34)"
            )
        return
    if not all(_NAME_LABEL.fullmatch(label) for label in labels):
        raise UrlRefused(f"host {host!r} is not a valid host name")


def url_problem(url: str, allow: Sequence[Network]) -> str | None:
    """Why a registration URL is refused (None: acceptable). Names are checked when used."""
    try:
        host = (URL(normalize(url)).raw_host or "").removesuffix(".")
    except UrlRefused as exc:
        return str(exc)
    if host in ("localhost", "localhost.localdomain") or host.endswith(".localhost"):
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

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        kept = [r for r in found if allowed(ipaddress.ip_address(r["host"]), self._allow)]
        if not kept:
            raise BlockedAddress(f"{host} resolves only to refused addresses")
        return kept

    async def close(self) -> None:
        await self._inner.close()
