"""Token buckets (bridge.domain.buckets): taking, refusing without taking, refilling, retuning."""

from __future__ import annotations

import math

import pytest

from bridge.domain.buckets import Bucket, Rate, retry_after


def test_a_full_bucket_gives_its_burst_then_refuses() -> None:
    """A new bucket holds `burst` tokens; the next take says how long until one is there."""
    bucket = Bucket(Rate(2.0, 5), now=0.0)
    assert [bucket.take(0.0) for _ in range(5)] == [0.0] * 5
    assert bucket.take(0.0) == pytest.approx(0.5)


def test_a_refused_take_uses_up_nothing() -> None:
    """Refusals leave the tokens as they were: after waiting, the request goes through."""
    bucket = Bucket(Rate(1.0, 1), now=0.0)
    assert bucket.take(0.0) == 0.0
    for _ in range(10):
        assert bucket.take(0.5) > 0
    assert bucket.take(1.0) == 0.0


def test_refill_is_capped_at_the_burst() -> None:
    """An hour idle gives back no more than `burst` tokens."""
    bucket = Bucket(Rate(10.0, 3), now=0.0)
    for _ in range(3):
        bucket.take(0.0)
    assert bucket.remaining(3600.0) == 3
    assert bucket.full_in(3600.0) == 0


def test_taking_several_at_once() -> None:
    """count > tokens: refused whole; count > burst: never (inf)."""
    bucket = Bucket(Rate(1.0, 3), now=0.0)
    assert bucket.take(0.0, 2) == 0.0
    assert bucket.take(0.0, 2) == pytest.approx(1.0)
    assert bucket.remaining(0.0) == 1
    assert math.isinf(bucket.take(0.0, 4))


def test_give_back_and_retune() -> None:
    """give() returns tokens (capped); retune() keeps the tokens under the new burst."""
    bucket = Bucket(Rate(1.0, 10), now=0.0)
    for _ in range(10):
        bucket.take(0.0)
    bucket.give(0.0, 3)
    assert bucket.remaining(0.0) == 3
    bucket.retune(Rate(100.0, 2), now=0.0)
    assert bucket.remaining(0.0) == 2
    assert bucket.take(0.0, 2) == 0.0
    assert bucket.take(0.0) == pytest.approx(0.01)


def test_window_and_full_in() -> None:
    """The policy window is the time to fill an empty bucket (whole seconds, >= 1)."""
    assert Rate(50.0, 100).window == 2
    assert Rate(5.0, 20).window == 4
    assert Rate(200.0, 10).window == 1
    bucket = Bucket(Rate(2.0, 5), now=0.0)
    for _ in range(5):
        bucket.take(0.0)
    assert bucket.full_in(0.0) == 3


@pytest.mark.parametrize(("seconds", "header"), [(0.01, 1), (1.0, 1), (1.2, 2), (math.inf, 3600)])
def test_retry_after_is_whole_seconds_at_least_one(seconds: float, header: int) -> None:
    """Retry-After rounds up and is never 0."""
    assert retry_after(seconds) == header
