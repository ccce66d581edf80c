"""Pure: the token bucket that bounds the operator's request rate to the API server.

As client-go's ``flowcontrol.NewTokenBucketRateLimiter(qps, burst)`` (the limiter behind every
``rest.Config``'s ``QPS`` and ``Burst``, built on golang.org/x/time/rate): the bucket holds at
most ``burst`` tokens and refills at ``qps`` tokens a second; each request takes one, and a
request that finds none waits until its token is due. Tokens are *reserved*: the bucket may go
negative, so concurrent callers queue up in the order they asked and none waits longer than the
rate requires. The clock (monotonic seconds) and the sleep are passed in, so tests drive the
bucket with a fake clock that sleeping advances.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class TokenBucket:
    """Thread-safe client-side rate limit: at most ``burst`` requests at once after a quiet
    spell, ``qps`` a second on average; waits are in seconds."""

    def __init__(
        self,
        qps: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """``qps``: tokens added a second (> 0); ``burst``: the most tokens held, the requests
        that may go at once after a quiet spell (>= 1). Raises ValueError otherwise."""
        if not (math.isfinite(qps) and qps > 0):
            raise ValueError(f"qps must be a positive number, not {qps!r}")
        if burst < 1:
            raise ValueError(f"burst must be at least 1, not {burst!r}")
        self.qps = qps
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(burst)  # starts full, as client-go's
        self._last = clock()

    def reserve(self) -> float:
        """Take one token; the seconds (>= 0) the caller must wait before its request goes."""
        with self._lock:
            now = self._clock()
            elapsed = max(0.0, now - self._last)
            self._last = now
            self._tokens = min(float(self.burst), self._tokens + elapsed * self.qps) - 1.0
            return 0.0 if self._tokens >= 0 else -self._tokens / self.qps

    def acquire(self) -> float:
        """Take one token, sleeping until it is due; returns the seconds waited."""
        wait = self.reserve()
        if wait > 0:
            self._sleep(wait)
        return wait
