"""Wait on a condition with a deadline instead of sleeping a guessed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(RuntimeError):
    """The condition did not hold before the deadline."""


def wait_for(
    check: Callable[[], T], what: str, timeout: float, alive: Callable[[], None] | None = None
) -> T:
    """Poll ``check`` until it returns something truthy, and return that.

    ``alive`` is called before each poll and raises if the thing waited on has died, so a crash
    is reported at once rather than as a timeout.
    """
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        if alive:
            alive()
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise WaitTimeout(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 2, 1.0)
