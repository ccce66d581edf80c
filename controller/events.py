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
import zlib
from datetime import UTC, datetime
from typing import Any, Protocol

log = logging.getLogger(__name__)


class EventPoster(Protocol):
    """What posts one Event on an OmveeJob (controller.k8s.Kube)."""

    def post_event(
        self, ojob: dict[str, Any], kind: str, reason: str, message: str, at: datetime
    ) -> None:
        """Post an Event of ``kind`` (Normal or Warning) on ``ojob``, stamped ``at``; may
        raise on an API error (EventRecorder logs it and goes on)."""
        ...


class Recorder(Protocol):
    """Where the reconciler records Events: ``kind`` Normal or Warning, ``reason`` one word,
    ``message`` one sentence."""

    def record(self, ojob: dict[str, Any], kind: str, reason: str, message: str) -> None:
        """Record an Event on ``ojob``; must not raise."""
        ...


class PostNow:
    """A Recorder that posts each Event at once, in the caller's thread (tests, tools)."""

    def __init__(self, poster: EventPoster) -> None:
        self.poster = poster

    def record(self, ojob: dict[str, Any], kind: str, reason: str, message: str) -> None:
        """Post the Event now, stamped with the current time; raises what the poster does."""
        self.poster.post_event(ojob, kind, reason, message, datetime.now(UTC))


Item = tuple[dict[str, Any], str, str, str, datetime]


class EventRecorder:
    """A Recorder that queues Events and posts them from ``threads`` threads. One OmveeJob's
    Events always go through the same thread (by a hash of its uid), so they are posted in
    the order recorded, stamped with the time they were recorded."""

    def __init__(self, poster: EventPoster, capacity: int = 10_000, threads: int = 4) -> None:
        """``poster``: what posts one Event (controller.k8s.Kube, whose client rate limit
        applies); ``capacity``: Events waiting at most, all threads together; ``threads``:
        posting at once."""
        self.poster = poster
        self.capacity = capacity
        self.threads = threads
        self.dropped = 0
        self._lock = threading.Lock()
        self._queues: list[queue.Queue[Item]] = [
            queue.Queue(max(1, capacity // threads)) for _ in range(threads)
        ]

    def record(self, ojob: dict[str, Any], kind: str, reason: str, message: str) -> None:
        """Queue an Event of ``kind`` (Normal or Warning) on ``ojob``; never blocks."""
        uid = str(ojob.get("metadata", {}).get("uid") or "")
        lane = self._queues[zlib.crc32(uid.encode()) % self.threads]
        try:
            lane.put_nowait((ojob, kind, reason, message, datetime.now(UTC)))
        except queue.Full:
            with self._lock:
                self.dropped += 1
                dropped = self.dropped
            if dropped == 1 or dropped % 1000 == 0:
                log.warning("Event queue full (%d): %d Event(s) dropped", self.capacity, dropped)

    def pending(self) -> int:
        """Events waiting to be posted."""
        return sum(lane.qsize() for lane in self._queues)

    def run(self, lane: int, stop: threading.Event) -> None:
        """Post the Events of queue ``lane`` until ``stop`` (what each thread runs)."""
        while not stop.is_set():
            try:
                item = self._queues[lane].get(timeout=0.5)
            except queue.Empty:
                continue
            try:
                self.poster.post_event(*item)
            except Exception:  # e.g. the API server away: this Event is lost, the next may go
                log.exception("Could not post Event %s", item[2])

    def start(self, stop: threading.Event) -> list[threading.Thread]:
        """Start the posting threads; they end once ``stop`` is set."""
        threads = [
            threading.Thread(target=self.run, args=(i, stop), name=f"events-{i}", daemon=True)
            for i in range(self.threads)
        ]
        for thread in threads:
            thread.start()
        return threads
