"""A deduplicating work queue of OmveeJob keys, as controller-runtime's workqueue.

Watch events only add keys; a fixed pool of workers reconciles them. A key added many times
while it waits is reconciled once, and a key is never reconciled by two workers at once (added
while in progress, it is queued again for after). So a burst of pod and Job events costs one
reconcile per OmveeJob, and a restart over thousands of jobs cannot run more than ``workers``
reconciles at a time.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class WorkQueue(Generic[K]):
    def __init__(self) -> None:
        self._ready: deque[K] = deque()
        self._dirty: set[K] = set()  # waiting to be (re)processed
        self._processing: set[K] = set()
        self._changed = threading.Condition()
        self._closed = False

    def add(self, key: K) -> None:
        with self._changed:
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
