"""Events are posted in the background: recording never waits on the API server, every Event
is posted while the queue has room, and past it Events are dropped and counted."""

from __future__ import annotations

import threading
import time
from typing import Any

from controller.events import EventRecorder
from tests.waiting import wait_for


class SlowPoster:
    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.posted: list[str] = []
        self.lock = threading.Lock()

    def post_event(
        self, ojob: dict[str, Any], kind: str, reason: str, message: str, at: Any = None
    ) -> None:
        time.sleep(self.delay)
        with self.lock:
            self.posted.append(reason)


OJOB = {"metadata": {"namespace": "ns", "name": "a", "uid": "u"}}


def ojob(uid: str) -> dict[str, Any]:
    return {"metadata": {"namespace": "ns", "name": uid, "uid": uid}}


def test_recording_never_waits_and_every_event_is_posted() -> None:
    poster = SlowPoster(0.05)
    recorder = EventRecorder(poster, capacity=100, threads=4)
    stop = threading.Event()
    recorder.start(stop)
    started = time.monotonic()
    for i in range(40):
        recorder.record(ojob(f"u{i}"), "Normal", f"R{i}", "m")
    assert time.monotonic() - started < 0.05  # 40 posts take 0.5 s at 4 at once
    wait_for(lambda: len(poster.posted) == 40, "40 Events posted", 10)
    assert sorted(poster.posted) == sorted(f"R{i}" for i in range(40))
    stop.set()


def test_past_capacity_events_are_dropped_and_counted() -> None:
    poster = SlowPoster(0.0)
    recorder = EventRecorder(poster, capacity=3, threads=1)  # not started: nothing drains
    for i in range(5):
        recorder.record(OJOB, "Normal", f"R{i}", "m")
    assert (recorder.pending(), recorder.dropped) == (3, 2)


def test_one_objects_events_are_posted_in_the_order_recorded() -> None:
    poster = SlowPoster(0.001)
    recorder = EventRecorder(poster, threads=4)
    stop = threading.Event()
    recorder.start(stop)
    for i in range(50):
        recorder.record(OJOB, "Normal", f"R{i}", "m")
    wait_for(lambda: len(poster.posted) == 50, "50 Events posted", 10)
    assert poster.posted == [f"R{i}" for i in range(50)]
    stop.set()
