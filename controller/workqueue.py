"""A deduplicating work queue of OmveeJob keys, as controller-runtime's workqueue.

Watch events only add keys; a fixed pool of workers reconciles them. A key added many times
while it waits is reconciled once, and a key is never reconciled by two workers at once (added
while in progress, it is queued again for after). So a burst of pod and Job events costs one
reconcile per OmveeJob, and a restart over thousands of jobs cannot run more than ``workers``
reconciles at a time.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class WorkQueue(Generic[K]):
    def __init__(self) -> None:
        self._ready: deque[K] = deque()
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

    def add(self, key: K) -> None:
        with self._changed:
            self._add_locked(key)

    def _add_locked(self, key: K) -> None:
        if key in self._dirty or self._closed:
            return
        self._dirty.add(key)
        if key not in self._processing:
            self._ready.append(key)
            self._changed.notify()

    def get(self) -> K | None:
        """The next key to process, or None once the queue is closed."""
        with self._changed:
            while not self._ready and not self._closed:
                self._changed.wait()
            if self._closed:
                return None
            key = self._ready.popleft()
            self._dirty.discard(key)
            self._processing.add(key)
            return key

    def done(self, key: K) -> None:
        with self._changed:
            self._processing.discard(key)
            if key in self._dirty:
                self._ready.append(key)
                self._changed.notify()

    def __len__(self) -> int:
        with self._changed:
            return len(self._ready)

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()
            self._delays_changed.notify_all()


def start_workers(
    queue: WorkQueue[K],
    count: int,
    work: Callable[[K], None],
    on_error: Callable[[K, Exception], None],
) -> list[threading.Thread]:
    def loop() -> None:
        while (key := queue.get()) is not None:
            try:
                work(key)
            except Exception as error:  # one job's trouble must not stop the worker
                on_error(key, error)
            finally:
                queue.done(key)

    threads = [
        threading.Thread(target=loop, name=f"reconcile-{i}", daemon=True) for i in range(count)
    ]
    for thread in threads:
        thread.start()
    return threads
