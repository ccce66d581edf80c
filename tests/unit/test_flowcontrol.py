"""The API client's token bucket, driven by a fake clock: bursts pass, then the rate holds."""

from __future__ import annotations

import math

import pytest

from controller.flowcontrol import TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_a_full_bucket_lets_a_burst_through_then_spaces_requests_at_the_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(qps=10, burst=3, clock=clock)
    waits = [bucket.reserve() for _ in range(6)]  # all asked at the same instant
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3:] == pytest.approx([0.1, 0.2, 0.3])  # queued in order, one per 1/qps


def test_acquire_sleeps_for_the_wait_and_the_rate_holds_over_time() -> None:
    clock = Clock()
    bucket = TokenBucket(qps=50, burst=100, clock=clock, sleep=clock.sleep)
    start = clock.now
    waited = sum(bucket.acquire() for _ in range(1100))
    # 100 at once, the other 1,000 at 50 a second
    assert clock.now - start == pytest.approx(20.0)
    assert waited > 0


def test_the_bucket_refills_while_quiet_but_never_beyond_burst() -> None:
    clock = Clock()
    bucket = TokenBucket(qps=2, burst=2, clock=clock)
    assert [bucket.reserve(), bucket.reserve()] == [0.0, 0.0]
    clock.now += 0.5  # one token back
    assert bucket.reserve() == 0.0
    assert bucket.reserve() == pytest.approx(0.5)
    clock.now += 3600  # an hour idle: still only two at once
    assert [bucket.reserve(), bucket.reserve()] == [0.0, 0.0]
    assert bucket.reserve() == pytest.approx(0.5)


def test_a_clock_going_backwards_adds_no_tokens() -> None:
    clock = Clock()
    bucket = TokenBucket(qps=1, burst=1, clock=clock)
    assert bucket.reserve() == 0.0
    clock.now -= 10
    assert bucket.reserve() == pytest.approx(1.0)


@pytest.mark.parametrize(("qps", "burst"), [(0, 1), (-1, 1), (math.inf, 1), (math.nan, 1), (1, 0)])
def test_nonsense_bounds_are_refused(qps: float, burst: int) -> None:
    with pytest.raises(ValueError):
        TokenBucket(qps=qps, burst=burst)
