"""Deliver mirror rows in the background: newest row per job, retried with backoff, bounded.

The operator never waits on the database: ``offer`` only records the newest row of a job, and
one thread writes them. While the database is unreachable rows wait (one per job, at most
``capacity``; past that the oldest is dropped and the next resync offers it again) and the log
says the mirror is behind; when writes succeed again it says when it caught up.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from typing import Any

from controller.metrics.registry import OperatorMetrics
from controller.mirror.sinks import Sink, failure_reason

log = logging.getLogger("controller.mirror")


class MirrorWriter:
    def __init__(
        self,
        sink: Sink,
        capacity: int = 10_000,
        max_backoff: float = 30.0,
        remember: int = 100_000,
        metrics: OperatorMetrics | None = None,
    ) -> None:
        self.sink = sink
        self.metrics = metrics
        self.capacity = capacity
        self.max_backoff = max_backoff
        self.remember = remember
        self._pending: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._written: OrderedDict[str, int] = OrderedDict()  # job id -> revision mirrored
        # job id -> when its row first fell behind (monotonic): the start of its mirror lag
        self._behind_since: dict[str, float] = {}
        self._changed = threading.Condition()
        self.behind_since: float | None = None
        self.dropped = 0
        self.failures = 0

    def offer(self, row: dict[str, Any]) -> None:
        key, revision = row["id"], row["revision"]
        with self._changed:
            if self._written.get(key, -1) >= revision:
                return
            waiting = self._pending.get(key)
            if waiting is not None and waiting["revision"] >= revision:
                return
            self._pending[key] = row
            self._pending.move_to_end(key)
            self._behind_since.setdefault(key, time.monotonic())
            if len(self._pending) > self.capacity:
                dropped, _ = self._pending.popitem(last=False)
                self._behind_since.pop(dropped, None)
                self.dropped += 1
            self._changed.notify()

    def pending(self) -> int:
        with self._changed:
            return len(self._pending)

    def _next(self, stop: threading.Event) -> dict[str, Any] | None:
        with self._changed:
            while not self._pending and not stop.is_set():
                self._changed.wait(0.5)
            if stop.is_set():
                return None
            return next(iter(self._pending.values()))

    def _written_ok(self, row: dict[str, Any]) -> None:
        with self._changed:
            key = row["id"]
            if self._pending.get(key) is row:  # else a newer row came meanwhile: still behind
                del self._pending[key]
                since = self._behind_since.pop(key, None)
                if self.metrics is not None and since is not None:
                    self.metrics.mirror_written(time.monotonic() - since)
            self._written[key] = row["revision"]
            self._written.move_to_end(key)
            if len(self._written) > self.remember:
                self._written.popitem(last=False)

    def run(self, stop: threading.Event) -> None:
        backoff = 1.0
        last_report = 0.0
        while (row := self._next(stop)) is not None:
            try:
                self.sink.write(row)
            except Exception as error:  # unreachable, timed out, refused: keep the row
                self.failures += 1
                if self.metrics is not None:
                    self.metrics.mirror_failed(failure_reason(error))
                now = time.monotonic()
                if self.behind_since is None:
                    self.behind_since = now
                if now - last_report >= 30 or last_report == 0.0:
                    last_report = now
                    log.warning(
                        "Mirror is behind: cannot write to %s (%s); %d job rows waiting, "
                        "retrying in %.0fs",
                        self.sink.describe(),
                        str(error).strip().splitlines()[0] if str(error) else type(error).__name__,
                        self.pending(),
                        backoff,
                    )
                stop.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff)
                continue
            self._written_ok(row)
            backoff = 1.0
            if self.behind_since is not None and self.pending() == 0:
                log.warning(
                    "Mirror caught up after %.0fs behind: every job row is current in %s",
                    time.monotonic() - self.behind_since,
                    self.sink.describe(),
                )
                self.behind_since = None
                last_report = 0.0

    def start(self, stop: threading.Event) -> threading.Thread:
        thread = threading.Thread(target=self.run, args=(stop,), name="mirror", daemon=True)
        thread.start()
        return thread
