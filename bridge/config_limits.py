"""The `limits` of the config (top level and per app), read with every problem by dotted path.

`limits: {requests: {rate, burst}, calls: {rate, burst}}` at the top level; an app's
`apps[].limits` may give any part of it, and takes what it leaves out from the top level.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bridge.config_reader import Reader
from bridge.domain.buckets import Rate

KINDS = ("requests", "calls")


@dataclass(frozen=True)
class LimitsConfig:
    """Per app: every API request, and every request that makes Asterisk dial."""

    requests: Rate = field(default_factory=lambda: Rate(50.0, 100))
    calls: Rate = field(default_factory=lambda: Rate(5.0, 20))

    def of(self, kind: str) -> Rate:
        rate: Rate = getattr(self, kind)
        return rate


@dataclass(frozen=True)
class LimitsOverride:
    """An app's `limits`: None where it takes the top level's value."""

    requests_rate: float | None = None
    requests_burst: int | None = None
    calls_rate: float | None = None
    calls_burst: int | None = None

    def over(self, top: LimitsConfig) -> LimitsConfig:
        """The app's effective limits."""
        return LimitsConfig(
            *(
                Rate(
                    rate
                    if (rate := getattr(self, f"{kind}_rate")) is not None
                    else top.of(kind).rate,
                    burst
                    if (burst := getattr(self, f"{kind}_burst")) is not None
                    else top.of(kind).burst,
                )
                for kind in KINDS
            )
        )


def _number(r: Reader, sec: dict[str, Any], key: str, where: str, kind: type) -> Any:
    value = r.get(sec, key, where, kind, None)
    if value is not None and value <= 0:
        r.problem(f"{where}.{key}", "must be greater than 0")
        return None
    return value


def _values(r: Reader, raw: Any, where: str) -> dict[str, Any]:
    sec = r.section(raw, where, set(KINDS))
    out: dict[str, Any] = {}
    for kind in KINDS:
        part = r.section(sec.get(kind), f"{where}.{kind}", {"rate", "burst"})
        out[f"{kind}_rate"] = _number(r, part, "rate", f"{where}.{kind}", float)
        out[f"{kind}_burst"] = _number(r, part, "burst", f"{where}.{kind}", int)
    return out


def read_limits(r: Reader, raw: Any) -> LimitsConfig:
    """The top-level `limits` (defaults for what it leaves out)."""
    return LimitsOverride(**_values(r, raw, "limits")).over(LimitsConfig())


def read_override(r: Reader, raw: Any, where: str) -> LimitsOverride | None:
    """An app's `limits` (None: not given)."""
    if raw is None:
        return None
    return LimitsOverride(**_values(r, raw, f"{where}.limits"))


def read_max_calls(r: Reader, item: dict[str, Any], where: str) -> int | None:
    """`organizations[].max_calls` / `users[].max_calls`: live calls at once (None: no cap)."""
    value = r.get(item, "max_calls", where, int, None)
    if value is not None and value < 1:
        r.problem(f"{where}.max_calls", "must be at least 1")
        return None
    return value
