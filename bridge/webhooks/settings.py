"""The `webhooks:` settings the dispatcher runs with (read and checked by bridge.config)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

MAX_OVERLAP = 7 * 86400.0  # seconds a rotated-out secret may keep signing, at most


@dataclass(frozen=True)
class WebhooksConfig:
    allow_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    timeout: float = 10.0  # seconds per delivery attempt
    per_receiver: int = 4  # attempts in flight at once to one host:port
    max_attempts: int = 15  # then the delivery is given up (about an hour of retries)
    backoff_min: float = 1.0  # first retry after about this many seconds, doubling
    backoff_max: float = 300.0
    shutdown_grace: float = 5.0  # SIGTERM: in-flight attempts may finish for this long
    max_registrations: int = 50  # PhoneCallEvents per extension and app
    max_response_bytes: int = 64 * 1024  # of a receiver's answer read, the rest is dropped
    retention: float = 7 * 86400.0  # seconds finished deliveries and attempt logs are kept
    rotation_overlap: float = 86400.0  # seconds a rotated-out secret still signs (default)
    disable_after: float = 5 * 86400.0  # a registration failing this long is disabled ...
    disable_min_failures: int = 10  # ... once at least this many deliveries were given up
