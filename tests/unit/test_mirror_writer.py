"""The mirror writer: newest row per job, retried while the database is away, bounded; a row
the database refuses is set aside on its own backoff and holds up no other."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
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


class RefusingSink(FlakySink):
    """A sink whose database refuses some rows for their content, as a CHECK constraint would;
    records every try."""

    def __init__(self, refuse: set[tuple[str, int]] | None = None, times: int = 10**9) -> None:
        super().__init__()
        self.refuse = refuse or set()
        self.times = times  # refusals before it takes the row after all
        self.tries: list[tuple[str, int, float]] = []

    def write(self, row: dict[str, Any]) -> str:
        self.tries.append((row["id"], row["revision"], time.monotonic()))
        if self.up and (row["id"], row["revision"]) in self.refuse and self.times > 0:
            self.times -= 1
            raise psycopg.errors.CheckViolation(REFUSED)
        return super().write(row)


REFUSED = 'new row for relation "jobs" violates check constraint "jobs_type_check"'


def test_one_refused_row_never_holds_up_the_others(
    stop: threading.Event, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="controller.mirror")
    sink = RefusingSink({("bad", 1)})
    writer = MirrorWriter(sink, max_backoff=0.05, first_retry=0.1, max_retry=0.2)
    writer.offer(row("bad", 1))  # at the head of the queue
    for i in range(50):
        writer.offer(row(f"job-{i}", 1))
    writer.start(stop)
    wait_for(lambda: len(sink.applied) == 50, "the 50 other rows to be written", 10)
    assert sink.applied == [(f"job-{i}", 1) for i in range(50)]
    assert (writer.pending(), writer.set_aside()) == (0, 1)
    wait_for(lambda: sum(t[0] == "bad" for t in sink.tries) >= 3, "two more tries", 10)
    refused = [r for r in caplog.records if "Mirror cannot write the row of job bad" in r.message]
    assert len(refused) >= 3
    [logged] = [r for r in refused if r.levelno >= logging.WARNING]  # logged once
    assert logged.getMessage().startswith(
        "Mirror cannot write the row of job bad (OmveeJob None/None, revision 1): PostgreSQL "
        f"test refused it: {REFUSED} (SQLSTATE 23514); set aside, trying again in 0s; "
    )
    assert not any(r.getMessage().startswith("Mirror is behind") for r in caplog.records)


def test_a_refused_row_is_retried_on_its_own_backoff(
    stop: threading.Event, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="controller.mirror")
    sink = RefusingSink({("bad", 1)}, times=3)
    writer = MirrorWriter(sink, first_retry=0.2, max_retry=0.4)
    writer.offer(row("bad", 1))
    writer.start(stop)
    wait_for(lambda: sink.applied == [("bad", 1)], "the row to be taken at last", 10)
    times = [at for key, _, at in sink.tries if key == "bad"]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert len(gaps) == 3
    assert gaps[0] >= 0.2 and gaps[1] >= 0.4 and gaps[2] >= 0.4  # doubling, capped
    assert gaps[2] < 1.5
    assert caplog.records[-1].getMessage() == (
        "Mirror wrote the row of job bad after 3 refusal(s) by the database"
    )
    assert writer.set_aside() == 0


def test_a_newer_revision_replaces_a_refused_row_and_goes_at_once(stop: threading.Event) -> None:
    sink = RefusingSink({("bad", 1)})
    writer = MirrorWriter(sink, first_retry=3600)  # its own retry would come in an hour
    writer.offer(row("bad", 1))
    writer.start(stop)
    wait_for(lambda: writer.set_aside() == 1, "the row to be set aside", 10)
    writer.offer(row("bad", 1))  # the resync offers the same revision: still set aside
    writer.offer(row("bad", 2))
    wait_for(lambda: sink.applied == [("bad", 2)], "the newer row to be written", 10)
    assert (writer.pending(), writer.set_aside()) == (0, 0)
    assert [(key, revision) for key, revision, _ in sink.tries] == [("bad", 1), ("bad", 2)]


def test_set_aside_rows_filling_capacity_never_keep_a_new_row_out(stop: threading.Event) -> None:
    sink = RefusingSink({(f"bad-{i}", 1) for i in range(3)})
    writer = MirrorWriter(sink, capacity=3, first_retry=3600)  # their retries come in an hour
    for i in range(3):
        writer.offer(row(f"bad-{i}", 1))
    writer.start(stop)
    wait_for(lambda: writer.set_aside() == 3, "the three rows to be set aside", 10)
    writer.offer(row("good", 1))
    wait_for(lambda: sink.applied == [("good", 1)], "the new row to be written", 10)
    assert (writer.pending(), writer.set_aside(), writer.dropped) == (0, 2, 1)


def test_due_set_aside_rows_take_turns_with_waiting_rows(stop: threading.Event) -> None:
    sink = RefusingSink({(f"bad-{i}", 1) for i in range(3)}, times=3)  # each refused once
    writer = MirrorWriter(sink, max_backoff=0.05, first_retry=0.5)
    for i in range(3):
        writer.offer(row(f"bad-{i}", 1))
    writer.start(stop)
    wait_for(lambda: writer.set_aside() == 3, "the three rows to be set aside", 10)
    sink.up = False  # rows wait until the three retries have all fallen due, as after a restart
    for i in range(4):
        writer.offer(row(f"job-{i}", 1))
    refusals = writer._backlog._refusals  # when each set-aside row's retry falls due
    wait_for(
        lambda: (
            len(refusals) == 3 and all(r.retry_at <= time.monotonic() for r in refusals.values())
        ),
        "the three retries to fall due",
        10,
    )
    assert sink.applied == []
    sink.up = True
    wait_for(lambda: len(sink.applied) == 7, "every row to be written", 10)
    assert sink.applied == [
        ("bad-0", 1),
        ("job-0", 1),
        ("bad-1", 1),
        ("job-1", 1),
        ("bad-2", 1),
        ("job-2", 1),
        ("job-3", 1),
    ]


def test_while_unavailable_rows_wait_in_order_and_none_is_set_aside(
    stop: threading.Event,
) -> None:
    sink = RefusingSink()
    sink.up = False
    writer = MirrorWriter(sink, max_backoff=0.05)
    for i in range(3):
        writer.offer(row(f"job-{i}", 1))
    writer.start(stop)
    wait_for(lambda: writer.failures >= 4, "a few failed attempts", 10)
    assert {key for key, _, _ in sink.tries} == {"job-0"}  # the head waits; nothing skips it
    assert (writer.pending(), writer.set_aside()) == (3, 0)
    sink.up = True
    wait_for(lambda: writer.pending() == 0, "the rows to be written", 10)
    assert sink.applied == [("job-0", 1), ("job-1", 1), ("job-2", 1)]


def test_what_the_database_cannot_store_is_replaced_and_said(
    stop: threading.Event, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="controller.mirror")
    written: list[dict[str, Any]] = []
    sink = FlakySink()
    sink.write = lambda r: written.append(r) or "updated"  # type: ignore[method-assign]
    writer = MirrorWriter(sink)
    bad = {"audioUrl": "https://example.org/a\x00b.wav"}
    writer.offer({"id": "j", "revision": 1, "input": bad, "message": None})
    writer.offer({"id": "j", "revision": 2, "input": bad, "message": "ok"})  # the same places
    writer.start(stop)
    wait_for(lambda: writer.pending() == 0, "the row to be written", 10)
    assert written[-1]["input"] == {"audioUrl": "https://example.org/a\ufffdb.wav"}
    [said] = [r.getMessage() for r in caplog.records]  # once for the job
    assert said == (
        "Mirror row of job j (OmveeJob None/None): replaced characters PostgreSQL cannot store "
        "(U+0000, unpaired surrogates) with U+FFFD in input.audioUrl"
    )


class BatchingSink(RefusingSink):
    """RefusingSink with ``write_many``: all or none, one round trip per call, as the
    PostgreSQL sink's one statement."""

    def __init__(self, refuse: set[tuple[str, int]] | None = None) -> None:
        super().__init__(refuse)
        self.batches: list[int] = []  # rows per write_many call

    def write_many(self, rows: list[dict[str, Any]]) -> list[str]:
        self.batches.append(len(rows))
        if self.up and any((r["id"], r["revision"]) in self.refuse for r in rows):
            raise psycopg.errors.CheckViolation(REFUSED)
        return [FlakySink.write(self, r) for r in rows]


def test_waiting_rows_go_in_batches_in_order(stop: threading.Event) -> None:
    sink = BatchingSink()
    writer = MirrorWriter(sink, batch_size=200)
    for i in range(500):
        writer.offer(row(f"job-{i}", 1))
    writer.start(stop)
    wait_for(lambda: len(sink.applied) == 500, "the 500 rows to be written", 10)
    assert sink.applied == [(f"job-{i}", 1) for i in range(500)]
    assert sink.batches == [200, 200, 100]
    assert sink.tries == []  # no row went alone


def test_a_refused_row_in_a_batch_is_found_and_set_aside_alone(
    stop: threading.Event, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="controller.mirror")
    sink = BatchingSink({("bad", 1)})
    writer = MirrorWriter(sink, batch_size=200, first_retry=60, max_retry=60)
    for i in range(100):
        writer.offer(row(f"job-{i}", 1))
    writer.offer(row("bad", 1))  # in the middle of the first batch
    for i in range(100, 300):
        writer.offer(row(f"job-{i}", 1))
    writer.start(stop)
    wait_for(lambda: len(sink.applied) == 300, "the 300 other rows to be written", 10)
    assert sorted(sink.applied) == sorted((f"job-{i}", 1) for i in range(300))
    assert (writer.pending(), writer.set_aside(), writer.failures) == (0, 1, 1)
    assert [t[0] for t in sink.tries].count("bad") == 1  # alone, once
    [logged] = [r for r in caplog.records if "Mirror cannot write the row of job bad" in r.message]
    assert "set aside" in logged.getMessage()
