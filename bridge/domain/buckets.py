"""Token buckets: the arithmetic of every rate limit in the bridge (pure; the clock is passed in).

A bucket holds up to `burst` tokens and gains `rate` tokens a second. Taking a token that is
there succeeds at once; otherwise nothing is taken and the answer says how long until enough
tokens are there (so a refused request never uses up allowance). Used per app by
bridge.calls.limits (requests, calls) and per Asterisk node by bridge.ami.pacing (Originates).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Rate:
    """A token bucket's policy: `rate` tokens a second, at most `burst` at once."""

    rate: float
    burst: int

    @property
    def window(self) -> int:
        """Seconds an empty bucket takes to fill (the policy's window, whole, >= 1)."""
        return max(1, math.ceil(self.burst / self.rate))


class Bucket:
    """One token bucket; starts full."""

    def __init__(self, rate: Rate, now: float) -> None:
        self.rate = rate
        self.tokens = float(rate.burst)
        self.stamp = now

    def _refill(self, now: float) -> None:
        if now > self.stamp:
            self.tokens = min(
                float(self.rate.burst), self.tokens + (now - self.stamp) * self.rate.rate
            )
            self.stamp = now

    def take(self, now: float, count: int = 1) -> float:
        """Takes `count` tokens: 0.0 if taken, else the seconds until they are there (nothing
        taken; inf if `count` is more than the burst)."""
        self._refill(now)
        if self.tokens >= count:
            self.tokens -= count
            return 0.0
        if count > self.rate.burst:
            return math.inf
        return (count - self.tokens) / self.rate.rate

    def give(self, now: float, count: int = 1) -> None:
        """Gives back tokens taken for something that was then refused."""
        self._refill(now)
        self.tokens = min(float(self.rate.burst), self.tokens + count)

    def retune(self, rate: Rate, now: float) -> None:
        """Takes a new policy, keeping the tokens there (at most the new burst)."""
        self._refill(now)
        self.rate = rate
        self.tokens = min(self.tokens, float(rate.burst))

    def remaining(self, now: float) -> int:
        """Whole tokens there now."""
        self._refill(now)
        return int(self.tokens)

    def full_in(self, now: float) -> int:
        """Whole seconds until the bucket is full again (0: it is)."""
        self._refill(now)
        return math.ceil((self.rate.burst - self.tokens) / self.rate.rate)


def retry_after(seconds: float) -> int:
    """A Retry-After value: whole seconds, at least 1."""
    return max(1, math.ceil(seconds)) if math.isfinite(seconds) else 3600
