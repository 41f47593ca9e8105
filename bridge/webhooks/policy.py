"""What a delivery attempt came to and what to do after it (pure): done, retry later, or give
up; and when a registration that keeps failing is disabled."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Literal

Outcome = Literal["delivered", "retry", "failed", "gone"]
MAX_RETRY_AFTER = 3600.0


@dataclass(frozen=True)
class Decision:
    outcome: Outcome  # gone: 410, the registration is disabled
    delay: float = 0.0  # seconds until the next attempt (retry only)


@dataclass(frozen=True)
class Attempt:
    """What one request came to: the receiver's answer (`status`, its `retry_after`), no
    answer (`error`: a connection error, a timeout), or nothing sent (`refused`: the SSRF
    guard or no valid secret; retrying cannot help)."""

    status: int | None = None
    retry_after: str | None = None
    error: str | None = None
    refused: str | None = None  # why it was not sent

    @property
    def problem(self) -> str | None:
        """The error as the attempt is stored and logged (a refusal: `refused: <why>`)."""
        return f"refused: {self.refused}" if self.refused is not None else self.error


@dataclass(frozen=True)
class Backoff:
    minimum: float = 1.0
    maximum: float = 300.0
    max_attempts: int = 15

    def delay(self, attempt: int, rand: float) -> float:
        """Exponential (minimum * 2^(attempt-1), capped) with jitter: between half and all."""
        base = min(self.maximum, self.minimum * 2.0 ** max(0, attempt - 1))
        return float(base * (0.5 + rand / 2))


def decide(
    attempt: int,
    status: int | None,
    retry_after: str | None,
    backoff: Backoff,
    *,
    now: float,
    rand: float | None = None,
) -> Decision:
    """`status` None: a connection error or a timeout. 2xx delivered; 410 gone; 429, 5xx and
    errors retried (Retry-After honoured) until max_attempts; other answers (4xx, 3xx: no
    redirect is followed) failed."""
    if status is not None and 200 <= status < 300:
        return Decision("delivered")
    if status == 410:
        return Decision("gone")
    if status is not None and status != 429 and status < 500:
        return Decision("failed")
    if attempt >= backoff.max_attempts:
        return Decision("failed")
    delay = backoff.delay(attempt, random.random() if rand is None else rand)  # noqa: S311
    wait = retry_after_seconds(retry_after, now) if retry_after else None
    return Decision("retry", max(delay, wait) if wait is not None else delay)


def judge(
    attempt: int, result: Attempt, backoff: Backoff, *, now: float, rand: float | None = None
) -> Decision:
    """What to do after attempt number `attempt`: a refused one failed (the same refusal would
    come again); otherwise as `decide` says of its answer."""
    if result.refused is not None:
        return Decision("failed")
    return decide(attempt, result.status, result.retry_after, backoff, now=now, rand=rand)


def retry_after_seconds(raw: str, now: float) -> float | None:
    """Retry-After as seconds (delta or HTTP date), capped at an hour; None if unreadable."""
    raw = raw.strip()
    if raw.isdigit():
        return min(float(raw), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max(0.0, when.timestamp() - now), MAX_RETRY_AFTER)


def unhealthy(
    failing_since: float | None, given_up: int, now: float, *, after: float, min_failures: int
) -> bool:
    """Every attempt failed for `after` seconds (since `failing_since`, the first failure
    after the last success) and at least `min_failures` deliveries were given up meanwhile."""
    return failing_since is not None and now - failing_since >= after and given_up >= min_failures
