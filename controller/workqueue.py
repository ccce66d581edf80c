"""A deduplicating work queue of OmveeJob keys, as controller-runtime's workqueue.

Watch events only add keys; a fixed pool of workers reconciles them. A key added many times
while it waits is reconciled once, and a key is never reconciled by two workers at once (added
while in progress, it is queued again for after). So a burst of pod and Job events costs one
reconcile per OmveeJob, and a restart over thousands of jobs cannot run more than ``workers``
reconciles at a time.

A reconcile that raises is retried after a per-key exponential backoff (``add_rate_limited``),
as client-go's ``workqueue.DefaultTypedControllerRateLimiter``: its per-item limiter waits
5 ms doubling to 1000 s, and ``Forget`` after a success starts the key over. Our bounds are
``FIRST_RETRY_SECONDS`` doubling to ``MAX_RETRY_SECONDS`` (see there for why). A watch event or
the resync still adds a backing-off key at once (``add``), as upstream's handlers do.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import ClassVar, Generic, TypeVar

K = TypeVar("K", bound=Hashable)

# client-go starts at 5 ms because its controllers meet most errors as write conflicts that an
# immediate retry resolves; the reconciler retries conflicts in place already, so what reaches
# the queue is the API server away, overloaded or timing out. 0.5 s gives a blip a quick second
# try without turning an outage into a retry storm (the client's token bucket bounds the rest).
FIRST_RETRY_SECONDS = 0.5
# Not client-go's 1000 s: after an outage every failed job should be back within a minute, and
# the resync re-queues every unsettled job every OMVEE_RESYNC_SECONDS anyway.
MAX_RETRY_SECONDS = 60.0
URGENT_RUN = 4  # urgent keys handed out in a row before one that is not (when both wait)


def retry_delay(
    failures: int, first: float = FIRST_RETRY_SECONDS, cap: float = MAX_RETRY_SECONDS
) -> float:
    """Pure: seconds before a key that has failed ``failures`` times in a row (>= 1) is tried
    again: ``first``, doubling, at most ``cap`` (0.5, 1, 2, 4 ... 32, 60, 60 ... s)."""
    exponent = min(max(failures - 1, 0), 64)  # 2**64 * first is past any cap; no overflow
    return float(min(first * 2.0**exponent, cap))


class WorkQueue(Generic[K]):
    """Thread-safe: ``add`` keys, workers ``get`` one and call ``done`` after; a key is handed
    to one worker at a time and waits once however often it is added. ``close`` wakes every
    waiting worker with None."""

    def __init__(
        self, first_retry: float = FIRST_RETRY_SECONDS, max_retry: float = MAX_RETRY_SECONDS
    ) -> None:
        """``first_retry``, ``max_retry``: the per-key error backoff, seconds (``retry_delay``)."""
        self.first_retry = first_retry
        self.max_retry = max_retry
        self._failures: dict[K, int] = {}  # failures in a row per key, until forget()
        self._ready: deque[K] = deque()
        self._urgent: deque[K] = deque()  # handed out before _ready (add(key, urgent=True))
        self._urgent_after: set[K] = set()  # added urgent while in progress
        self._urgent_run = 0  # urgent keys handed out in a row
        self._dirty: set[K] = set()  # waiting to be (re)processed
        self._processing: set[K] = set()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # workers wait on it
        self._delays_changed = threading.Condition(self._lock)  # the delay thread waits on it
        self._closed = False
        # add_after: (due, tiebreak, key) in a heap, moved to the queue by one timer thread
        self._delayed: list[tuple[float, int, K]] = []
        self._due: dict[K, float] = {}  # the one due time that counts per waiting key
        self._sequence = itertools.count()
        self._timer: threading.Thread | None = None

    def add_after(self, key: K, delay: float) -> None:
        """Add ``key`` once ``delay`` seconds have passed (controller-runtime's AddAfter): a key
        already waiting keeps the earlier of its two due times, so repeated requests for one
        key never pile up."""
        if delay <= 0:
            self.add(key)
            return
        with self._changed:
            if self._closed:
                return
            due = time.monotonic() + delay
            if key in self._due and self._due[key] <= due:
                return
            self._due[key] = due
            heapq.heappush(self._delayed, (due, next(self._sequence), key))
            if self._timer is None:
                self._timer = threading.Thread(
                    target=self._release_due, name="workqueue-delays", daemon=True
                )
                self._timer.start()
            self._delays_changed.notify()

    def add_rate_limited(self, key: K) -> float:
        """Count one more failure of ``key`` and add it back once its backoff has passed
        (client-go's AddRateLimited); returns that backoff, seconds."""
        with self._changed:
            failures = self._failures.get(key, 0) + 1
            self._failures[key] = failures
        delay = retry_delay(failures, self.first_retry, self.max_retry)
        self.add_after(key, delay)
        return delay

    def forget(self, key: K) -> None:
        """``key`` succeeded: its next failure backs off from the start again (Forget)."""
        with self._changed:
            self._failures.pop(key, None)

    def failures(self, key: K) -> int:
        """Failures of ``key`` in a row since it last succeeded (NumRequeues)."""
        with self._changed:
            return self._failures.get(key, 0)

    def _release_due(self) -> None:
        with self._changed:
            while not self._closed:
                now = time.monotonic()
                while self._delayed and self._delayed[0][0] <= now:
                    due, _, key = heapq.heappop(self._delayed)
                    if self._due.get(key) == due:  # else superseded by an earlier due time
                        del self._due[key]
                        self._add_locked(key)
                wait = self._delayed[0][0] - now if self._delayed else None
                self._delays_changed.wait(wait)

    def add(self, key: K, urgent: bool = False) -> None:
        """Queue ``key``; ``urgent`` keys go first (as controller-runtime's priority queue),
        e.g. an OmveeJob whose Job is yet to be created ahead of status updates, but one other
        key goes every URGENT_RUN urgent ones. A key already waiting keeps its place."""
        with self._changed:
            self._add_locked(key, urgent)

    def _add_locked(self, key: K, urgent: bool = False) -> None:
        if self._closed:
            return
        if key in self._dirty:
            if urgent and key in self._processing:
                self._urgent_after.add(key)
            return
        self._dirty.add(key)
        if key not in self._processing:
            (self._urgent if urgent else self._ready).append(key)
            self._changed.notify()
        elif urgent:
            self._urgent_after.add(key)

    def get(self) -> K | None:
        """The next key to process, or None once the queue is closed."""
        with self._changed:
            while not self._ready and not self._urgent and not self._closed:
                self._changed.wait()
            if self._closed:
                return None
            # Every URGENT_RUN urgent keys one other goes, so a burst of new jobs cannot hold
            # up cancels, completions and timeouts for long.
            take_urgent = self._urgent and (not self._ready or self._urgent_run < URGENT_RUN)
            if take_urgent:
                key = self._urgent.popleft()
                self._urgent_run += 1
            else:
                key = self._ready.popleft()
                self._urgent_run = 0
            self._dirty.discard(key)
            self._processing.add(key)
            return key

    def done(self, key: K) -> None:
        """A worker finished ``key``: if it was added meanwhile, it is queued again now."""
        with self._changed:
            self._processing.discard(key)
            urgent = key in self._urgent_after
            self._urgent_after.discard(key)
            if key in self._dirty:
                (self._urgent if urgent else self._ready).append(key)
                self._changed.notify()

    def __len__(self) -> int:
        """Keys ready for a worker (the queue's depth): not those in progress or delayed."""
        with self._changed:
            return len(self._ready) + len(self._urgent)

    def close(self) -> None:
        """Stop: ``get`` returns None from now on, and adds are ignored."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
            self._delays_changed.notify_all()


@dataclass(frozen=True)
class Requeue:
    """Why and when a worker put a key back: ``reason`` (``ERROR``: the work raised ``error``;
    ``RECHECK``: it asked to look again) and ``after``, seconds."""

    ERROR: ClassVar[str] = "Error"
    RECHECK: ClassVar[str] = "Recheck"

    reason: str
    after: float
    error: Exception | None = None


def start_workers(
    queue: WorkQueue[K],
    count: int,
    work: Callable[[K], float | None],
    on_requeue: Callable[[K, Requeue], None],
) -> list[threading.Thread]:
    """Start ``count`` threads that take keys from ``queue`` and call ``work`` on each, as
    controller-runtime's reconcileHandler: ``work`` returns seconds after which to look at the
    key again (``add_after``) or None; a success forgets the key's failures, an exception
    re-adds it after its backoff (``add_rate_limited``) and never stops the worker. Every
    re-add is reported to ``on_requeue`` (which must not raise)."""

    def loop() -> None:
        while (key := queue.get()) is not None:
            try:
                again = work(key)
            except Exception as error:  # one job's trouble must not stop the worker
                on_requeue(key, Requeue(Requeue.ERROR, queue.add_rate_limited(key), error))
            else:
                queue.forget(key)
                if again is not None:
                    queue.add_after(key, again)
                    on_requeue(key, Requeue(Requeue.RECHECK, again))
            finally:
                queue.done(key)

    threads = [
        threading.Thread(target=loop, name=f"reconcile-{i}", daemon=True) for i in range(count)
    ]
    for thread in threads:
        thread.start()
    return threads
