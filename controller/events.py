"""Post Kubernetes Events in the background, as client-go's EventBroadcaster does: a reconcile
records an Event and goes on; a few threads post them. The queue is bounded
(``EventRecorder.capacity``, 10,000: a burst of 1,000 new jobs records about 4,000 within a
minute, which client-go's 1,000 would drop); past it an Event is dropped, counted and logged once
in a while, never waited for. An Event is best effort; the OmveeJob's status is the record.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any, Protocol

log = logging.getLogger(__name__)


class EventPoster(Protocol):
    def post_event(self, ojob: dict[str, Any], kind: str, reason: str, message: str) -> None: ...


class Recorder(Protocol):
    def record(self, ojob: dict[str, Any], kind: str, reason: str, message: str) -> None: ...


class PostNow:
    """A Recorder that posts each Event at once, in the caller's thread (tests, tools)."""

    def __init__(self, poster: EventPoster) -> None:
        self.poster = poster

    def record(self, ojob: dict[str, Any], kind: str, reason: str, message: str) -> None:
        self.poster.post_event(ojob, kind, reason, message)


class EventRecorder:
    def __init__(self, poster: EventPoster, capacity: int = 10_000, threads: int = 4) -> None:
        """``poster``: what posts one Event (controller.k8s.Kube, whose client rate limit
        applies); ``capacity``: Events waiting at most; ``threads``: posting at once."""
        self.poster = poster
        self.capacity = capacity
        self.threads = threads
        self.dropped = 0
        self._queue: queue.Queue[tuple[dict[str, Any], str, str, str] | None] = queue.Queue(
            capacity
        )

    def record(self, ojob: dict[str, Any], kind: str, reason: str, message: str) -> None:
        """Queue an Event of ``kind`` (Normal or Warning) on ``ojob``; never blocks."""
        try:
            self._queue.put_nowait((ojob, kind, reason, message))
        except queue.Full:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning(
                    "Event queue full (%d): %d Event(s) dropped", self.capacity, self.dropped
                )

    def pending(self) -> int:
        return self._queue.qsize()

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                item = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            if item is None:
                return
            try:
                self.poster.post_event(*item)
            except Exception:  # e.g. the API server away: this Event is lost, the next may go
                log.exception("Could not post Event %s", item[2])

    def start(self, stop: threading.Event) -> list[threading.Thread]:
        threads = [
            threading.Thread(target=self.run, args=(stop,), name=f"events-{i}", daemon=True)
            for i in range(self.threads)
        ]
        for thread in threads:
            thread.start()
        return threads
