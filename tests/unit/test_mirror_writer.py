"""The mirror writer: newest row per job, retried while the database is away, bounded."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from controller.mirror.writer import MirrorWriter
from tests.waiting import wait_for


class FlakySink:
    """A sink whose database can be switched off; records what it applied."""

    def __init__(self) -> None:
        self.up = True
        self.applied: list[tuple[str, int]] = []

    def write(self, row: dict[str, Any]) -> str:
        if not self.up:
            raise ConnectionError("connection refused")
        self.applied.append((row["id"], row["revision"]))
        return "updated"

    def describe(self) -> str:
        return "PostgreSQL test"


def row(key: str, revision: int) -> dict[str, Any]:
    return {"id": key, "revision": revision}


@pytest.fixture
def stop() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


def test_only_the_newest_row_of_a_job_is_written(stop: threading.Event) -> None:
    sink = FlakySink()
    sink.up = False
    writer = MirrorWriter(sink, max_backoff=0.05)
    for revision in (3, 1, 5, 4):
        writer.offer(row("a", revision))
    writer.offer(row("b", 1))
    assert writer.pending() == 2
    writer.start(stop)
    sink.up = True
    wait_for(lambda: writer.pending() == 0, "the rows to be written", 10)
    assert sorted(sink.applied) == [("a", 5), ("b", 1)]
    writer.offer(row("a", 5))  # already written: skipped
    writer.offer(row("a", 2))  # older than what was written: skipped
    assert writer.pending() == 0


def test_outage_is_logged_as_behind_then_caught_up(
    stop: threading.Event, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="controller.mirror")
    sink = FlakySink()
    sink.up = False
    writer = MirrorWriter(sink, max_backoff=0.05)
    writer.start(stop)
    writer.offer(row("a", 1))
    wait_for(lambda: writer.failures >= 3, "a few failed attempts", 10)
    assert writer.behind_since is not None
    sink.up = True
    wait_for(lambda: writer.behind_since is None, "the mirror to catch up", 10)
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0].startswith(
        "Mirror is behind: cannot write to PostgreSQL test (connection refused); 1 job rows waiting"
    )
    assert messages[-1].startswith("Mirror caught up after ")
    assert sink.applied == [("a", 1)]


def test_memory_is_bounded_by_capacity() -> None:
    writer = MirrorWriter(FlakySink(), capacity=3)
    for i in range(10):
        writer.offer(row(f"job-{i}", 1))
    assert writer.pending() == 3
    assert writer.dropped == 7
